//! # DeltaFifo: a queue of per-key change lists
//!
//! A [`DeltaFifo`] sits between a [`Reflector`](informer_core::Reflector) and a consumer. The
//! reflector writes to it as to any [`Store`](informer_core::Store); the consumer pops, one key at a time, *every*
//! change that happened to that key since it was last popped ([`Deltas`]). Unlike a cache it
//! keeps deletions, so a consumer learns about objects that are gone, and unlike a plain
//! event channel it merges all changes of one key into one entry, so a busy key costs one
//! slot in the queue, not one per change.
//!
//! It is client-go's `DeltaFIFO` with three corrections:
//!
//! * the pop handler runs **without** the queue lock held: a slow handler no longer blocks
//!   the reflector (client-go held the lock during `Process`, kubernetes #103789);
//! * a failed handler's deltas are **not** requeued (client-go dropped `AddIfNotPresent`
//!   requeueing in 2025: replaying old deltas after newer ones moves the cache back in time);
//!   the handler's result goes to the caller of `pop`, and retries belong to a
//!   [`WorkQueue`](crate::WorkQueue);
//! * a relist can be queued as **one** atomic [`ReplacedAll`] event instead of one delta per
//!   object ([`DeltaFifoOptions::atomic_replace`]), like client-go's `RealFIFO`.
//!
//! ```
//! use std::sync::Arc;
//! use informer_core::{KeyFn, ObjectKey, Store, Version};
//! use informer_stores::{Delta, DeltaFifo, Popped};
//!
//! let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(&s[..1])));
//! let fifo = DeltaFifo::new(key_fn);
//! fifo.add(Arc::new("a1".to_string())).unwrap();
//! fifo.add(Arc::new("b1".to_string())).unwrap();
//! fifo.update(Arc::new("a2".to_string())).unwrap();
//!
//! // `a` was queued first, and both of its changes come out together.
//! let kinds = fifo
//!     .try_pop(|popped| match popped {
//!         Popped::Deltas(d) => d.deltas.iter().map(|d| d.kind()).collect::<Vec<_>>(),
//!         Popped::ReplacedAll(_) => vec![],
//!     })
//!     .unwrap()
//!     .unwrap();
//! assert_eq!(kinds, vec![informer_stores::DeltaKind::Added, informer_stores::DeltaKind::Updated]);
//! assert_eq!(fifo.list_keys(), vec![ObjectKey::from("b")]);
//! ```

mod delta;
mod options;
mod queue;
mod store;
pub(crate) mod wake;

pub use delta::{Deletion, Delta, DeltaKind, Deltas, Popped, ReplacedAll};
pub use options::{Capacity, DeltaFifoOptions, QueueStats};
pub use queue::DeltaFifo;

/// A pop on a closed, empty queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{queue} is closed and empty")]
pub struct QueueClosed {
    /// The queue's name (see [`DeltaFifoOptions::name`]).
    pub queue: String,
}

#[cfg(test)]
mod tests;

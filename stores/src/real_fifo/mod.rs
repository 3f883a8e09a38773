//! # RealFifo: every change, in the order it happened
//!
//! A [`RealFifo`] sits where a [`DeltaFifo`](crate::DeltaFifo) sits, between a
//! [`Reflector`](informer_core::Reflector) and a consumer, and hands out the same
//! [`Popped`](crate::Popped) entries, so one pop handler serves both queues. The difference is
//! what an entry holds:
//!
//! | | [`DeltaFifo`](crate::DeltaFifo) | [`RealFifo`] |
//! | --- | --- | --- |
//! | an entry | every queued change of one key ([`Deltas`](crate::Deltas) with 1..n deltas) | one change (`Deltas` with exactly one delta) |
//! | order across keys | the order keys were *first* queued: `a1, b1, a2` pops as `a[1, 2], b1` | the order changes happened: `a1, b1, a2` pops as `a1, b1, a2` |
//! | a relist | one delta per object plus deletions, or one [`ReplacedAll`](crate::ReplacedAll) that drops what was queued ([atomic replace](crate::DeltaFifoOptions::atomic_replace)) | one `ReplacedAll`, queued *after* what was queued: nothing is dropped |
//! | length | at most the number of keys (plus recent deletions) | the number of changes not yet popped: unbounded unless [`Capacity`](crate::Capacity) bounds it |
//! | concurrent poppers | different keys are handled in parallel | one handler at a time (the order is the point) |
//!
//! Choose a `RealFifo` (client-go's informer default since 1.36) when the consumer must see
//! the collection pass through the states the source went through: the store it keeps is,
//! after every pop, the source's state at some version, and handlers see causally related
//! changes to different objects (a pod created after its config map) in that order, each
//! update with its own old and new object. Choose a `DeltaFifo` when only the newest state
//! per object matters and a busy key must not cost one slot per change: its memory is
//! bounded by the collection, a `RealFifo`'s by how far the consumer lags, so bound the
//! latter with a [`Capacity`](crate::Capacity) and let the reflector wait on
//! [`Store::poll_ready`](informer_core::Store::poll_ready).
//!
//! ```
//! use std::sync::Arc;
//! use informer_core::{KeyFn, ObjectKey, Store};
//! use informer_stores::{Popped, RealFifo};
//!
//! let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(&s[..1])));
//! let fifo = RealFifo::new(key_fn);
//! fifo.add(Arc::new("a1".to_string())).unwrap();
//! fifo.add(Arc::new("b1".to_string())).unwrap();
//! fifo.update(Arc::new("a2".to_string())).unwrap();
//!
//! // Each change comes out on its own, in the order it was queued.
//! let mut popped = Vec::new();
//! while let Some(object) = fifo
//!     .try_pop(|p| match p {
//!         Popped::Deltas(d) => d.deltas[0].object().map(|o| o.to_string()),
//!         Popped::ReplacedAll(_) => None,
//!     })
//!     .unwrap()
//! {
//!     popped.extend(object);
//! }
//! assert_eq!(popped, ["a1", "b1", "a2"]);
//! ```

mod options;
mod queue;
mod store;

pub use options::RealFifoOptions;
pub use queue::RealFifo;

#[cfg(test)]
mod tests;

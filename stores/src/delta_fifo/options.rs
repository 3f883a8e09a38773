//! Options and counters of a [`DeltaFifo`](super::DeltaFifo).

/// How a [`DeltaFifo`](super::DeltaFifo), a [`RealFifo`](crate::RealFifo) or a
/// [`Fifo`](crate::Fifo) behaves when many entries are queued.
///
/// A `DeltaFifo` and a `Fifo` queue one entry per key (plus one per pending atomic replace);
/// a `RealFifo` queues one entry per change, so the same `n` means "keys" for the first two
/// and "changes" for the last.
///
/// The reflector calls a store synchronously from its async task, so a full queue can neither
/// block (it would stall the runtime thread) nor wait inside a change (the `Store` trait is
/// not async). The queue therefore offers two non-blocking policies:
///
/// * [`Capacity::Soft`] accepts everything and counts every change accepted past the limit
///   ([`QueueStats::over_capacity`]); use it to alert on a consumer that falls behind
///   without ever losing a change. Note that a delta FIFO holds at most one entry per key, so
///   its length is bounded by the size of the collection plus recent deletions anyway; a
///   `RealFifo`'s length is not bounded at all.
/// * [`Capacity::Reject`] refuses a change while `n` entries are queued, with
///   [`StoreError::Full`](informer_core::StoreError::Full). A `DeltaFifo` and a `Fifo` still
///   accept changes to keys already queued (they take no new slot); a `RealFifo` takes a
///   batch ([`Store::apply_batch`](informer_core::Store::apply_batch)) whole when fewer than
///   `n` entries are queued as it arrives, and refuses it whole otherwise. `replace` is
///   always accepted whole (refusing part of a relist would corrupt the mirror). A producer
///   that ignores back-pressure (below) and calls a full `Reject` queue sees `Full`; a
///   reflector then records the refusal and relists to repair the mirror.
///
/// # Back-pressure
///
/// A `DeltaFifo` and a `RealFifo` with a `Soft(n)` or `Reject(n)` capacity also implement
/// [`Store::poll_ready`](informer_core::Store::poll_ready): it is `Pending` while `n` or more
/// entries are queued (and the queue is open), and the pop that brings the queue below `n`
/// wakes the waiting task. The reflector waits for `poll_ready` before each watch batch, so a
/// full queue stops the watch (the source's flow control holds the server back) instead of
/// growing. With a reflector in front, a queue passes `n` only by the batch accepted last and
/// by relists and resyncs (which do not wait), and a `RealFifo` under `Reject(n)` refuses no
/// watch batch (a `DeltaFifo` still refuses the new keys of a batch that crosses `n`).
/// `Unbounded` is always ready, and so is a [`Fifo`](crate::Fifo) whatever its capacity.
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
/// use informer_core::{KeyFn, ObjectKey, Store};
/// use informer_stores::{Capacity, DeltaFifo, DeltaFifoOptions};
///
/// let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
/// let fifo = DeltaFifo::with_options(key_fn, DeltaFifoOptions::default().with_capacity(Capacity::Soft(1)));
/// let waker = futures::task::noop_waker();
/// let mut cx = Context::from_waker(&waker);
/// assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()));
/// fifo.add(Arc::new("a".to_string())).unwrap();
/// assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending); // full: the reflector waits
/// fifo.try_pop(|_| ()).unwrap();
/// assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capacity {
    /// No limit (client-go's behaviour).
    #[default]
    Unbounded,
    /// Accept everything; count changes that leave more than `n` entries queued.
    Soft(usize),
    /// Refuse a change that needs a new entry while `n` entries are queued.
    Reject(usize),
}

impl Capacity {
    /// The limit `n` of a bounded policy.
    pub(crate) fn limit(self) -> Option<usize> {
        match self {
            Capacity::Unbounded => None,
            Capacity::Soft(limit) | Capacity::Reject(limit) => Some(limit),
        }
    }
}

/// Options of a [`DeltaFifo`](super::DeltaFifo).
#[derive(Debug, Clone)]
#[must_use]
pub struct DeltaFifoOptions {
    /// The name used in errors and logs. Default `DeltaFifo`.
    pub name: String,
    /// Queue relist items as [`Delta::Replaced`](super::Delta::Replaced) (true, the default)
    /// or as [`Delta::Sync`](super::Delta::Sync) (client-go before `EmitDeltaTypeReplaced`).
    pub emit_replaced: bool,
    /// Queue a `replace` as one [`ReplacedAll`](super::ReplacedAll) entry that supersedes
    /// everything queued before it, instead of one delta per object plus deletions. Default
    /// false.
    pub atomic_replace: bool,
    /// The capacity policy. Default unbounded.
    pub capacity: Capacity,
}

impl Default for DeltaFifoOptions {
    fn default() -> Self {
        Self {
            name: "DeltaFifo".to_string(),
            emit_replaced: true,
            atomic_replace: false,
            capacity: Capacity::Unbounded,
        }
    }
}

impl DeltaFifoOptions {
    /// Sets [`name`](Self::name).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`emit_replaced`](Self::emit_replaced).
    pub fn with_emit_replaced(mut self, emit_replaced: bool) -> Self {
        self.emit_replaced = emit_replaced;
        self
    }

    /// Sets [`atomic_replace`](Self::atomic_replace).
    pub fn with_atomic_replace(mut self, atomic_replace: bool) -> Self {
        self.atomic_replace = atomic_replace;
        self
    }

    /// Sets [`capacity`](Self::capacity).
    pub fn with_capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = capacity;
        self
    }
}

/// Counters of a [`DeltaFifo`](super::DeltaFifo), [`RealFifo`](crate::RealFifo) or
/// [`Fifo`](crate::Fifo), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries queued now (keys, plus pending atomic replaces; for a `RealFifo`, changes
    /// plus pending replaces).
    pub queued: usize,
    /// Changes accepted since creation (a `DeltaFifo` counts deltas after collapsing
    /// duplicate deletes; a `Fifo` counts adds and updates; a `RealFifo` counts entries, a
    /// replace as one).
    pub changes: u64,
    /// Entries handed to pop handlers.
    pub popped: u64,
    /// Changes accepted that left more entries queued than the [`Capacity`] limit.
    pub over_capacity: u64,
    /// Changes refused with `Full` under [`Capacity::Reject`].
    pub rejected: u64,
}

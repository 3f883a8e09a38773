//! Options and counters of a [`DeltaFifo`](super::DeltaFifo).

/// How a [`DeltaFifo`](super::DeltaFifo) or a [`Fifo`](crate::Fifo) behaves when many keys
/// are queued.
///
/// The reflector calls a store synchronously from its async task, so a full queue can neither
/// block (it would stall the runtime thread) nor wait (the `Store` trait is not async). The
/// queue therefore offers two non-blocking policies:
///
/// * [`Capacity::Soft`] accepts everything and counts every change accepted past the limit
///   ([`QueueStats::over_capacity`]); use it to alert on a consumer that falls behind
///   without ever losing a change. Note that a delta FIFO holds at most one entry per key, so
///   its length is bounded by the size of the collection plus recent deletions anyway.
/// * [`Capacity::Reject`] refuses a change to a key that is *not yet queued* while `n` keys
///   are queued, with [`StoreError::Full`](informer_core::StoreError::Full). Changes to keys
///   already queued are still accepted (they take no new slot), and `replace` is always
///   accepted whole (refusing part of a relist would corrupt the mirror). A reflector logs
///   and skips a refused event, so the consumer's view diverges until the next relist: use
///   `Reject` only when the producer handles `Full` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capacity {
    /// No limit (client-go's behaviour).
    #[default]
    Unbounded,
    /// Accept everything; count changes accepted while more than `n` keys are queued.
    Soft(usize),
    /// Refuse a change to a new key while `n` keys are queued.
    Reject(usize),
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

/// Counters of a [`DeltaFifo`](super::DeltaFifo) or [`Fifo`](crate::Fifo), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries queued now (keys, plus pending atomic replaces).
    pub queued: usize,
    /// Changes accepted since creation (a `DeltaFifo` counts deltas after collapsing
    /// duplicate deletes; a `Fifo` counts adds and updates).
    pub changes: u64,
    /// Entries handed to pop handlers.
    pub popped: u64,
    /// Changes accepted while more keys than a [`Capacity::Soft`] limit were queued.
    pub over_capacity: u64,
    /// Changes refused with `Full` under [`Capacity::Reject`].
    pub rejected: u64,
}

//! Counters a reflector keeps, readable at any time without locking.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one reflector. Read them through [`ReflectorHandle::metrics`]
/// (crate::ReflectorHandle::metrics), which returns a [`MetricsSnapshot`].
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) lists: AtomicU64,
    pub(crate) list_pages: AtomicU64,
    pub(crate) watches: AtomicU64,
    pub(crate) added: AtomicU64,
    pub(crate) modified: AtomicU64,
    pub(crate) deleted: AtomicU64,
    pub(crate) bookmarks: AtomicU64,
    pub(crate) relists: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) store_repairs: AtomicU64,
    pub(crate) stream_fallbacks: AtomicU64,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            lists: get(&self.lists),
            list_pages: get(&self.list_pages),
            watches: get(&self.watches),
            events_added: get(&self.added),
            events_modified: get(&self.modified),
            events_deleted: get(&self.deleted),
            bookmarks: get(&self.bookmarks),
            relists: get(&self.relists),
            errors: get(&self.errors),
            store_errors: get(&self.store_errors),
            resyncs: get(&self.resyncs),
            store_repairs: get(&self.store_repairs),
            stream_fallbacks: get(&self.stream_fallbacks),
        }
    }
}

/// A point-in-time copy of a reflector's counters.
///
/// ```
/// let m = informer_core::MetricsSnapshot::default();
/// assert_eq!(m.events_total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Complete lists started (the first one and every relist; a paged list counts once).
    pub lists: u64,
    /// List requests sent (one per page).
    pub list_pages: u64,
    /// Watch requests sent (including streaming lists).
    pub watches: u64,
    /// `Added` events applied.
    pub events_added: u64,
    /// `Modified` events applied.
    pub events_modified: u64,
    /// `Deleted` events applied.
    pub events_deleted: u64,
    /// Bookmarks received.
    pub bookmarks: u64,
    /// Lists after the first one (after an expired version).
    pub relists: u64,
    /// Errors from the source (every kind).
    pub errors: u64,
    /// Store operations that failed (logged, recorded in the sync state, repaired by a relist).
    pub store_errors: u64,
    /// Resyncs performed.
    pub resyncs: u64,
    /// Relists started to repair a change the store refused.
    pub store_repairs: u64,
    /// Streaming lists dropped for a paged list: the source does not support them, or one
    /// stalled before its end bookmark.
    pub stream_fallbacks: u64,
}

impl MetricsSnapshot {
    /// Added + modified + deleted events.
    pub fn events_total(&self) -> u64 {
        self.events_added + self.events_modified + self.events_deleted
    }
}

//! Counters a reflector keeps, readable at any time without locking, and recorded through the
//! [`metrics`] facade under the names in [`crate::telemetry`].
//!
//! Each counter is a [`Count`]: the atomic behind [`MetricsSnapshot`] and a [`metrics::Counter`]
//! handle registered once, when the reflector is built, with the reflector's `name` label. So a
//! call site stays `Metrics::inc(&self.metrics().lists)`, and recording without a recorder
//! installed costs one branch on a no-op handle.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram, Label};

use crate::source::ErrorKind;
use crate::telemetry::{
    LABEL_KIND, LABEL_NAME, LABEL_TYPE, REFLECTOR_ERRORS, REFLECTOR_EVENTS, REFLECTOR_LAST_EVENT,
    REFLECTOR_LIST_DURATION, REFLECTOR_LIST_PAGES, REFLECTOR_LISTS, REFLECTOR_RELISTS, REFLECTOR_RESYNCS,
    REFLECTOR_STORE_ERRORS, REFLECTOR_STORE_REPAIRS, REFLECTOR_STREAM_FALLBACKS, REFLECTOR_SYNCED, REFLECTOR_WATCHES,
};

/// One counter: the atomic behind [`MetricsSnapshot`] and its registered series.
#[derive(Debug)]
pub(crate) struct Count {
    value: AtomicU64,
    series: Counter,
}

impl Count {
    fn register(metric: &'static str, labels: Vec<Label>) -> Self {
        Self { value: AtomicU64::new(0), series: metrics::counter!(metric, labels) }
    }

    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The source error kinds in the order of [`Metrics::errors_by_kind`].
const ERROR_KINDS: [ErrorKind; 5] =
    [ErrorKind::Expired, ErrorKind::Transient, ErrorKind::Malformed, ErrorKind::Unsupported, ErrorKind::Permanent];

/// Live counters of one reflector. Read them through [`ReflectorHandle::metrics`]
/// (crate::ReflectorHandle::metrics), which returns a [`MetricsSnapshot`].
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) lists: Count,
    pub(crate) list_pages: Count,
    pub(crate) watches: Count,
    pub(crate) added: Count,
    pub(crate) modified: Count,
    pub(crate) deleted: Count,
    pub(crate) bookmarks: Count,
    pub(crate) relists: Count,
    pub(crate) store_errors: Count,
    pub(crate) resyncs: Count,
    pub(crate) store_repairs: Count,
    pub(crate) stream_fallbacks: Count,
    errors: AtomicU64,
    errors_by_kind: [Counter; ERROR_KINDS.len()],
    list_duration: Histogram,
    list_started: Mutex<Option<Instant>>,
    last_event: Gauge,
    synced: Gauge,
}

impl Metrics {
    /// Registers every series of a reflector labelled `name`.
    pub(crate) fn new(name: &str) -> Self {
        let labels = || vec![Label::new(LABEL_NAME, name.to_string())];
        let labelled = |key: &'static str, value: &'static str| {
            let mut labels = labels();
            labels.push(Label::new(key, value));
            labels
        };
        let event = |kind: &'static str| Count::register(REFLECTOR_EVENTS, labelled(LABEL_TYPE, kind));
        let metrics = Self {
            lists: Count::register(REFLECTOR_LISTS, labels()),
            list_pages: Count::register(REFLECTOR_LIST_PAGES, labels()),
            watches: Count::register(REFLECTOR_WATCHES, labels()),
            added: event("added"),
            modified: event("modified"),
            deleted: event("deleted"),
            bookmarks: event("bookmark"),
            relists: Count::register(REFLECTOR_RELISTS, labels()),
            store_errors: Count::register(REFLECTOR_STORE_ERRORS, labels()),
            resyncs: Count::register(REFLECTOR_RESYNCS, labels()),
            store_repairs: Count::register(REFLECTOR_STORE_REPAIRS, labels()),
            stream_fallbacks: Count::register(REFLECTOR_STREAM_FALLBACKS, labels()),
            errors: AtomicU64::new(0),
            errors_by_kind: ERROR_KINDS.map(|kind| {
                let mut labels = labels();
                labels.push(Label::new(LABEL_KIND, kind.to_string()));
                metrics::counter!(REFLECTOR_ERRORS, labels)
            }),
            list_duration: metrics::histogram!(REFLECTOR_LIST_DURATION, labels()),
            list_started: Mutex::new(None),
            last_event: metrics::gauge!(REFLECTOR_LAST_EVENT, labels()),
            synced: metrics::gauge!(REFLECTOR_SYNCED, labels()),
        };
        metrics.synced.set(0.0);
        metrics
    }

    pub(crate) fn inc(counter: &Count) {
        counter.value.fetch_add(1, Ordering::Relaxed);
        counter.series.increment(1);
    }

    /// A source error of `kind`.
    pub(crate) fn source_error(&self, kind: ErrorKind) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.errors_by_kind[i].increment(1);
        }
    }

    /// A complete list starts (counted in `lists`); its duration ends at [`Metrics::listed`].
    pub(crate) fn list_started(&self) {
        Self::inc(&self.lists);
        *self.list_started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// The list is in the store: record its duration and that the reflector is synced.
    pub(crate) fn listed(&self) {
        if let Some(started) = self.list_started.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.list_duration.record(started.elapsed().as_secs_f64());
        }
        self.synced.set(1.0);
    }

    /// Watch events were applied now.
    pub(crate) fn events_applied(&self) {
        if let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) {
            self.last_event.set(since_epoch.as_secs_f64());
        }
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            lists: self.lists.get(),
            list_pages: self.list_pages.get(),
            watches: self.watches.get(),
            events_added: self.added.get(),
            events_modified: self.modified.get(),
            events_deleted: self.deleted.get(),
            bookmarks: self.bookmarks.get(),
            relists: self.relists.get(),
            errors: self.errors.load(Ordering::Relaxed),
            store_errors: self.store_errors.get(),
            resyncs: self.resyncs.get(),
            store_repairs: self.store_repairs.get(),
            stream_fallbacks: self.stream_fallbacks.get(),
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

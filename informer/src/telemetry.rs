//! # Metrics: every name in one table
//!
//! The library records through the [`metrics`](https://docs.rs/metrics) facade crate: nothing
//! is exported until the program installs a recorder (for Prometheus,
//! `metrics-exporter-prometheus`, as the `informer` command does with `--metrics ADDR`), and
//! without one recording costs a branch per update. Install the recorder **before** building
//! reflectors, stores and queues: each registers its series once, when it is built or named.
//!
//! Every series has the label `name`: a reflector's [`ReflectorConfig::with_name`](crate::ReflectorConfig::with_name)
//! (default: its source's description, e.g. `etcd 127.0.0.1:2379 /app/`); a store's or work
//! queue's `with_name` (unnamed stores and work queues record nothing, as in client-go); a
//! [`DeltaFifo`](crate::DeltaFifo)'s [`DeltaFifoOptions::with_name`](crate::DeltaFifoOptions::with_name).
//! The work queue uses client-go's names, so its dashboards and alerts work unchanged.
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `informer_reflector_lists_total` | counter | `name` | complete lists started (a paged list counts once) |
//! | `informer_reflector_list_pages_total` | counter | `name` | list requests sent (one per page) |
//! | `informer_reflector_watches_total` | counter | `name` | watch requests sent (streaming lists included) |
//! | `informer_reflector_events_total` | counter | `name`, `type` | watch events applied: `added`, `modified`, `deleted`, `bookmark` |
//! | `informer_reflector_relists_total` | counter | `name` | lists after the first one (after an expired version) |
//! | `informer_reflector_errors_total` | counter | `name`, `kind` | source errors: `expired`, `transient`, `malformed`, `unsupported`, `permanent` |
//! | `informer_reflector_store_errors_total` | counter | `name` | store operations that failed (logged, in the sync state, repaired by a relist) |
//! | `informer_reflector_store_repairs_total` | counter | `name` | relists started to repair a change the store refused |
//! | `informer_reflector_stream_fallbacks_total` | counter | `name` | streaming lists dropped for paged lists (unsupported, or stalled) |
//! | `informer_reflector_resyncs_total` | counter | `name` | resyncs performed |
//! | `informer_reflector_list_duration_seconds` | histogram | `name` | from a list's first request to the store holding it |
//! | `informer_reflector_last_event_timestamp_seconds` | gauge | `name` | Unix time of the last event applied; time since: `time() - …` |
//! | `informer_reflector_synced` | gauge | `name` | 1 once the first list is in the store, else 0 |
//! | `informer_reflector_sync_failing` | gauge | `name`, `kind` | 1 while the sync state fails for reason `kind` (`forbidden`, `unavailable`, ...), else 0 |
//! | `informer_store_objects` | gauge | `name` | objects in a named `Cache` or `Indexer` |
//! | `informer_store_index_values` | gauge | `name`, `index` | distinct values of one index of a named `Indexer` |
//! | `informer_queue_depth` | gauge | `name` | entries queued in a `DeltaFifo` (keys) or a `RealFifo` (changes) |
//! | `informer_queue_adds_total` | counter | `name` | changes a `DeltaFifo` or `RealFifo` accepted |
//! | `informer_subscriber_depth` | gauge | `name`, `subscriber` | events queued for a named informer subscription |
//! | `informer_subscriber_dropped_events_total` | counter | `name`, `subscriber` | events dropped for a named `DropAndResync` subscription (its keys are resynced) |
//! | `workqueue_depth` | gauge | `name` | keys queued in a named `WorkQueue` |
//! | `workqueue_adds_total` | counter | `name` | keys added (after de-duplication) |
//! | `workqueue_queue_duration_seconds` | histogram | `name` | time a key waited before `get` took it |
//! | `workqueue_work_duration_seconds` | histogram | `name` | time from `get` to `done` |
//! | `workqueue_retries_total` | counter | `name` | rate-limited adds |
//! | `workqueue_unfinished_work_seconds` | gauge | `name` | work in progress not yet done, summed over keys (every 500 ms) |
//! | `workqueue_longest_running_processor_seconds` | gauge | `name` | how long the longest-running key has been processed |
//!
//! Shard ownership (`informer-shards`) records four more, labelled by `group` and `member`
//! instead of `name`: `informer_shards_owned`, `informer_shard_acquired_total`,
//! `informer_shard_released_total` and `informer_shard_lease_lost_total` (see that crate).
//!
//! The constants below hold the same names, for code that reads or filters them.

pub use informer_core::telemetry::*;
pub use informer_stores::telemetry::*;

/// The kind of a metric, as the table above says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution of observed values (seconds here).
    Histogram,
}

/// Every metric the library records, with its kind: the table above as data.
///
/// ```
/// use informer::telemetry::{METRICS, Kind};
/// assert!(METRICS.contains(&("workqueue_depth", Kind::Gauge)));
/// ```
pub const METRICS: &[(&str, Kind)] = &[
    (REFLECTOR_LISTS, Kind::Counter),
    (REFLECTOR_LIST_PAGES, Kind::Counter),
    (REFLECTOR_WATCHES, Kind::Counter),
    (REFLECTOR_EVENTS, Kind::Counter),
    (REFLECTOR_RELISTS, Kind::Counter),
    (REFLECTOR_ERRORS, Kind::Counter),
    (REFLECTOR_STORE_ERRORS, Kind::Counter),
    (REFLECTOR_STORE_REPAIRS, Kind::Counter),
    (REFLECTOR_STREAM_FALLBACKS, Kind::Counter),
    (REFLECTOR_RESYNCS, Kind::Counter),
    (REFLECTOR_LIST_DURATION, Kind::Histogram),
    (REFLECTOR_LAST_EVENT, Kind::Gauge),
    (REFLECTOR_SYNCED, Kind::Gauge),
    (REFLECTOR_SYNC_FAILING, Kind::Gauge),
    (STORE_OBJECTS, Kind::Gauge),
    (STORE_INDEX_VALUES, Kind::Gauge),
    (QUEUE_DEPTH, Kind::Gauge),
    (QUEUE_ADDS, Kind::Counter),
    (SUBSCRIBER_DEPTH, Kind::Gauge),
    (SUBSCRIBER_DROPPED, Kind::Counter),
    (WORKQUEUE_DEPTH, Kind::Gauge),
    (WORKQUEUE_ADDS, Kind::Counter),
    (WORKQUEUE_QUEUE_DURATION, Kind::Histogram),
    (WORKQUEUE_WORK_DURATION, Kind::Histogram),
    (WORKQUEUE_RETRIES, Kind::Counter),
    (WORKQUEUE_UNFINISHED_WORK, Kind::Gauge),
    (WORKQUEUE_LONGEST_RUNNING, Kind::Gauge),
];

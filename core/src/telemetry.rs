//! The names of the metrics a [`Reflector`](crate::Reflector) records.
//!
//! Recording goes through the [`metrics`] facade: it costs a branch per update until a program
//! installs a recorder (an exporter, e.g. `metrics-exporter-prometheus`), and the recorder must
//! be installed *before* the reflector is created, since each series is registered once when the
//! reflector is built. Every series carries the label [`LABEL_NAME`]: the reflector's
//! [`ReflectorConfig::name`](crate::ReflectorConfig::name), or else its source's description.
//! The one table of every metric name of the project is in the `informer` crate's `telemetry`
//! module.

/// The label every series carries: which reflector (or store, or queue) recorded it.
pub const LABEL_NAME: &str = "name";
/// The label of [`REFLECTOR_EVENTS`]: `added`, `modified`, `deleted` or `bookmark`.
pub const LABEL_TYPE: &str = "type";
/// The label of [`REFLECTOR_ERRORS`]: the [`ErrorKind`](crate::ErrorKind) (`expired`,
/// `transient`, `malformed`, `unsupported`, `permanent`).
pub const LABEL_KIND: &str = "kind";

/// Counter: complete lists started (the first one and every relist; a paged list counts once).
pub const REFLECTOR_LISTS: &str = "informer_reflector_lists_total";
/// Counter: list requests sent (one per page).
pub const REFLECTOR_LIST_PAGES: &str = "informer_reflector_list_pages_total";
/// Counter: watch requests sent (including streaming lists).
pub const REFLECTOR_WATCHES: &str = "informer_reflector_watches_total";
/// Counter: watch events applied, by [`LABEL_TYPE`].
pub const REFLECTOR_EVENTS: &str = "informer_reflector_events_total";
/// Counter: lists after the first one (after an expired version).
pub const REFLECTOR_RELISTS: &str = "informer_reflector_relists_total";
/// Counter: errors from the source, by [`LABEL_KIND`].
pub const REFLECTOR_ERRORS: &str = "informer_reflector_errors_total";
/// Counter: store operations that failed (logged, recorded in the sync state, repaired by a
/// relist).
pub const REFLECTOR_STORE_ERRORS: &str = "informer_reflector_store_errors_total";
/// Counter: relists started to repair a change the store refused (see the `Store` contract).
pub const REFLECTOR_STORE_REPAIRS: &str = "informer_reflector_store_repairs_total";
/// Counter: streaming lists dropped for a paged list (unsupported, or stalled before their end
/// bookmark).
pub const REFLECTOR_STREAM_FALLBACKS: &str = "informer_reflector_stream_fallbacks_total";
/// Counter: resyncs performed.
pub const REFLECTOR_RESYNCS: &str = "informer_reflector_resyncs_total";
/// Histogram: seconds from the start of a list (its first page) to the store holding it.
pub const REFLECTOR_LIST_DURATION: &str = "informer_reflector_list_duration_seconds";
/// Gauge: Unix time in seconds of the last watch event applied (time since the last event is
/// `time() - informer_reflector_last_event_timestamp_seconds` in PromQL).
pub const REFLECTOR_LAST_EVENT: &str = "informer_reflector_last_event_timestamp_seconds";
/// Gauge: 1 once the first complete list is in the store (it stays 1 through relists), else 0.
pub const REFLECTOR_SYNCED: &str = "informer_reflector_synced";
/// Gauge: 1 while the sync state is failing for the reason in [`LABEL_KIND`] (a
/// [`SyncFailureKind`](crate::SyncFailureKind): `forbidden`, `unavailable`, ...), else 0; every
/// reason a running reflector can fail for has its series. `informer_reflector_sync_failing == 1`
/// says which mirrors are stuck and why.
pub const REFLECTOR_SYNC_FAILING: &str = "informer_reflector_sync_failing";

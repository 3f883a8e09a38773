//! [`SinkConfig`]: where the sink writes and how.

use std::time::Duration;

use crate::config::EtcdConfig;

/// Configuration of an [`EtcdSink`](super::EtcdSink). Build it with [`SinkConfig::new`] and the `with_*`
/// methods.
///
/// ```
/// use informer_etcd::{EtcdConfig, KeyRange, SinkConfig};
/// let config = SinkConfig::new(EtcdConfig::new(["127.0.0.1:2379"], KeyRange::prefix("/dst/")), "/src/", "etcd://a/src/");
/// assert_eq!(config.state_key, b"/dst.mirror-state");
/// assert_eq!(config.max_txn_ops, 128);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SinkConfig {
    /// The destination: endpoints, credentials, TLS, timeouts, and its key range, which must be
    /// a prefix (made with [`KeyRange::prefix`](crate::KeyRange::prefix)): the destination prefix.
    pub destination: EtcdConfig,
    /// The source prefix each source key starts with; it is replaced by the destination prefix.
    pub source_prefix: Vec<u8>,
    /// What the mirror copies, recorded in the state (e.g. the SOURCE URL). A state recorded
    /// for another source is not resumed from.
    pub source_id: String,
    /// The key of the state record; outside the destination prefix. Default: the destination
    /// prefix without its trailing `/`, plus `.mirror-state`.
    pub state_key: Vec<u8>,
    /// The most operations in one destination transaction, the state record included; at
    /// least 2. Default 128 (etcd's own `--max-txn-ops`).
    pub max_txn_ops: usize,
    /// How many operations may wait for the writer before the sink reports itself full.
    /// Default 4096.
    pub queue_ops: usize,
    /// The first and the longest wait between retries of a failed write. Default 100 ms, 5 s.
    pub retry: (Duration, Duration),
    /// Write consecutive source revisions that are waiting in the queue together, in one
    /// transaction of at most [`max_txn_ops`](Self::max_txn_ops) operations. Each revision
    /// stays whole (never split over two transactions, unless it alone exceeds `max_txn_ops`);
    /// the state record names the last one. This is what lets a mirror that fell behind (a
    /// warm restart, a destination outage) catch up at the speed of a relist instead of one
    /// round trip per revision. `false` writes exactly one transaction per source revision,
    /// so the destination's history follows the source's revision by revision. Default true.
    pub group_revisions: bool,
}

impl SinkConfig {
    /// Mirrors keys under `source_prefix` into `destination`'s prefix, recording `source_id`.
    pub fn new(destination: EtcdConfig, source_prefix: impl Into<Vec<u8>>, source_id: impl Into<String>) -> Self {
        let state_key = default_state_key(destination.range.start());
        Self {
            destination,
            source_prefix: source_prefix.into(),
            source_id: source_id.into(),
            state_key,
            max_txn_ops: 128,
            queue_ops: 4096,
            retry: (Duration::from_millis(100), Duration::from_secs(5)),
            group_revisions: true,
        }
    }

    /// Sets [`state_key`](Self::state_key).
    #[must_use]
    pub fn with_state_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.state_key = key.into();
        self
    }

    /// Sets [`max_txn_ops`](Self::max_txn_ops).
    #[must_use]
    pub fn with_max_txn_ops(mut self, ops: usize) -> Self {
        self.max_txn_ops = ops;
        self
    }

    /// Sets [`queue_ops`](Self::queue_ops).
    #[must_use]
    pub fn with_queue_ops(mut self, ops: usize) -> Self {
        self.queue_ops = ops;
        self
    }

    /// Sets [`retry`](Self::retry).
    #[must_use]
    pub fn with_retry(mut self, initial: Duration, max: Duration) -> Self {
        self.retry = (initial, max);
        self
    }

    /// Sets [`group_revisions`](Self::group_revisions).
    #[must_use]
    pub fn with_group_revisions(mut self, group: bool) -> Self {
        self.group_revisions = group;
        self
    }

    /// The destination prefix.
    pub fn destination_prefix(&self) -> &[u8] {
        self.destination.range.start()
    }
}

/// The default state key of a destination prefix: without its trailing `/`, plus
/// `.mirror-state` (`/backup/app/` → `/backup/app.mirror-state`).
///
/// ```
/// assert_eq!(informer_etcd::default_state_key(b"/backup/app/"), b"/backup/app.mirror-state");
/// ```
pub fn default_state_key(destination_prefix: &[u8]) -> Vec<u8> {
    let mut key = destination_prefix.strip_suffix(b"/").unwrap_or(destination_prefix).to_vec();
    key.extend_from_slice(b".mirror-state");
    key
}

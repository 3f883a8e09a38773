//! A named [`WorkQueue`](super::WorkQueue)'s metrics, with client-go's names and meanings
//! (`k8s.io/client-go/util/workqueue/metrics.go`): see [`crate::telemetry`].
//!
//! An unnamed queue keeps none of this (no timestamps, no map), as in client-go.

use std::hash::Hash;

use metrics::{Counter, Gauge, Histogram};
use tokio::time::Instant;

use crate::cache::FastMap;
use crate::telemetry::{
    self, WORKQUEUE_ADDS, WORKQUEUE_DEPTH, WORKQUEUE_LONGEST_RUNNING, WORKQUEUE_QUEUE_DURATION, WORKQUEUE_RETRIES,
    WORKQUEUE_UNFINISHED_WORK, WORKQUEUE_WORK_DURATION,
};

/// The series of one named queue and the times they are computed from.
pub(super) struct QueueMetrics<K> {
    depth: Gauge,
    adds: Counter,
    queue_duration: Histogram,
    work_duration: Histogram,
    pub(super) retries: Counter,
    unfinished: Gauge,
    longest: Gauge,
    /// When each queued key was added (the first add while queued).
    added_at: FastMap<K, Instant>,
    /// When each key being processed was taken by `get`.
    started_at: FastMap<K, Instant>,
}

impl<K: Clone + Eq + Hash> QueueMetrics<K> {
    pub(super) fn new(name: &str) -> Self {
        Self {
            depth: telemetry::gauge(WORKQUEUE_DEPTH, name),
            adds: telemetry::counter(WORKQUEUE_ADDS, name),
            queue_duration: telemetry::histogram(WORKQUEUE_QUEUE_DURATION, name),
            work_duration: telemetry::histogram(WORKQUEUE_WORK_DURATION, name),
            retries: telemetry::counter(WORKQUEUE_RETRIES, name),
            unfinished: telemetry::gauge(WORKQUEUE_UNFINISHED_WORK, name),
            longest: telemetry::gauge(WORKQUEUE_LONGEST_RUNNING, name),
            added_at: FastMap::default(),
            started_at: FastMap::default(),
        }
    }

    /// `key` was added; `depth` keys are queued (dirty) now.
    pub(super) fn added(&mut self, key: &K, depth: usize) {
        self.adds.increment(1);
        self.depth.set(depth as f64);
        self.added_at.entry(key.clone()).or_insert_with(Instant::now);
    }

    /// `get` took `key`; `depth` keys are still queued.
    pub(super) fn taken(&mut self, key: &K, depth: usize) {
        let now = Instant::now();
        self.depth.set(depth as f64);
        if let Some(added) = self.added_at.remove(key) {
            self.queue_duration.record(now.duration_since(added).as_secs_f64());
        }
        self.started_at.insert(key.clone(), now);
        self.update_unfinished(now);
    }

    /// `done` for `key`.
    pub(super) fn done(&mut self, key: &K) {
        let now = Instant::now();
        if let Some(started) = self.started_at.remove(key) {
            self.work_duration.record(now.duration_since(started).as_secs_f64());
        }
        self.update_unfinished(now);
    }

    /// Work in progress: the sum and the longest of the processing times so far.
    pub(super) fn update_unfinished(&self, now: Instant) {
        let (mut total, mut longest) = (0.0f64, 0.0f64);
        for started in self.started_at.values() {
            let secs = now.duration_since(*started).as_secs_f64();
            total += secs;
            longest = longest.max(secs);
        }
        self.unfinished.set(total);
        self.longest.set(longest);
    }
}

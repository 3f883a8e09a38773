//! The names of the metrics this crate's stores and queues record.
//!
//! Recording goes through the [`metrics`] facade, so it costs nothing a program did not ask
//! for: a store or queue records only once it has a name (like client-go, whose work queues
//! record only when named), and a named one costs a branch per update while no recorder is
//! installed. Series are registered when the name is given, so install the recorder first.
//! Every series carries the label [`LABEL_NAME`]. The
//! one table of every metric name is in the `informer` crate's `telemetry` module.
//!
//! | who | named by |
//! | --- | --- |
//! | [`Cache`](crate::Cache), [`Indexer`](crate::Indexer) | `with_name` |
//! | [`DeltaFifo`](crate::DeltaFifo) | [`DeltaFifoOptions::with_name`](crate::DeltaFifoOptions::with_name) (default `DeltaFifo`: always recorded) |
//! | [`RealFifo`](crate::RealFifo) | [`RealFifoOptions::with_name`](crate::RealFifoOptions::with_name) (default `RealFifo`: always recorded) |
//! | [`WorkQueue`](crate::WorkQueue) | [`WorkQueue::with_name`](crate::WorkQueue::with_name) |
//! | an [`Informer`](crate::Informer)'s subscription | [`SubscribeOptions::with_name`](crate::SubscribeOptions::with_name) (the `name` label is the informer's reflector's) |

use std::sync::atomic::{AtomicUsize, Ordering};

use informer_core::telemetry::LABEL_NAME;
use metrics::{Counter, Gauge, Histogram, Label};

/// The label of [`STORE_INDEX_VALUES`]: the index's name.
pub const LABEL_INDEX: &str = "index";

/// Gauge: objects held by a [`Cache`](crate::Cache) or [`Indexer`](crate::Indexer).
pub const STORE_OBJECTS: &str = "informer_store_objects";
/// Gauge: distinct values of one index of an [`Indexer`](crate::Indexer), by [`LABEL_INDEX`].
pub const STORE_INDEX_VALUES: &str = "informer_store_index_values";
/// Gauge: entries queued in a [`DeltaFifo`](crate::DeltaFifo) (keys; an atomic replace counts
/// as one) or a [`RealFifo`](crate::RealFifo) (changes; a relist counts as one).
pub const QUEUE_DEPTH: &str = "informer_queue_depth";
/// Counter: changes a [`DeltaFifo`](crate::DeltaFifo) or [`RealFifo`](crate::RealFifo) accepted.
pub const QUEUE_ADDS: &str = "informer_queue_adds_total";

/// The label of the subscriber metrics: the subscription's name
/// ([`SubscribeOptions::name`](crate::SubscribeOptions::name)).
pub const LABEL_SUBSCRIBER: &str = "subscriber";
/// Gauge: events queued for one named subscriber of an [`Informer`](crate::Informer), by
/// [`LABEL_SUBSCRIBER`]; `name` is the informer's (its reflector's) name.
pub const SUBSCRIBER_DEPTH: &str = "informer_subscriber_depth";
/// Counter: events dropped for one named subscriber under
/// [`Overflow::DropAndResync`](crate::Overflow::DropAndResync) (resynced later, per key).
pub const SUBSCRIBER_DROPPED: &str = "informer_subscriber_dropped_events_total";

/// Gauge: keys queued in a [`WorkQueue`](crate::WorkQueue), client-go's `workqueue_depth`.
pub const WORKQUEUE_DEPTH: &str = "workqueue_depth";
/// Counter: keys added (after de-duplication), client-go's `workqueue_adds_total`.
pub const WORKQUEUE_ADDS: &str = "workqueue_adds_total";
/// Histogram: seconds a key waited in the queue before `get` took it.
pub const WORKQUEUE_QUEUE_DURATION: &str = "workqueue_queue_duration_seconds";
/// Histogram: seconds from `get` to `done`.
pub const WORKQUEUE_WORK_DURATION: &str = "workqueue_work_duration_seconds";
/// Counter: rate-limited adds (retries).
pub const WORKQUEUE_RETRIES: &str = "workqueue_retries_total";
/// Gauge: seconds of work in progress not yet `done`, summed over the keys being processed
/// (updated every 500 ms and at each `get` / `done`): large values mean stuck workers.
pub const WORKQUEUE_UNFINISHED_WORK: &str = "workqueue_unfinished_work_seconds";
/// Gauge: seconds the longest-running key has been processed.
pub const WORKQUEUE_LONGEST_RUNNING: &str = "workqueue_longest_running_processor_seconds";

/// A gauge of a length that reaches the recorder only when the length changed. Stores set their
/// sizes after every update, and most updates (a modified object, same index values) change no
/// length: comparing with the last value sent is a plain load, where a recorder's `set` is one or
/// more atomic read-modify-writes on shared cache lines.
#[derive(Debug)]
pub(crate) struct LenGauge {
    gauge: Gauge,
    /// The last length sent; `usize::MAX` before the first.
    sent: AtomicUsize,
}

impl LenGauge {
    pub(crate) fn new(gauge: Gauge) -> Self {
        Self { gauge, sent: AtomicUsize::new(usize::MAX) }
    }

    /// A handle that records nothing.
    pub(crate) fn noop() -> Self {
        Self::new(Gauge::noop())
    }

    /// Sends `len` if it differs from the last length sent. Callers hold the store's write lock
    /// (or own the store), so the load and the store below do not race with another `set`.
    pub(crate) fn set(&self, len: usize) {
        if self.sent.load(Ordering::Relaxed) != len {
            self.sent.store(len, Ordering::Relaxed);
            self.gauge.set(len as f64);
        }
    }
}

impl Clone for LenGauge {
    /// The same series; the copy sends its first length again.
    fn clone(&self) -> Self {
        Self::new(self.gauge.clone())
    }
}

fn labels(name: &str) -> Vec<Label> {
    vec![Label::new(LABEL_NAME, name.to_string())]
}

/// A gauge labelled `name`.
pub(crate) fn gauge(metric: &'static str, name: &str) -> Gauge {
    metrics::gauge!(metric, labels(name))
}

/// A gauge labelled `name` and `index`.
pub(crate) fn index_gauge(name: &str, index: &str) -> Gauge {
    let mut labels = labels(name);
    labels.push(Label::new(LABEL_INDEX, index.to_string()));
    metrics::gauge!(STORE_INDEX_VALUES, labels)
}

/// The labels of one named subscriber of informer `name`.
fn subscriber_labels(name: &str, subscriber: &str) -> Vec<Label> {
    let mut labels = labels(name);
    labels.push(Label::new(LABEL_SUBSCRIBER, subscriber.to_string()));
    labels
}

/// [`SUBSCRIBER_DEPTH`] of one subscriber.
pub(crate) fn subscriber_gauge(name: &str, subscriber: &str) -> Gauge {
    metrics::gauge!(SUBSCRIBER_DEPTH, subscriber_labels(name, subscriber))
}

/// [`SUBSCRIBER_DROPPED`] of one subscriber.
pub(crate) fn subscriber_counter(name: &str, subscriber: &str) -> Counter {
    metrics::counter!(SUBSCRIBER_DROPPED, subscriber_labels(name, subscriber))
}

/// A counter labelled `name`.
pub(crate) fn counter(metric: &'static str, name: &str) -> Counter {
    metrics::counter!(metric, labels(name))
}

/// A histogram labelled `name`.
pub(crate) fn histogram(metric: &'static str, name: &str) -> Histogram {
    metrics::histogram!(metric, labels(name))
}

//! Reading what a `metrics` recorder recorded, for tests of the library's metrics.

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, Snapshotter};

/// Every series recorded so far as `metric{label=value,...}` (labels sorted) → its value.
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("hits", "name" => "a").increment(2));
/// let series = informer_tests::metrics::series(&snapshotter);
/// assert!(series.contains_key("hits{name=a}"));
/// ```
pub fn series(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let mut labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            (format!("{}{{{}}}", key.key().name(), labels.join(",")), value)
        })
        .collect()
}

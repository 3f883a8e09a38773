//! The metrics table in `informer::telemetry` is what the library records: same names, same
//! kinds, nothing missing and nothing extra.

use std::collections::BTreeMap;
use std::sync::Arc;

use informer::memory::MemorySource;
use informer::telemetry::{Kind, METRICS};
use informer::{
    CancellationToken, DeltaFifo, DeltaFifoOptions, IndexFn, Indexer, Indexers, Informer, InformerConfig, KeyFn,
    ObjectKey, Overflow, Reflector, ReflectorConfig, Store, SubscribeOptions, WorkQueue,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The rows of the table in the module docs: metric name → kind.
fn documented() -> BTreeMap<String, Kind> {
    include_str!("../src/telemetry.rs")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix("//! | `")?.split('|').map(str::trim).collect();
            let name = cells[0].trim_end_matches('`').to_string();
            let kind = match cells[1] {
                "counter" => Kind::Counter,
                "gauge" => Kind::Gauge,
                "histogram" => Kind::Histogram,
                other => panic!("{name}: unknown kind {other:?} in the table"),
            };
            Some((name, kind))
        })
        .collect()
}

#[test]
fn the_documented_table_and_the_metrics_constant_agree() {
    let listed: BTreeMap<String, Kind> = METRICS.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    assert_eq!(listed.len(), METRICS.len(), "no name twice");
    assert_eq!(documented(), listed);
}

#[tokio::test]
async fn every_documented_metric_is_recorded_with_its_kind_and_a_name_label() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<String>::new();
    source.put("a", "node-1".to_string());
    let (reflector, fifo, queue) = metrics::with_local_recorder(&recorder, || {
        let store = Indexer::with_indexers(
            KeyFn::keyed(),
            Indexers::new()
                .with("node", IndexFn::single(|o: &informer::memory::MemoryObject<String>| o.value().as_str())),
        )
        .with_name("pods");
        let reflector = Reflector::new(source.clone(), Arc::new(store), ReflectorConfig::default());
        let fifo = DeltaFifo::with_options(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))), DeltaFifoOptions::default());
        (reflector, fifo, WorkQueue::new().with_name("controller"))
    });
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    assert!(handle.wait_synced().await);
    source.put("b", "node-2".to_string());
    while handle.metrics().events_added == 0 {
        tokio::task::yield_now().await;
    }
    fifo.add(Arc::new("x".to_string())).unwrap();
    queue.add("x");
    let key = queue.get().await.unwrap();
    queue.done(&key);
    queue.add_rate_limited(key);
    cancel.cancel();
    task.await.unwrap().unwrap();
    queue.shut_down();

    // An informer with a named subscription that falls behind (DropAndResync).
    let informed = MemorySource::<String>::new();
    let informer = Informer::with_cache(informed.clone(), KeyFn::keyed(), InformerConfig::default());
    let informer_handle = informer.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(informer.run(cancel.clone()));
    assert!(informer_handle.wait_synced().await);
    let mut subscription = metrics::with_local_recorder(&recorder, || {
        informer_handle.subscribe_with(SubscribeOptions::bounded(1, Overflow::DropAndResync).with_name("slow"))
    });
    let mut reader = informer_handle.subscribe();
    for i in 0..3 {
        informed.put("k", i.to_string());
        reader.recv().await.unwrap();
    }
    assert_eq!(subscription.missed_keys(), 1);
    assert!(subscription.recv().await.is_some(), "the resync");
    cancel.cancel();
    task.await.unwrap().unwrap();

    let mut recorded = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        assert!(key.labels().any(|l| l.key() == "name"), "{} has no name label", key.name());
        let kind = match value {
            DebugValue::Counter(_) => Kind::Counter,
            DebugValue::Gauge(_) => Kind::Gauge,
            DebugValue::Histogram(_) => Kind::Histogram,
        };
        if let Some(before) = recorded.insert(key.name().to_string(), kind) {
            assert_eq!(before, kind, "{} recorded as two kinds", key.name());
        }
    }
    assert_eq!(recorded, documented());
}

//! Named stores and queues record through the `metrics` facade; unnamed ones record nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use informer_core::{KeyFn, ObjectKey, Store, Version};
use informer_stores::{Cache, DeltaFifo, DeltaFifoOptions, IndexFn, Indexer, Indexers, WorkQueue};
use informer_tests::metrics::series;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

fn value(series: &HashMap<String, DebugValue>, key: &str) -> f64 {
    match series.get(key) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        Some(DebugValue::Counter(v)) => *v as f64,
        other => panic!("{key}: {other:?}; series: {:?}", series.keys()),
    }
}

fn samples(series: &HashMap<String, DebugValue>, key: &str) -> Vec<f64> {
    match series.get(key) {
        Some(DebugValue::Histogram(v)) => v.iter().map(|s| s.into_inner()).collect(),
        other => panic!("{key}: {other:?}; series: {:?}", series.keys()),
    }
}

/// "node/name" strings keyed by name, indexed by node.
fn pod(s: &str) -> Arc<String> {
    Arc::new(s.to_string())
}

fn indexer() -> Indexer<String> {
    let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s.split('/').nth(1).unwrap_or(""))));
    Indexer::with_indexers(
        key_fn,
        Indexers::new().with("node", IndexFn::single(|s: &String| s.split('/').next().unwrap_or(""))),
    )
}

#[test]
fn a_named_indexer_records_its_objects_and_index_values() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = metrics::with_local_recorder(&recorder, || indexer().with_name("pods"));
    store.add(pod("n1/a")).unwrap();
    store.add(pod("n1/b")).unwrap();
    store.add(pod("n2/c")).unwrap();
    store.delete(pod("n1/b")).unwrap();
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_store_objects{name=pods}"), 2.0);
    assert_eq!(value(&s, "informer_store_index_values{index=node,name=pods}"), 2.0);
    store.replace(vec![pod("n3/x"), pod("n3/y"), pod("n3/z")], Version::from("9")).unwrap();
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_store_objects{name=pods}"), 3.0);
    assert_eq!(value(&s, "informer_store_index_values{index=node,name=pods}"), 1.0);
}

#[test]
fn a_named_cache_records_its_objects_and_an_unnamed_one_records_nothing() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (named, unnamed) = metrics::with_local_recorder(&recorder, || {
        (Cache::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s)))).with_name("c"), indexer())
    });
    named.add(pod("a")).unwrap();
    named.add(pod("b")).unwrap();
    unnamed.add(pod("n1/a")).unwrap();
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_store_objects{name=c}"), 2.0);
    assert_eq!(s.len(), 1, "only the named cache's series: {:?}", s.keys());
}

#[tokio::test]
async fn a_delta_fifo_records_its_depth_and_adds() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let fifo = metrics::with_local_recorder(&recorder, || {
        DeltaFifo::with_options(
            KeyFn::new(|s: &String| Ok(ObjectKey::new(s))),
            DeltaFifoOptions::default().with_name("q"),
        )
    });
    fifo.add(pod("a")).unwrap();
    fifo.update(pod("a")).unwrap();
    fifo.add(pod("b")).unwrap();
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_queue_depth{name=q}"), 2.0, "two keys queued");
    assert_eq!(value(&s, "informer_queue_adds_total{name=q}"), 3.0, "three changes accepted");
    fifo.pop(|_| ()).await.unwrap();
    assert_eq!(value(&series(&snapshotter), "informer_queue_depth{name=q}"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_named_work_queue_records_client_go_workqueue_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let queue = metrics::with_local_recorder(&recorder, || WorkQueue::new().with_name("ctl"));
    queue.add("a");
    queue.add("b");
    queue.add("a"); // de-duplicated
    let s = series(&snapshotter);
    assert_eq!(value(&s, "workqueue_adds_total{name=ctl}"), 2.0);
    assert_eq!(value(&s, "workqueue_depth{name=ctl}"), 2.0);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let key = queue.get().await.unwrap();
    assert_eq!(key, "a");
    // One snapshot: the debugging recorder hands out histogram samples once.
    let s = series(&snapshotter);
    assert_eq!(value(&s, "workqueue_depth{name=ctl}"), 1.0);
    assert_eq!(samples(&s, "workqueue_queue_duration_seconds{name=ctl}"), [1.0]);

    // Two seconds of work: the ticker shows it in progress before `done`.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let s = series(&snapshotter);
    let unfinished = value(&s, "workqueue_unfinished_work_seconds{name=ctl}");
    assert!((2.0..=2.1).contains(&unfinished), "unfinished work {unfinished} s");
    assert_eq!(value(&s, "workqueue_longest_running_processor_seconds{name=ctl}"), unfinished);

    queue.done(&key);
    queue.add_rate_limited(key);
    let s = series(&snapshotter);
    assert_eq!(samples(&s, "workqueue_work_duration_seconds{name=ctl}"), [2.1]);
    assert_eq!(value(&s, "workqueue_retries_total{name=ctl}"), 1.0);
    assert_eq!(value(&s, "workqueue_unfinished_work_seconds{name=ctl}"), 0.0);
    queue.shut_down();
}

#[test]
fn without_a_recorder_named_stores_and_queues_work_and_record_nothing() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = indexer().with_name("pods");
    store.add(pod("n1/a")).unwrap();
    let queue = WorkQueue::new().with_name("ctl");
    queue.add("a");
    assert_eq!(store.len(), 1);
    assert_eq!(queue.len(), 1);
    assert!(snapshotter.snapshot().into_vec().is_empty());
}

#[tokio::test]
async fn a_named_subscription_records_its_depth_and_dropped_events() {
    use informer_core::CancellationToken;
    use informer_memory::MemorySource;
    use informer_stores::{Informer, InformerConfig, Overflow, SubscribeOptions};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<u32>::new();
    let config = InformerConfig::default().with_reflector(informer_core::ReflectorConfig::default().with_name("pods"));
    let informer = Informer::with_cache(source.clone(), KeyFn::keyed(), config);
    let handle = informer.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(informer.run(cancel.clone()));
    assert!(handle.wait_synced().await);
    let (mut slow, unnamed) = metrics::with_local_recorder(&recorder, || {
        (
            handle.subscribe_with(SubscribeOptions::bounded(2, Overflow::DropAndResync).with_name("slow")),
            handle.subscribe_with(SubscribeOptions::bounded(2, Overflow::DropAndResync)),
        )
    });
    let mut reader = handle.subscribe();
    source.put("a", 1);
    reader.recv().await.unwrap();
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_subscriber_depth{name=pods,subscriber=slow}"), 1.0);
    for i in 2..6 {
        source.put("a", i);
        reader.recv().await.unwrap();
    }
    let s = series(&snapshotter);
    assert_eq!(value(&s, "informer_subscriber_depth{name=pods,subscriber=slow}"), 0.0, "the backlog was dropped");
    // Two queued, then the third and the two after it: five events dropped, one key missed.
    assert_eq!(value(&s, "informer_subscriber_dropped_events_total{name=pods,subscriber=slow}"), 5.0);
    assert_eq!(s.len(), 2, "the unnamed subscription records nothing: {:?}", s.keys());
    assert!(slow.recv().await.is_some(), "the resync");
    assert_eq!(value(&series(&snapshotter), "informer_subscriber_depth{name=pods,subscriber=slow}"), 0.0);
    drop(unnamed);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

//! The reflector records its counters through the `metrics` facade, labelled with its name.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use informer_memory::MemorySource;
use informer_tests::metrics::series;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

fn counter(series: &HashMap<String, DebugValue>, key: &str) -> u64 {
    match series.get(key) {
        Some(DebugValue::Counter(v)) => *v,
        other => panic!("{key}: expected a counter, found {other:?}; series: {:?}", series.keys()),
    }
}

fn gauge(series: &HashMap<String, DebugValue>, key: &str) -> f64 {
    match series.get(key) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{key}: expected a gauge, found {other:?}; series: {:?}", series.keys()),
    }
}

#[tokio::test]
async fn records_lists_pages_events_and_sync_labelled_with_the_reflector_name() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<u64>::new();
    for i in 0..5 {
        source.put(format!("k{i}"), i);
    }
    // Paged lists, counted below (the default streams from the memory source).
    let config = fast_config()
        .with_page_size(Some(2))
        .with_name("pods")
        .with_initial_list(informer_core::InitialList::ListThenWatch);
    let run = metrics::with_local_recorder(&recorder, || start(&source, config));
    assert!(run.handle.wait_synced().await);
    source.put("k0", 100);
    source.put("k9", 9);
    source.delete("k1");
    converged(&run, &source).await;
    let m = run.handle.metrics();
    run.stop().await;

    let s = series(&snapshotter);
    assert_eq!(counter(&s, "informer_reflector_lists_total{name=pods}"), 1);
    assert_eq!(counter(&s, "informer_reflector_list_pages_total{name=pods}"), 3, "5 objects in pages of 2");
    assert_eq!(counter(&s, "informer_reflector_watches_total{name=pods}"), m.watches);
    assert_eq!(counter(&s, "informer_reflector_events_total{name=pods,type=added}"), 1);
    assert_eq!(counter(&s, "informer_reflector_events_total{name=pods,type=modified}"), 1);
    assert_eq!(counter(&s, "informer_reflector_events_total{name=pods,type=deleted}"), 1);
    assert_eq!(counter(&s, "informer_reflector_relists_total{name=pods}"), 0);
    assert_eq!(counter(&s, "informer_reflector_errors_total{kind=expired,name=pods}"), 0);
    assert_eq!(gauge(&s, "informer_reflector_synced{name=pods}"), 1.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let last_event = gauge(&s, "informer_reflector_last_event_timestamp_seconds{name=pods}");
    assert!(last_event > now - 60.0 && last_event <= now, "last event at {last_event}, now {now}");
    match s.get("informer_reflector_list_duration_seconds{name=pods}") {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 1, "one list, one duration"),
        other => panic!("list duration: {other:?}"),
    }
}

#[tokio::test]
async fn counts_errors_by_kind_and_relists_after_an_expired_version() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<u64>::new();
    source.put("a", 1);
    let run = metrics::with_local_recorder(&recorder, || start(&source, fast_config()));
    assert!(run.handle.wait_synced().await);
    // The watch ends with an expired error, as a 410 Gone does: the reflector relists.
    source.faults().expire_history();
    source.put("b", 2);
    converged(&run, &source).await;
    let m = run.handle.metrics();
    run.stop().await;

    let s = series(&snapshotter);
    // Unnamed: the label is the source's description ("memory").
    let expired = counter(&s, "informer_reflector_errors_total{kind=expired,name=memory}");
    assert_eq!(counter(&s, "informer_reflector_relists_total{name=memory}"), m.relists);
    let by_kind: u64 = ["expired", "transient", "malformed", "unsupported", "permanent"]
        .iter()
        .map(|kind| counter(&s, &format!("informer_reflector_errors_total{{kind={kind},name=memory}}")))
        .sum();
    assert_eq!(by_kind, m.errors, "the kinds add up to the snapshot's errors");
    assert!(expired >= 1, "the expired watch is counted");
    assert!(m.relists >= 1, "a relist follows an expired version");
}

#[tokio::test]
async fn without_a_recorder_the_reflector_works_and_its_snapshot_still_counts() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<u64>::new();
    source.put("a", 1);
    // The recorder exists but is not installed: nothing reaches it.
    let run = start(&source, fast_config());
    assert!(run.handle.wait_synced().await);
    source.put("b", 2);
    converged(&run, &source).await;
    assert_eq!(run.handle.metrics().lists, 1);
    assert_eq!(run.handle.metrics().events_added, 1);
    run.stop().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(snapshotter.snapshot().into_vec().is_empty());
}

#[tokio::test]
async fn sync_failing_shows_the_reason_of_a_failing_state_and_clears_when_synced() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let source = MemorySource::<u64>::new();
    source.put("a", 1);
    // Fails until released: the first lists never reach the store.
    source.faults().fail_next_calls(1_000);
    let run = metrics::with_local_recorder(&recorder, || start(&source, fast_config().with_name("pods")));
    let mut states = run.handle.subscribe_sync_state();
    while states.borrow_and_update().failure().is_none() {
        states.changed().await.unwrap();
    }
    let kind = states.borrow().failure().unwrap().kind.as_str();
    let s = series(&snapshotter);
    assert_eq!(gauge(&s, &format!("informer_reflector_sync_failing{{kind={kind},name=pods}}")), 1.0);
    assert_eq!(gauge(&s, "informer_reflector_sync_failing{kind=forbidden,name=pods}"), 0.0);
    assert_eq!(gauge(&s, "informer_reflector_synced{name=pods}"), 0.0);

    source.faults().fail_next_calls(0);
    assert!(run.handle.wait_synced().await);
    run.stop().await;
    let s = series(&snapshotter);
    assert_eq!(gauge(&s, &format!("informer_reflector_sync_failing{{kind={kind},name=pods}}")), 0.0);
    assert_eq!(gauge(&s, "informer_reflector_synced{name=pods}"), 1.0);
}

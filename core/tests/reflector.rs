//! The reflector's behaviours, each test named after one, against the in-memory source.

mod common;

use std::time::Duration;

use common::*;
use informer_core::{BackoffConfig, InitialList, ReflectorConfig, ReflectorError, Store};
use informer_memory::{MemoryConfig, MemorySource};

const SECS: Duration = Duration::from_secs(10);

fn filled(n: u64) -> MemorySource<u64> {
    let source = MemorySource::new();
    for i in 0..n {
        source.put(format!("k{i:05}"), i);
    }
    source
}

#[tokio::test]
async fn lists_in_pages_and_replaces_the_store_with_the_lists_version() {
    let source = filled(1234);
    let config = fast_config().with_page_size(Some(100)).with_initial_list(InitialList::ListThenWatch);
    let run = start(&source, config);
    assert!(run.handle.wait_synced().await);
    assert_eq!(store_state(&run.store), source_state(&source));
    let m = run.handle.metrics();
    assert_eq!(m.lists, 1);
    assert_eq!(m.list_pages, 13, "1234 objects in pages of 100");
    assert_eq!(run.store.replaces(), 1);
    assert_eq!(run.store.last_replace_version().unwrap(), "1234");
    assert_eq!(run.handle.last_synced_version().unwrap(), "1234");
    run.stop().await;
}

#[test]
fn default_page_size_is_500() {
    assert_eq!(ReflectorConfig::default().page_size, Some(500));
}

#[tokio::test]
async fn paged_list_is_consistent_while_the_source_changes() {
    let source = filled(3000);
    let run = start(&source, fast_config().with_page_size(Some(7)));
    // Change the source while the list pages are being read: the list must still describe
    // one version, and the watch must deliver the rest.
    for i in 0..300u64 {
        source.put(format!("k{:05}", i * 10), 10_000 + i);
        if i % 3 == 0 {
            source.delete(&format!("k{:05}", i * 10 + 1));
        }
        tokio::task::yield_now().await;
    }
    converged(&run, &source).await;
    assert_eq!(run.handle.metrics().lists, 1);
    run.stop().await;
}

#[tokio::test]
async fn watch_applies_every_event_to_the_store() {
    let source = filled(10);
    let run = start(&source, fast_config());
    assert!(run.handle.wait_synced().await);
    source.put("new", 1);
    source.put("k00001", 99);
    source.delete("k00002");
    converged(&run, &source).await;
    let m = run.handle.metrics();
    assert_eq!((m.events_added, m.events_modified, m.events_deleted), (1, 1, 1));
    assert!(run.store.get_by_key("k00002").is_none());
    assert_eq!(**run.store.get_by_key("k00001").unwrap().value(), 99);
    run.stop().await;
}

#[tokio::test]
async fn resumes_from_the_last_version_without_relisting_when_watches_drop() {
    let source = filled(50);
    let run = start(&source, fast_config().with_initial_list(InitialList::ListThenWatch));
    assert!(run.handle.wait_synced().await);
    for round in 0..20u64 {
        source.put(format!("r{round}"), round);
        converged(&run, &source).await;
        if round % 2 == 0 {
            source.faults().drop_watches();
        } else {
            source.faults().break_watches();
        }
        source.delete(&format!("k{round:05}"));
    }
    converged(&run, &source).await;
    let m = run.handle.metrics();
    assert_eq!(m.lists, 1, "dropped watches never cause a relist");
    assert_eq!(m.list_pages, 1);
    assert_eq!(m.relists, 0);
    assert!(m.watches >= 21, "every drop was followed by a new watch: {m:?}");
    run.stop().await;
}

#[tokio::test]
async fn relists_exactly_once_per_expired_version() {
    let source = filled(100);
    let run = start(&source, fast_config());
    for expiry in 1..=5u64 {
        converged(&run, &source).await;
        source.faults().expire_history();
        source.put(format!("after-{expiry}"), expiry);
        converged(&run, &source).await;
        let m = run.handle.metrics();
        assert_eq!(m.relists, expiry);
        assert_eq!(m.lists, expiry + 1);
    }
    run.stop().await;
}

#[tokio::test]
async fn relist_after_expiry_leaves_no_stale_keys() {
    let source = filled(100);
    // Injected failures keep the reflector away while keys are deleted and the history is
    // compacted: the deletes are never seen as events.
    let config = fast_config().with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(50)));
    let run = start(&source, config);
    converged(&run, &source).await;
    source.faults().fail_next_calls(2);
    source.faults().break_watches();
    for i in 0..40 {
        source.delete(&format!("k{i:05}"));
    }
    source.put("k00050", 5050);
    source.compact();
    converged(&run, &source).await;
    let m = run.handle.metrics();
    assert_eq!(m.relists, 1);
    assert_eq!(m.events_deleted, 0, "the deletes were compacted away, not watched");
    assert_eq!(run.store.len(), 60);
    assert!(run.store.get_by_key("k00000").is_none());
    run.stop().await;
}

#[tokio::test]
async fn bookmarks_advance_the_version_without_touching_the_store() {
    let source =
        MemorySource::with_config(MemoryConfig::default().with_bookmark_interval(Some(Duration::from_millis(5))));
    source.put("a", 1);
    let run = start(&source, fast_config());
    assert!(run.handle.wait_synced().await);
    eventually("a bookmark arrives", SECS, || run.handle.metrics().bookmarks >= 3).await;
    assert_eq!(run.store.replaces(), 1);
    assert_eq!(run.handle.metrics().events_total(), 0);
    assert_eq!(store_state(&run.store), source_state(&source));
    run.stop().await;
}

#[tokio::test]
async fn retries_transient_errors_with_backoff_until_the_source_answers() {
    let source = filled(5);
    source.faults().fail_next_calls(4);
    let run = start(&source, fast_config());
    assert!(run.handle.wait_synced().await);
    let m = run.handle.metrics();
    assert_eq!(m.errors, 4);
    assert_eq!(m.lists, 5, "four failed lists, then one that worked");
    assert_eq!(m.relists, 0, "failed lists are retries, not relists");
    converged(&run, &source).await;
    run.stop().await;
}

#[tokio::test]
async fn gives_up_after_the_configured_number_of_retries() {
    let source = filled(5);
    source.faults().fail_next_calls(100);
    let config = fast_config()
        .with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max_retries(Some(3)));
    let run = start(&source, config);
    let result = tokio::time::timeout(SECS, run.task).await.expect("gives up in time").unwrap();
    match result {
        Err(ReflectorError::GaveUp { source_name, attempts, last }) => {
            assert_eq!(source_name, "memory");
            assert_eq!(attempts, 3);
            assert!(last.to_string().contains("injected failure"), "{last}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(!run.handle.has_synced());
    assert!(!run.handle.wait_synced().await, "wait_synced reports a reflector that stopped unsynced");
}

#[tokio::test]
async fn resyncs_the_store_periodically_once_synced() {
    let source = filled(3);
    let run = start(&source, fast_config().with_resync_period(Some(Duration::from_millis(10))));
    assert!(run.handle.wait_synced().await);
    eventually("three resyncs", SECS, || run.store.resyncs() >= 3).await;
    assert!(run.handle.metrics().resyncs >= 3);
    run.stop().await;
}

#[tokio::test]
async fn never_resyncs_without_a_resync_period() {
    let source = filled(3);
    let run = start(&source, fast_config());
    assert!(run.handle.wait_synced().await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(run.store.resyncs(), 0);
    run.stop().await;
}

#[tokio::test]
async fn has_synced_only_after_the_first_list_and_stays_synced_through_relists() {
    let source = filled(3);
    source.faults().fail_next_calls(2);
    let config = fast_config().with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(30)));
    let run = start(&source, config);
    assert!(!run.handle.has_synced());
    assert!(run.handle.last_synced_version().is_none());
    assert!(run.handle.wait_synced().await);
    assert!(run.handle.has_synced());
    source.faults().expire_history();
    source.put("x", 1);
    converged(&run, &source).await;
    assert!(run.handle.has_synced());
    run.stop().await;
}

#[tokio::test]
async fn stops_cleanly_when_cancelled_even_during_backoff() {
    let source = filled(3);
    source.faults().fail_next_calls(1000);
    let config = fast_config().with_backoff(BackoffConfig::default().with_initial(Duration::from_secs(60)));
    let run = start(&source, config);
    eventually("the first failure", SECS, || run.handle.metrics().errors >= 1).await;
    run.stop().await;
}

#[tokio::test]
async fn a_watch_that_closes_at_once_is_retried_after_backoff() {
    let source = filled(1);
    let config = fast_config().with_min_watch_duration(Duration::from_secs(1));
    let run = start(&source, config);
    assert!(run.handle.wait_synced().await);
    eventually("the watch is open", SECS, || run.handle.metrics().watches >= 1).await;
    source.faults().drop_watches();
    eventually("the early close counted as an error", SECS, || run.handle.metrics().errors >= 1).await;
    source.put("b", 2);
    converged(&run, &source).await;
    assert_eq!(run.handle.metrics().lists, 1);
    run.stop().await;
}

#[tokio::test]
async fn streaming_list_syncs_at_the_initial_events_end_bookmark() {
    let source = filled(700);
    let run = start(&source, fast_config().with_initial_list(InitialList::Streaming));
    assert!(run.handle.wait_synced().await);
    assert_eq!(run.store.replaces(), 1);
    assert_eq!(run.store.last_replace_version().unwrap(), "700");
    let m = run.handle.metrics();
    assert_eq!(m.list_pages, 0, "no list request was made");
    assert_eq!(m.events_added, 0, "initial events are a replace, not adds");
    source.put("later", 1);
    converged(&run, &source).await;
    source.faults().expire_history();
    source.delete("k00001");
    converged(&run, &source).await;
    assert_eq!(run.handle.metrics().relists, 1);
    assert_eq!(run.handle.metrics().list_pages, 0, "the relist streamed too");
    run.stop().await;
}

#[tokio::test]
async fn streaming_list_falls_back_to_list_and_watch_when_unsupported() {
    let source = MemorySource::with_config(MemoryConfig::default().with_streaming_lists(false));
    source.put("a", 1);
    let run = start(&source, fast_config().with_initial_list(InitialList::Streaming));
    assert!(run.handle.wait_synced().await);
    assert_eq!(run.handle.metrics().list_pages, 1);
    source.put("b", 2);
    converged(&run, &source).await;
    run.stop().await;
}

//! The memory source's own contract: revisions, paged consistent lists, watches from a
//! bounded history, bookmarks, streaming lists and fault hooks.

use std::time::Duration;

use futures::StreamExt;
use informer_core::{ErrorKind, ListOptions, ListerWatcher, Version, WatchEvent, WatchOptions};
use informer_memory::{MemoryConfig, MemorySource};

fn source(n: u32) -> MemorySource<u32> {
    let s = MemorySource::new();
    for i in 0..n {
        s.put(format!("k{i:03}"), i);
    }
    s
}

async fn next_event(
    stream: &mut informer_core::WatchStream<informer_memory::MemoryObject<u32>>,
) -> WatchEvent<informer_memory::MemoryObject<u32>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("an event in time").unwrap().unwrap()
}

#[test]
fn every_change_gets_the_next_revision_and_keeps_the_create_revision() {
    let s = MemorySource::new();
    assert_eq!(s.put("a", 1), 1);
    assert_eq!(s.put("b", 1), 2);
    assert_eq!(s.put("a", 2), 3);
    let a = s.get("a").unwrap();
    assert_eq!((a.create_revision(), a.mod_revision()), (1, 3));
    assert_eq!(s.delete("a"), Some(4));
    assert_eq!(s.delete("a"), None, "deleting a missing key is no change");
    assert_eq!(s.revision(), 4);
}

#[tokio::test]
async fn paged_lists_describe_the_revision_of_their_first_page() {
    let s = source(10);
    let first = s.list(&ListOptions::first_page(Some(4))).await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.version, "10");
    s.put("k000", 100);
    s.delete("k009");
    let mut token = first.continue_token.clone();
    let mut all: Vec<_> = first.items;
    while let Some(t) = token {
        let page = s.list(&ListOptions::first_page(Some(4)).with_continue(Some(t))).await.unwrap();
        assert_eq!(page.version, "10", "later pages are pinned to the first page's revision");
        all.extend(page.items);
        token = page.continue_token;
    }
    assert_eq!(all.len(), 10);
    assert_eq!(**all[0].value(), 0, "the change after the first page is not visible");
    assert!(all.iter().any(|o| o.object_key() == "k009"));
}

#[tokio::test]
async fn a_list_without_a_limit_or_with_a_large_one_is_a_single_page() {
    let s = source(5);
    for limit in [None, Some(5), Some(500)] {
        let page = s.list(&ListOptions::first_page(limit)).await.unwrap();
        assert_eq!(page.items.len(), 5);
        assert!(page.continue_token.is_none());
    }
}

#[tokio::test]
async fn a_continue_token_expires_when_its_snapshot_is_evicted() {
    let s = MemorySource::with_config(MemoryConfig::default().with_list_snapshots(1));
    for i in 0..10 {
        s.put(format!("k{i}"), i);
    }
    let first = s.list(&ListOptions::first_page(Some(2))).await.unwrap();
    let _other = s.list(&ListOptions::first_page(Some(2))).await.unwrap();
    let err = s.list(&ListOptions::first_page(Some(2)).with_continue(first.continue_token)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired);
    assert!(err.to_string().contains("continue token"), "{err}");
}

#[tokio::test]
async fn a_foreign_continue_token_is_malformed() {
    let s = source(3);
    let err = s.list(&ListOptions::first_page(Some(1)).with_continue(Some("garbage".into()))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert!(err.to_string().contains("garbage"));
}

#[tokio::test]
async fn a_list_newer_than_the_source_is_expired_unless_consistent() {
    let s = source(3);
    let ahead = ListOptions::first_page(None).with_min_version(Some(Version::from("99")));
    assert_eq!(s.list(&ahead).await.unwrap_err().kind(), ErrorKind::Expired);
    assert_eq!(s.list(&ahead.with_consistent(true)).await.unwrap().version, "3");
}

#[tokio::test]
async fn a_watch_delivers_every_change_after_its_revision_in_order() {
    let s = source(3);
    s.put("k000", 7);
    s.delete("k001");
    let mut w = s.watch(&Version::from("2"), &WatchOptions::default()).await.unwrap();
    let got: Vec<_> = [next_event(&mut w).await, next_event(&mut w).await, next_event(&mut w).await]
        .iter()
        .map(|e| (e.type_name(), e.version().to_string()))
        .collect();
    assert_eq!(got, [("ADDED", "3".to_string()), ("MODIFIED", "4".into()), ("DELETED", "5".into())]);
    s.put("later", 1);
    assert_eq!(next_event(&mut w).await.version(), "6", "changes after the watch started arrive too");
}

#[tokio::test]
async fn a_delete_event_carries_the_last_state_of_the_object() {
    let s = source(1);
    s.put("k000", 42);
    s.delete("k000");
    let mut w = s.watch(&Version::from("2"), &WatchOptions::default()).await.unwrap();
    match next_event(&mut w).await {
        WatchEvent::Deleted { object, version } => {
            assert_eq!(**object.value(), 42);
            assert_eq!(version, "3");
        }
        other => panic!("expected a delete, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watch_older_than_the_bounded_history_is_expired() {
    let s = MemorySource::with_config(MemoryConfig::default().with_history(5));
    for i in 0..10 {
        s.put("k", i);
    }
    assert_eq!(s.oldest_watchable_revision(), 5);
    let err = s.watch(&Version::from("4"), &WatchOptions::default()).await.err().expect("expired");
    assert_eq!(err.kind(), ErrorKind::Expired);
    assert!(err.to_string().contains("compacted up to revision 5"), "{err}");
    assert!(s.watch(&Version::from("5"), &WatchOptions::default()).await.is_ok());
}

#[tokio::test]
async fn a_watch_that_falls_behind_the_history_is_expired_when_it_reads() {
    let s = MemorySource::with_config(MemoryConfig::default().with_history(3));
    s.put("a", 0);
    let mut w = s.watch(&Version::from("1"), &WatchOptions::default()).await.unwrap();
    for i in 0..10 {
        s.put("a", i);
    }
    let err = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired);
}

#[tokio::test]
async fn idle_watches_get_bookmarks_at_the_current_revision_when_asked() {
    let s = MemorySource::with_config(MemoryConfig::default().with_bookmark_interval(Some(Duration::from_millis(5))));
    s.put("a", 1);
    let mut w = s.watch(&Version::from("1"), &WatchOptions::default()).await.unwrap();
    match next_event(&mut w).await {
        WatchEvent::Bookmark(b) => assert_eq!((b.version.as_str(), b.initial_events_end), ("1", false)),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    let mut no_bookmarks = WatchOptions::default();
    no_bookmarks.bookmarks = false;
    let mut quiet = s.watch(&Version::from("1"), &no_bookmarks).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(50), quiet.next()).await.is_err());
}

#[tokio::test]
async fn a_watch_ends_cleanly_after_its_timeout() {
    let s = source(1);
    let mut options = WatchOptions::default();
    options.timeout = Some(Duration::from_millis(20));
    let mut w = s.watch(&Version::from("1"), &options).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_streaming_list_replays_the_state_then_marks_the_end_then_watches() {
    let s = source(3);
    let mut w = s.watch_list(None, &WatchOptions::default()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(next_event(&mut w).await.type_name(), "ADDED");
    }
    match next_event(&mut w).await {
        WatchEvent::Bookmark(b) => assert!(b.initial_events_end && b.version == "3"),
        other => panic!("expected the end bookmark, got {other:?}"),
    }
    s.put("k000", 9);
    assert_eq!(next_event(&mut w).await.type_name(), "MODIFIED");
}

#[tokio::test]
async fn fault_hooks_end_watches_the_way_servers_do() {
    let s = source(1);
    let opts = WatchOptions::default();
    let mut closed = s.watch(&Version::from("1"), &opts).await.unwrap();
    s.faults().drop_watches();
    assert!(closed.next().await.is_none(), "drop_watches closes cleanly");

    let mut broken = s.watch(&Version::from("1"), &opts).await.unwrap();
    s.faults().break_watches();
    assert_eq!(broken.next().await.unwrap().unwrap_err().kind(), ErrorKind::Transient);

    let mut expired = s.watch(&Version::from("1"), &opts).await.unwrap();
    s.faults().expire_history();
    assert_eq!(expired.next().await.unwrap().unwrap_err().kind(), ErrorKind::Expired);

    s.faults().fail_next_calls(2);
    assert_eq!(s.list(&ListOptions::default()).await.unwrap_err().kind(), ErrorKind::Transient);
    assert!(s.watch(&Version::from("1"), &opts).await.is_err());
    assert!(s.list(&ListOptions::default()).await.is_ok(), "only the next two calls fail");
}

#[tokio::test]
async fn a_version_that_is_not_a_revision_is_malformed() {
    let s = source(1);
    let err = s.watch(&Version::from("abc"), &WatchOptions::default()).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert!(err.to_string().contains("abc"));
}

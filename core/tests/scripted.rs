//! Reflector behaviours that need exact control over what the source answers: malformed
//! pages and events, the options of a relist, bookmarks as resume points, store failures.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, stream};
use informer_core::{
    BackoffConfig, Bookmark, CancellationToken, ErrorKind, KeyError, KeyFn, Keyed, ListOptions, ListPage,
    ListerWatcher, ObjectKey, Reflector, ReflectorConfig, ReflectorHandle, SourceError, Store, SyncFailureKind,
    SyncState, Version, WatchEvent, WatchOptions, WatchStream,
};
use informer_tests::MapStore;

#[derive(Debug, Clone, PartialEq)]
struct Item {
    key: String,
    value: u32,
}

impl Keyed for Item {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        if self.key.is_empty() {
            return Err(KeyError::new("item has an empty key"));
        }
        Ok(ObjectKey::new(&self.key))
    }
}

fn item(key: &str, value: u32) -> Item {
    Item { key: key.into(), value }
}

type Events = Vec<Result<WatchEvent<Item>, SourceError>>;

/// A source that answers from a script and records what it was asked. When a script runs
/// out, lists wait for the test to add a page and watches run forever without events.
#[derive(Default)]
struct Scripted {
    pages: Mutex<VecDeque<Result<ListPage<Item>, SourceError>>>,
    watches: Mutex<VecDeque<Result<Events, SourceError>>>,
    list_calls: Mutex<Vec<ListOptions>>,
    watch_calls: Mutex<Vec<Version>>,
}

impl Scripted {
    fn page(self: &Arc<Self>, items: Vec<Item>, version: &str, next: Option<&str>) -> Arc<Self> {
        let page = ListPage { items, version: Version::from(version), continue_token: next.map(String::from) };
        self.pages.lock().unwrap().push_back(Ok(page));
        Arc::clone(self)
    }

    fn list_error(self: &Arc<Self>, err: SourceError) -> Arc<Self> {
        self.pages.lock().unwrap().push_back(Err(err));
        Arc::clone(self)
    }

    fn watch(self: &Arc<Self>, events: Events) -> Arc<Self> {
        self.watches.lock().unwrap().push_back(Ok(events));
        Arc::clone(self)
    }

    fn list_calls(&self) -> Vec<ListOptions> {
        self.list_calls.lock().unwrap().clone()
    }

    fn watch_calls(&self) -> Vec<String> {
        self.watch_calls.lock().unwrap().iter().map(|v| v.to_string()).collect()
    }
}

/// The scripted source as the reflector owns it (the script stays readable by the test).
struct Source(Arc<Scripted>);

impl ListerWatcher for Source {
    type Object = Item;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Item>, SourceError> {
        self.0.list_calls.lock().unwrap().push(options.clone());
        // An empty script waits until the test adds an answer.
        loop {
            let next = self.0.pages.lock().unwrap().pop_front();
            match next {
                Some(answer) => return answer,
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    async fn watch(&self, version: &Version, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
        self.0.watch_calls.lock().unwrap().push(version.clone());
        let next = self.0.watches.lock().unwrap().pop_front();
        match next {
            Some(Ok(events)) => Ok(Box::pin(stream::iter(events))),
            Some(Err(e)) => Err(e),
            None => Ok(Box::pin(stream::pending())),
        }
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

fn added(key: &str, value: u32, version: &str) -> Result<WatchEvent<Item>, SourceError> {
    Ok(WatchEvent::Added { object: item(key, value), version: Version::from(version) })
}

fn bookmark(version: &str) -> Result<WatchEvent<Item>, SourceError> {
    Ok(WatchEvent::Bookmark(Bookmark { version: Version::from(version), initial_events_end: false }))
}

struct Run {
    store: Arc<MapStore<Item>>,
    handle: ReflectorHandle,
    cancel: CancellationToken,
}

fn run(source: Arc<Scripted>) -> Run {
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let config = ReflectorConfig::default()
        .with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(1)))
        .with_min_watch_duration(Duration::ZERO)
        .with_page_size(Some(2));
    let reflector = Reflector::new(Source(source), Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));
    Run { store, handle, cancel }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..5000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn keys(store: &MapStore<Item>) -> Vec<String> {
    store.snapshot().keys().map(|k| k.to_string()).collect()
}

#[tokio::test]
async fn a_page_with_a_different_version_is_malformed_and_the_store_keeps_its_last_good_state() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1), item("b", 1)], "3", None)
        .watch(vec![Err(SourceError::expired("gone"))])
        .page(vec![item("c", 1), item("d", 1)], "7", Some("t1"))
        .page(vec![item("e", 1)], "8", None);
    let r = run(Arc::clone(&source));
    wait_for("the malformed list fails", || r.handle.metrics().errors >= 2).await;
    assert_eq!(keys(&r.store), ["a", "b"], "nothing of the malformed list reached the store");
    assert_eq!(r.store.replaces(), 1);
    assert_eq!(r.handle.last_synced_version().unwrap(), "3");
    r.cancel.cancel();
}

#[tokio::test]
async fn a_page_without_a_version_is_malformed() {
    let source = Arc::new(Scripted::default()).page(vec![item("a", 1)], "", None);
    let r = run(Arc::clone(&source));
    wait_for("the error", || r.handle.metrics().errors >= 1).await;
    assert!(r.store.is_empty());
    assert!(!r.handle.has_synced());
    r.cancel.cancel();
}

#[tokio::test]
async fn a_continue_token_that_repeats_is_malformed_instead_of_looping() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "2", Some("same"))
        .page(vec![item("b", 1)], "2", Some("same"))
        .page(vec![item("x", 1)], "4", None);
    let r = run(Arc::clone(&source));
    assert!(r.handle.wait_synced().await);
    assert_eq!(r.handle.metrics().errors, 1);
    assert_eq!(keys(&r.store), ["x"], "the store got the retried list, not the looping one");
    r.cancel.cancel();
}

#[tokio::test]
async fn an_event_without_a_version_ends_the_watch_and_it_resumes_from_the_last_good_version() {
    let bad = Ok(WatchEvent::Modified { object: item("a", 666), version: Version::from("") });
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "1", None)
        .watch(vec![added("b", 1, "2"), bad, added("c", 1, "9")])
        .watch(vec![added("d", 1, "3")]);
    let r = run(Arc::clone(&source));
    wait_for("the second watch", || source.watch_calls().len() >= 3).await;
    assert_eq!(source.watch_calls()[..2], ["1", "2"]);
    assert_eq!(keys(&r.store), ["a", "b", "d"]);
    assert_eq!(r.store.get_by_key("a").unwrap().value, 1, "the malformed event was not applied");
    assert_eq!(r.handle.metrics().lists, 1);
    r.cancel.cancel();
}

#[tokio::test]
async fn a_decode_error_from_the_backend_is_retried_without_losing_the_store() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "1", None)
        .watch(vec![added("b", 1, "2"), Err(SourceError::malformed("line 3: expected value at column 1"))])
        .watch(vec![added("c", 1, "3")]);
    let r = run(Arc::clone(&source));
    wait_for("c arrives", || r.store.get_by_key("c").is_some()).await;
    assert_eq!(source.watch_calls()[..2], ["1", "2"]);
    assert_eq!(keys(&r.store), ["a", "b", "c"]);
    assert_eq!(r.handle.metrics().errors, 1);
    assert_eq!(r.handle.metrics().lists, 1);
    r.cancel.cancel();
}

#[tokio::test]
async fn a_bookmark_is_where_the_next_watch_resumes() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "1", None)
        .watch(vec![added("b", 1, "2"), bookmark("9")])
        .watch(vec![]);
    let r = run(Arc::clone(&source));
    wait_for("two re-watches", || source.watch_calls().len() >= 3).await;
    assert_eq!(source.watch_calls()[..3], ["1", "9", "9"]);
    assert_eq!(r.handle.last_synced_version().unwrap(), "9");
    assert_eq!(keys(&r.store), ["a", "b"]);
    r.cancel.cancel();
}

#[tokio::test]
async fn a_relist_asks_for_not_older_than_the_last_version_then_falls_back_to_a_consistent_read() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "5", None)
        .watch(vec![added("b", 1, "6"), Err(SourceError::expired("410 Gone"))])
        .list_error(SourceError::expired("too large resource version 6"))
        .page(vec![item("c", 1)], "11", None);
    let r = run(Arc::clone(&source));
    wait_for("the consistent relist", || r.handle.last_synced_version().is_some_and(|v| v == "11")).await;
    let calls = source.list_calls();
    assert_eq!(calls.len(), 3);
    assert_eq!((calls[0].min_version.clone(), calls[0].consistent), (None, false));
    assert_eq!((calls[1].min_version.clone(), calls[1].consistent), (Some(Version::from("6")), false));
    assert!(calls[2].consistent, "after the version was unavailable the list reads the newest state");
    assert_eq!(keys(&r.store), ["c"]);
    assert_eq!(r.handle.metrics().relists, 1);
    r.cancel.cancel();
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_from_the_first_page() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1), item("b", 1)], "5", Some("t"))
        .list_error(SourceError::expired("continue token expired"))
        .page(vec![item("a", 2), item("b", 2)], "8", Some("u"))
        .page(vec![item("c", 2)], "8", None);
    let r = run(Arc::clone(&source));
    assert!(r.handle.wait_synced().await);
    let calls = source.list_calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[1].continue_token.as_deref(), Some("t"));
    assert_eq!(calls[2].continue_token, None, "the list starts over");
    assert!(calls[2].consistent);
    assert_eq!(calls[3].continue_token.as_deref(), Some("u"));
    assert_eq!(keys(&r.store), ["a", "b", "c"]);
    assert_eq!(r.handle.metrics().lists, 2);
    r.cancel.cancel();
}

#[tokio::test]
async fn an_object_the_store_rejects_is_counted_and_the_watch_goes_on_until_the_repair() {
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "1", None)
        .watch(vec![added("", 1, "2"), added("b", 1, "3")]);
    let r = run(Arc::clone(&source));
    wait_for("b arrives", || r.store.get_by_key("b").is_some()).await;
    let m = r.handle.metrics();
    assert_eq!(m.store_errors, 1);
    assert_eq!(m.errors, 0, "the source did nothing wrong");
    assert_eq!(r.handle.last_synced_version().unwrap(), "3");
    r.cancel.cancel();
}

#[test]
fn source_errors_say_their_kind_and_message() {
    let err = SourceError::malformed("GET http://x/pods: body is not JSON");
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert_eq!(err.to_string(), "malformed error: GET http://x/pods: body is not JSON");
}

/// A source whose streaming list answers "too large" while asked for a minimum version.
struct TooLargeWhileMin {
    calls: Arc<Mutex<Vec<Option<Version>>>>,
}

impl ListerWatcher for TooLargeWhileMin {
    type Object = Item;

    async fn list(&self, _: &ListOptions) -> Result<ListPage<Item>, SourceError> {
        std::future::pending().await
    }

    async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
        Ok(Box::pin(stream::pending()))
    }

    async fn watch_list(&self, min: Option<&Version>, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
        self.calls.lock().unwrap().push(min.cloned());
        let n = self.calls.lock().unwrap().len();
        match (n, min) {
            (1, None) => Ok(Box::pin(stream::iter(vec![
                added("a", 1, "5"),
                Ok(WatchEvent::Bookmark(Bookmark { version: Version::from("5"), initial_events_end: true })),
                Err(SourceError::expired("410 Gone")),
            ]))),
            (_, Some(_)) => Err(SourceError::expired("too large resource version")),
            (_, None) => Ok(Box::pin(
                stream::iter(vec![
                    added("b", 1, "9"),
                    Ok(WatchEvent::Bookmark(Bookmark { version: Version::from("9"), initial_events_end: true })),
                ])
                .chain(stream::pending()),
            )),
        }
    }

    fn describe(&self) -> String {
        "too-large".into()
    }
}

#[tokio::test]
async fn a_streaming_relist_falls_back_to_the_newest_state_when_its_version_is_unavailable() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let config = ReflectorConfig::default()
        .with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(1)))
        .with_initial_list(informer_core::InitialList::Streaming);
    let reflector = Reflector::new(TooLargeWhileMin { calls: Arc::clone(&calls) }, Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));
    wait_for("the consistent streaming relist", || handle.last_synced_version().is_some_and(|v| v == "9")).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls, [None, Some(Version::from("5")), None]);
    assert_eq!(keys(&store), ["b"]);
    cancel.cancel();
}

fn forbidden() -> SourceError {
    SourceError::permanent("scripted: list /items answered 403 Forbidden: user nobody cannot list items")
        .with_reason(SyncFailureKind::Forbidden)
}

#[tokio::test]
async fn a_refused_list_is_failing_with_its_reason_and_attempts_until_it_succeeds() {
    let source = Arc::new(Scripted::default()).list_error(forbidden()).list_error(forbidden()).list_error(forbidden());
    let r = run(Arc::clone(&source));
    wait_for("three attempts", || source.list_calls().len() == 4).await;
    let failure = r.handle.wait_synced_for(Duration::from_millis(50)).await.expect_err("not synced");
    assert_eq!(failure.kind, SyncFailureKind::Forbidden);
    assert_eq!(failure.attempts, 3);
    assert!(failure.is_permanent());
    assert!(failure.message.contains("403 Forbidden"), "{failure}");
    assert!(failure.to_string().starts_with("forbidden: scripted: list /items answered 403"), "{failure}");
    assert!(!r.handle.has_synced());

    r.cancel.cancel();

    // Once the rights arrive, the next list succeeds and the state says synced.
    let source = Arc::new(Scripted::default()).list_error(forbidden()).page(vec![item("a", 1)], "4", None);
    let r = run(source);
    r.handle.wait_synced_for(Duration::from_secs(5)).await.expect("synced after one refusal");
    assert_eq!(r.handle.sync_state(), SyncState::Synced);
    assert_eq!(keys(&r.store), ["a"]);
    r.cancel.cancel();
}

#[tokio::test]
async fn wait_synced_for_names_a_stopped_reflector_and_a_plain_time_out() {
    let r = run(Arc::new(Scripted::default()));
    let failure = r.handle.wait_synced_for(Duration::from_millis(20)).await.expect_err("the list hangs");
    assert_eq!(failure.kind, SyncFailureKind::TimedOut);
    r.cancel.cancel();
    let failure = r.handle.wait_synced_for(Duration::from_secs(5)).await.expect_err("stopped");
    assert_eq!(failure.kind, SyncFailureKind::Stopped);
    assert_eq!(r.handle.sync_state(), SyncState::Stopped);
}

#[tokio::test]
async fn a_change_the_store_refuses_is_recorded_and_repaired_by_a_relist() {
    // The store's key function refuses "b" once (like an index function that fails once).
    let refusals = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let key_fn = KeyFn::new({
        let refusals = Arc::clone(&refusals);
        move |i: &Item| {
            if i.key == "b" && refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(KeyError::new("index node: cannot read b's node"));
            }
            Ok(ObjectKey::new(&i.key))
        }
    });
    let source = Arc::new(Scripted::default())
        .page(vec![item("a", 1)], "1", None)
        .watch(vec![added("b", 1, "2"), added("c", 1, "3")]);
    let store = Arc::new(MapStore::new(key_fn));
    let config = ReflectorConfig::default()
        .with_backoff(BackoffConfig::default().with_initial(Duration::from_millis(1)))
        .with_min_watch_duration(Duration::ZERO);
    let reflector = Reflector::new(Source(Arc::clone(&source)), Arc::clone(&store), config);
    let handle = reflector.handle();
    let mut states = handle.subscribe_sync_state();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));

    // The repair relist waits for its page: meanwhile the state says why the mirror is wrong.
    wait_for("the repair relist", || source.list_calls().len() == 2).await;
    let refused = states.borrow_and_update().clone();
    let failure = refused.failure().expect("failing while the repair runs");
    assert_eq!(failure.kind, SyncFailureKind::StoreRefused);
    assert!(failure.message.contains("version 2") && failure.message.contains("cannot read b's node"), "{failure}");
    assert_eq!(keys(&store), ["a", "c"], "the other keys stay current");

    source.page(vec![item("a", 1), item("b", 1), item("c", 1)], "3", None);
    wait_for("b repaired", || keys(&store) == ["a", "b", "c"]).await;
    let m = handle.metrics();
    assert_eq!((m.store_errors, m.store_repairs, m.errors), (1, 1, 0));
    assert_eq!(source.list_calls()[1].min_version.as_deref(), Some("3"), "the relist is not older than the watch");
    handle.wait_synced_for(Duration::from_secs(5)).await.expect("synced again after the repair");
    cancel.cancel();
}

/// A source whose streaming list sends one object, then nothing: its end bookmark was lost
/// on the way (kubernetes #140890). Its paged list works.
struct LostEndBookmark {
    streams: Arc<Mutex<u32>>,
}

impl ListerWatcher for LostEndBookmark {
    type Object = Item;

    async fn list(&self, _: &ListOptions) -> Result<ListPage<Item>, SourceError> {
        Ok(ListPage { items: vec![item("a", 1), item("b", 1)], version: Version::from("6"), continue_token: None })
    }

    async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
        Ok(Box::pin(stream::pending()))
    }

    async fn watch_list(&self, _: Option<&Version>, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
        *self.streams.lock().unwrap() += 1;
        Ok(Box::pin(stream::iter(vec![added("a", 1, "5")]).chain(stream::pending())))
    }

    fn describe(&self) -> String {
        "lost-end-bookmark".into()
    }
}

#[tokio::test]
async fn a_streaming_list_without_its_end_bookmark_falls_back_to_a_paged_list_after_the_stall_time() {
    let streams = Arc::new(Mutex::new(0));
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let config = ReflectorConfig::default().with_initial_events_stall(Duration::from_millis(50));
    assert_eq!(config.initial_list, informer_core::InitialList::Auto, "streaming is the default");
    let reflector = Reflector::new(LostEndBookmark { streams: Arc::clone(&streams) }, Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));
    handle.wait_synced_for(Duration::from_secs(5)).await.expect("synced through the paged list");
    assert_eq!(keys(&store), ["a", "b"]);
    assert_eq!(handle.last_synced_version().unwrap(), "6");
    let m = handle.metrics();
    assert_eq!((m.stream_fallbacks, m.list_pages, m.errors), (1, 1, 0));
    assert_eq!(*streams.lock().unwrap(), 1, "one streaming attempt, then paged lists");
    cancel.cancel();
}

#[tokio::test]
async fn a_streaming_list_past_its_total_deadline_falls_back_even_while_objects_arrive() {
    struct Trickle;
    impl ListerWatcher for Trickle {
        type Object = Item;
        async fn list(&self, _: &ListOptions) -> Result<ListPage<Item>, SourceError> {
            Ok(ListPage { items: vec![item("z", 1)], version: Version::from("9"), continue_token: None })
        }
        async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
            Ok(Box::pin(stream::pending()))
        }
        async fn watch_list(&self, _: Option<&Version>, _: &WatchOptions) -> Result<WatchStream<Item>, SourceError> {
            // One object every 10 ms, never the end bookmark.
            let ticks = futures::stream::unfold(0u32, |n| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Some((added(&format!("t{n}"), 1, "1"), n + 1))
            });
            Ok(Box::pin(ticks))
        }
        fn describe(&self) -> String {
            "trickle".into()
        }
    }
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let config = ReflectorConfig::default()
        .with_initial_list(informer_core::InitialList::Streaming)
        .with_initial_events_deadline(Some(Duration::from_millis(100)));
    let reflector = Reflector::new(Trickle, Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));
    handle.wait_synced_for(Duration::from_secs(5)).await.expect("synced through the paged list");
    assert_eq!(keys(&store), ["z"]);
    assert_eq!(handle.metrics().stream_fallbacks, 1);
    cancel.cancel();
}

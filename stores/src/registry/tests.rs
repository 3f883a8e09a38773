//! The [`Informers`] contract, against the in-memory source and a source whose list always
//! fails.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use informer_core::{
    BackoffConfig, KeyFn, ListOptions, ListPage, ReflectorConfig, SourceError, SyncState, Version, WatchOptions,
    WatchStream,
};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};

use super::*;
use crate::Cache;

type Obj = MemoryObject<u32>;

fn config() -> InformerConfig {
    let backoff = BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max(Duration::from_millis(10));
    InformerConfig::default().with_reflector(ReflectorConfig::default().with_backoff(backoff))
}

fn named(name: &str) -> MemorySource<u32> {
    let source = MemorySource::with_config(MemoryConfig::default().with_name(name));
    source.put(format!("{name}-0"), 0);
    source
}

/// A source whose list fails forever (an unreachable server).
struct NeverLists;

impl ListerWatcher for NeverLists {
    type Object = Obj;

    async fn list(&self, _: &ListOptions) -> Result<ListPage<Obj>, SourceError> {
        Err(SourceError::transient("never-lists: connection refused"))
    }

    async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<Obj>, SourceError> {
        Err(SourceError::transient("never-lists: connection refused"))
    }

    fn describe(&self) -> String {
        "never-lists".into()
    }
}

/// Waits until the informer's reflector reports a failure.
async fn wait_failing(handle: &InformerHandle<Obj, Cache<Obj>>) {
    let mut states = handle.reflector().subscribe_sync_state();
    states.wait_for(|s| matches!(s, SyncState::Failing(_))).await.unwrap();
}

#[tokio::test]
async fn two_consumers_of_one_key_share_one_informer_and_one_list() {
    let source = named("pods");
    let informers = Informers::new();
    let built = AtomicU32::new(0);
    let make = || {
        built.fetch_add(1, Ordering::SeqCst);
        Informer::with_indexer(source.clone(), Indexer::new(KeyFn::keyed()), config())
    };
    let first = informers.get_or_insert(SourceKey::of(&source), make).unwrap();
    let second = informers.get_or_insert(SourceKey::of(&source), make).unwrap();
    // A clone of the registry is the same registry.
    let third = informers.clone().get_or_insert_indexer(source.clone(), || unreachable!(), config()).unwrap();
    assert_eq!(built.load(Ordering::SeqCst), 1, "the factory of a registered key is not called");
    assert!(first.ptr_eq(&second) && first.ptr_eq(&third));
    assert_eq!(informers.len(), 1);

    informers.start().unwrap();
    assert!(informers.wait_all_synced().await);
    let mut events = second.subscribe();
    source.put("pods-1", 1);
    while first.store().len() < 2 {
        events.recv().await.expect("an event");
    }
    let metrics = third.reflector().metrics();
    assert_eq!((metrics.lists, metrics.watches), (1, 1), "one list and one watch for three consumers");
    assert!(informers.shutdown().await.is_empty());
}

#[tokio::test]
async fn different_keys_get_different_informers() {
    let (pods, nodes) = (named("pods"), named("nodes"));
    let informers = Informers::new();
    let a = informers.get_or_insert_indexer(pods.clone(), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    let b = informers.get_or_insert_indexer(nodes.clone(), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    // The same source under another selector is another informer too.
    let key = SourceKey::of(&pods).with_selector("again");
    let c =
        informers.get_or_insert(key, || Informer::with_indexer(pods.clone(), Indexer::new(KeyFn::keyed()), config()));
    let c = c.unwrap();
    assert!(!a.ptr_eq(&b) && !a.ptr_eq(&c));
    assert_eq!(
        informers.keys(),
        [SourceKey::new("nodes", ""), SourceKey::new("pods", ""), SourceKey::new("pods", "again")]
    );
    informers.start().unwrap();
    assert!(informers.wait_all_synced().await);
    assert_eq!(a.store().get_by_key("pods-0").map(|o| *o.value().as_ref()), Some(0));
    assert!(b.store().get_by_key("pods-0").is_none() && b.store().get_by_key("nodes-0").is_some());
    for handle in [&a, &b, &c] {
        assert_eq!(handle.reflector().metrics().lists, 1);
    }
    assert!(informers.shutdown().await.is_empty());
}

#[tokio::test]
async fn another_type_under_a_registered_key_is_an_error_naming_the_key_and_both_types() {
    let source = named("pods");
    let informers = Informers::new();
    informers.get_or_insert_indexer(source.clone(), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    // Same object type, other store type.
    let err = informers
        .get_or_insert(SourceKey::of(&source), || Informer::with_cache(source.clone(), KeyFn::keyed(), config()))
        .unwrap_err();
    let RegistryError::TypeMismatch { key, registered, requested } = &err else { panic!("{err:?}") };
    assert_eq!(key, &SourceKey::new("pods", ""));
    assert!(registered.contains("Indexer<") && requested.contains("Cache<"), "{err}");
    assert!(err.to_string().contains("`pods`"), "{err}");
    // Other object type, through `get`.
    let err = informers.get::<MemoryObject<String>, Indexer<MemoryObject<String>>>(key).unwrap_err();
    assert!(err.to_string().contains("String") && err.to_string().contains("u32"), "{err}");
    assert_eq!(informers.len(), 1, "a refused request registers nothing");
}

#[tokio::test]
async fn an_informer_registered_after_start_is_started_at_once() {
    let informers = Informers::new();
    informers.start().unwrap();
    let late = named("late");
    let handle = informers.get_or_insert_indexer(late.clone(), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    assert!(handle.wait_synced().await, "started without a second start()");
    assert!(informers.statuses()[0].started);
    // A second start() does not start it twice.
    informers.start().unwrap();
    late.put("late-1", 1);
    let mut events = handle.subscribe();
    while handle.store().len() < 2 {
        events.recv().await.expect("an event");
    }
    assert_eq!(handle.reflector().metrics().lists, 1);
    assert!(informers.shutdown().await.is_empty());
}

#[tokio::test]
async fn wait_all_synced_is_true_once_every_informer_synced() {
    let informers = Informers::new();
    let handles: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| informers.get_or_insert_indexer(named(name), || Indexer::new(KeyFn::keyed()), config()).unwrap())
        .collect();
    informers.start().unwrap();
    assert!(informers.wait_all_synced().await);
    assert!(handles.iter().all(|h| h.has_synced() && h.store().len() == 1));
    informers.wait_all_synced_timeout(Duration::from_secs(30)).await.unwrap();
    assert!(informers.statuses().iter().all(|s| s.started && s.synced && s.sync_state == SyncState::Synced));
    assert!(informers.shutdown().await.is_empty());
}

#[tokio::test]
async fn a_source_that_never_syncs_is_named_with_its_failure() {
    let informers = Informers::new();
    let good = informers.get_or_insert_indexer(named("good"), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    let bad = informers
        .get_or_insert(SourceKey::new("never-lists", ""), || Informer::with_cache(NeverLists, KeyFn::keyed(), config()))
        .unwrap();
    informers.start().unwrap();
    assert!(good.wait_synced().await);
    wait_failing(&bad).await;

    let err = informers.wait_all_synced_timeout(Duration::from_millis(20)).await.unwrap_err();
    assert!(!err.stopped);
    assert_eq!(err.unsynced.len(), 1, "only the laggard: {err}");
    assert_eq!(err.unsynced[0].key, SourceKey::new("never-lists", ""));
    let text = err.to_string();
    assert!(text.starts_with("1 informer not synced: `never-lists` (failing: unavailable"), "{text}");
    assert!(text.contains("connection refused"), "{text}");

    // A waiter without a time-out is released by shutdown, with `false`.
    let waiter = tokio::spawn({
        let informers = informers.clone();
        async move { informers.wait_all_synced().await }
    });
    assert!(informers.shutdown().await.is_empty(), "cancelled while retrying is a clean stop");
    assert!(!waiter.await.unwrap());
    let err = informers.wait_all_synced_timeout(Duration::from_secs(30)).await.unwrap_err();
    assert!(err.stopped && err.to_string().contains("shut down"), "{err}");
}

#[tokio::test]
async fn shutdown_stops_every_informer_and_returns_the_errors_by_key() {
    let informers = Informers::new();
    let good = informers.get_or_insert_indexer(named("good"), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    let gives_up = {
        let mut config = config();
        config.reflector.backoff = config.reflector.backoff.with_max_retries(Some(2));
        informers
            .get_or_insert(SourceKey::new("never-lists", "gives-up"), || {
                Informer::with_cache(NeverLists, KeyFn::keyed(), config)
            })
            .unwrap()
    };
    let never_started = SourceKey::new("never-lists", "late");
    informers.start().unwrap();
    assert!(good.wait_synced().await);
    assert!(!gives_up.wait_synced().await, "the reflector gave up");
    let mut events = good.subscribe();

    let errors = informers.shutdown().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, SourceKey::new("never-lists", "gives-up"));
    assert!(errors[0].1.to_string().contains("gave up"), "{}", errors[0].1);
    // Every subscription ended: the informers stopped.
    while events.recv().await.is_some() {}
    assert_eq!(good.reflector().sync_state(), SyncState::Stopped);

    // Stopped for good: no new keys, a second shutdown has nothing more to say.
    let err = informers
        .get_or_insert(never_started.clone(), || Informer::with_cache(NeverLists, KeyFn::keyed(), config()))
        .unwrap_err();
    assert_eq!(err, RegistryError::ShutDown { key: never_started });
    informers.start().unwrap();
    assert!(informers.shutdown().await.is_empty());
}

#[tokio::test]
async fn shutdown_before_start_ends_the_informers_subscriptions_and_waits() {
    let informers = Informers::new();
    let handle = informers.get_or_insert_indexer(named("idle"), || Indexer::new(KeyFn::keyed()), config()).unwrap();
    let mut events = handle.subscribe();
    assert!(informers.shutdown().await.is_empty());
    assert!(!handle.wait_synced().await, "never synced, and says so");
    assert!(events.recv().await.is_none());
}

#[test]
fn the_registry_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Informers>();
}

//! The batch boundary and warm restarts: each version's events reach the store as one
//! `apply_batch`, a full store holds the watch back, and a resumed reflector watches instead of
//! listing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::channel::mpsc;
use informer_core::{
    Bookmark, CancellationToken, Change, KeyFn, ListOptions, ListPage, ListerWatcher, ObjectKey, Reflector,
    ReflectorConfig, SourceError, Store, StoreError, Version, WatchEvent, WatchOptions, WatchStream,
};
use informer_memory::MemorySource;
use informer_tests::reflect::eventually;

type Event = Result<WatchEvent<String>, SourceError>;

/// A source with an empty list at version 1 whose one watch is fed by the test.
struct Fed(Mutex<Option<mpsc::UnboundedReceiver<Event>>>);

impl ListerWatcher for Fed {
    type Object = String;

    async fn list(&self, _: &ListOptions) -> Result<ListPage<String>, SourceError> {
        Ok(ListPage { items: Vec::new(), version: Version::from("1"), continue_token: None })
    }

    async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<String>, SourceError> {
        match self.0.lock().unwrap().take() {
            Some(rx) => Ok(Box::pin(rx)),
            None => Ok(Box::pin(futures::stream::pending())),
        }
    }

    fn describe(&self) -> String {
        "fed".into()
    }
}

fn added(key: &str, version: &str) -> Event {
    Ok(WatchEvent::Added { object: key.to_string(), version: Version::from(version) })
}

/// Records every batch as (version, keys); can be made to report itself full.
#[derive(Default)]
struct Batches {
    log: Mutex<Vec<(String, Vec<String>)>>,
    full: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Batches {
    fn log(&self) -> Vec<(String, Vec<String>)> {
        self.log.lock().unwrap().clone()
    }

    fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl Store for Batches {
    type Object = String;
    fn add(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.log.lock().unwrap().push((String::new(), vec![o.to_string()]));
        Ok(())
    }
    fn update(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.add(o)
    }
    fn delete(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.add(o)
    }
    fn list(&self) -> Vec<Arc<String>> {
        Vec::new()
    }
    fn list_keys(&self) -> Vec<ObjectKey> {
        Vec::new()
    }
    fn get(&self, _: &String) -> Result<Option<Arc<String>>, StoreError> {
        Ok(None)
    }
    fn get_by_key(&self, _: &str) -> Option<Arc<String>> {
        None
    }
    fn replace(&self, _: Vec<Arc<String>>, _: Version) -> Result<(), StoreError> {
        Ok(())
    }
    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn apply_batch(&self, version: &Version, changes: Vec<Change<String>>) -> Result<(), StoreError> {
        let keys = changes.iter().map(|c| c.object().to_string()).collect();
        self.log.lock().unwrap().push((version.to_string(), keys));
        Ok(())
    }
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.full.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.full.load(Ordering::SeqCst) { Poll::Pending } else { Poll::Ready(()) }
    }
}

fn batch(version: &str, keys: &[&str]) -> (String, Vec<String>) {
    (version.to_string(), keys.iter().map(|k| k.to_string()).collect())
}

fn start(store: Arc<Batches>) -> (mpsc::UnboundedSender<Event>, CancellationToken, informer_core::ReflectorHandle) {
    let (tx, rx) = mpsc::unbounded();
    let reflector = Reflector::new(Fed(Mutex::new(Some(rx))), store, ReflectorConfig::default());
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    tokio::spawn(reflector.run(cancel.clone()));
    (tx, cancel, handle)
}

#[tokio::test]
async fn each_versions_events_reach_the_store_as_one_batch() {
    let store = Arc::new(Batches::default());
    let (tx, cancel, _) = start(Arc::clone(&store));
    // One server response: a transaction at 5, one change at 6, a bookmark at 9.
    for event in [added("a", "5"), added("b", "5"), added("c", "5"), added("d", "6")] {
        tx.unbounded_send(event).unwrap();
    }
    tx.unbounded_send(Ok(WatchEvent::Bookmark(Bookmark { version: Version::from("9"), initial_events_end: false })))
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || async { store.log().len() >= 3 }).await);
    // The next response: nothing follows it yet, so its batch closes when the stream has no more.
    tx.unbounded_send(added("e", "10")).unwrap();
    assert!(eventually(Duration::from_secs(5), || async { store.log().len() >= 4 }).await);
    assert_eq!(store.log(), [batch("5", &["a", "b", "c"]), batch("6", &["d"]), batch("9", &[]), batch("10", &["e"])]);
    cancel.cancel();
}

#[tokio::test]
async fn a_full_store_holds_the_watch_back_until_it_is_ready() {
    let store = Arc::new(Batches::default());
    store.set_full(true);
    let (tx, cancel, handle) = start(Arc::clone(&store));
    assert!(handle.wait_synced().await);
    tx.unbounded_send(added("a", "2")).unwrap();
    tx.unbounded_send(added("b", "3")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.log().is_empty(), "nothing applied while full");
    assert_eq!(handle.last_synced_version().as_deref(), Some("1"));
    store.set_full(false);
    assert!(eventually(Duration::from_secs(5), || async { store.log().len() == 2 }).await);
    assert_eq!(handle.last_synced_version().as_deref(), Some("3"));
    cancel.cancel();
}

#[tokio::test]
async fn a_resumed_reflector_watches_from_its_version_without_listing() {
    let source = MemorySource::<String>::new();
    source.put("a", "1".into());
    // The saved state: `a` at revision 1 (it is deleted since).
    let saved = Version::from(source.revision().to_string());
    let a = Arc::new(source.get("a").unwrap());
    source.put("b", "2".into());
    source.delete("a");
    let store = Arc::new(informer_tests::MapStore::new(KeyFn::keyed()));
    let reflector = Reflector::new(source.clone(), Arc::clone(&store), ReflectorConfig::default())
        .resume_with(vec![a], saved)
        .unwrap();
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    assert!(handle.wait_synced().await, "a resumed store counts as synced");
    assert!(
        eventually(Duration::from_secs(5), || async { handle.last_synced_version().as_deref() == Some("3") }).await
    );
    let keys: Vec<String> = store.snapshot().keys().map(|k| k.to_string()).collect();
    assert_eq!(keys, ["b"]);
    let metrics = handle.metrics();
    assert_eq!((metrics.lists, metrics.list_pages, metrics.watches), (0, 0, 1), "{metrics:?}");
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_resumed_reflector_relists_when_its_version_expired() {
    let source = MemorySource::<String>::new();
    source.put("a", "1".into());
    source.put("b", "2".into());
    source.compact();
    source.put("c", "3".into());
    let store = Arc::new(informer_tests::MapStore::new(KeyFn::keyed()));
    let reflector =
        Reflector::new(source.clone(), Arc::clone(&store), ReflectorConfig::default()).resume_from(Version::from("1"));
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    assert!(eventually(Duration::from_secs(5), || async { store.len() == 3 }).await);
    let metrics = handle.metrics();
    assert_eq!((metrics.lists, metrics.relists), (1, 1), "{metrics:?}");
    cancel.cancel();
    task.await.unwrap().unwrap();
}

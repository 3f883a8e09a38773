//! Helpers shared by the integration tests: a reflector running in the background, a store
//! that can be paused, polling until a condition holds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use informer_core::{
    BackoffConfig, CancellationToken, KeyFn, ListerWatcher, ObjectKey, Reflector, ReflectorConfig, ReflectorHandle,
    Store, StoreError, Version,
};
use informer_http::HttpItem;
use informer_tests::MapStore;

/// Small backoff and short watches, for fast tests.
pub fn reflector_config() -> ReflectorConfig {
    ReflectorConfig::default()
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(20)).with_max(Duration::from_millis(200)),
        )
        .with_watch_timeout(Some(Duration::from_secs(5)))
        .with_min_watch_duration(Duration::from_millis(1))
}

pub mod collection;

/// A reflector running on a task; cancelled on drop.
pub struct Running {
    pub handle: ReflectorHandle,
    pub cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn start<L, S>(source: L, store: S, config: ReflectorConfig) -> Self
    where
        L: ListerWatcher,
        S: Store<Object = L::Object> + 'static,
    {
        let reflector = Reflector::new(source, store, config);
        let handle = reflector.handle();
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            reflector.run(token).await.expect("reflector runs until cancelled");
        });
        Self { handle, cancel, task: Some(task) }
    }

    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("reflector task");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn map_store() -> Arc<MapStore<HttpItem>> {
    Arc::new(MapStore::new(KeyFn::keyed()))
}

/// The store as key → value.
pub fn contents(store: &MapStore<HttpItem>) -> BTreeMap<String, serde_json::Value> {
    store.snapshot().into_iter().map(|(k, v)| (k.to_string(), v.value.clone())).collect()
}

/// Polls `check` every 20 ms until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A store that can be paused: while paused, the next write blocks its caller (the
/// reflector) until resumed, so the reflector stops consuming its watch.
pub struct GateStore<S> {
    inner: S,
    paused: parking_lot::Mutex<bool>,
    resumed: parking_lot::Condvar,
}

impl<S> GateStore<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, paused: parking_lot::Mutex::new(false), resumed: parking_lot::Condvar::new() }
    }

    pub fn pause(&self) {
        *self.paused.lock() = true;
    }

    pub fn resume(&self) {
        *self.paused.lock() = false;
        self.resumed.notify_all();
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn gate(&self) {
        // Bounded, so a failing test cannot leave a runtime thread blocked forever.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut paused = self.paused.lock();
        while *paused && !self.resumed.wait_until(&mut paused, deadline).timed_out() {}
    }
}

impl<S: Store> Store for GateStore<S> {
    type Object = S::Object;
    fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.gate();
        self.inner.add(object)
    }
    fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.gate();
        self.inner.update(object)
    }
    fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.gate();
        self.inner.delete(object)
    }
    fn list(&self) -> Vec<Arc<Self::Object>> {
        self.inner.list()
    }
    fn list_keys(&self) -> Vec<ObjectKey> {
        self.inner.list_keys()
    }
    fn get(&self, object: &Self::Object) -> Result<Option<Arc<Self::Object>>, StoreError> {
        self.inner.get(object)
    }
    fn get_by_key(&self, key: &str) -> Option<Arc<Self::Object>> {
        self.inner.get_by_key(key)
    }
    fn replace(&self, items: Vec<Arc<Self::Object>>, version: Version) -> Result<(), StoreError> {
        self.gate();
        self.inner.replace(items, version)
    }
    fn resync(&self) -> Result<(), StoreError> {
        self.inner.resync()
    }
}

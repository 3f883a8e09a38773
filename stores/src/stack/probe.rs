//! A test store that records every call it receives, over a [`Cache`] that answers reads.

use std::sync::Arc;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::Mutex;

use crate::Cache;

/// Records `"add <object>"`, `"update ..."`, `"delete ..."`, `"replace [..]"`, `"resync"`.
pub(crate) struct Recorder<T> {
    pub(crate) calls: Mutex<Vec<String>>,
    pub(crate) cache: Cache<T>,
}

impl<T: std::fmt::Debug> Recorder<T> {
    pub(crate) fn new(key_fn: KeyFn<T>) -> Self {
        Self { calls: Mutex::new(Vec::new()), cache: Cache::new(key_fn) }
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().clone()
    }

    fn record(&self, what: &str, object: &T) {
        self.calls.lock().push(format!("{what} {object:?}"));
    }
}

impl<T: std::fmt::Debug + Send + Sync + 'static> Store for Recorder<T> {
    type Object = T;
    fn add(&self, o: Arc<T>) -> Result<(), StoreError> {
        self.record("add", &o);
        self.cache.add(o)
    }
    fn update(&self, o: Arc<T>) -> Result<(), StoreError> {
        self.record("update", &o);
        self.cache.update(o)
    }
    fn delete(&self, o: Arc<T>) -> Result<(), StoreError> {
        self.record("delete", &o);
        self.cache.delete(o)
    }
    fn list(&self) -> Vec<Arc<T>> {
        self.cache.list()
    }
    fn list_keys(&self) -> Vec<ObjectKey> {
        self.cache.list_keys()
    }
    fn get(&self, o: &T) -> Result<Option<Arc<T>>, StoreError> {
        self.cache.get(o)
    }
    fn get_by_key(&self, k: &str) -> Option<Arc<T>> {
        self.cache.get_by_key(k)
    }
    fn replace(&self, items: Vec<Arc<T>>, v: Version) -> Result<(), StoreError> {
        self.calls.lock().push(format!("replace {:?} at {v}", items.iter().map(|o| &**o).collect::<Vec<_>>()));
        self.cache.replace(items, v)
    }
    fn resync(&self) -> Result<(), StoreError> {
        self.calls.lock().push("resync".to_string());
        self.cache.resync()
    }
}

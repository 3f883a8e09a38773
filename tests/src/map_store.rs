//! [`MapStore`]: the simplest correct [`Store`], for tests that need a store but are not about
//! stores (backend and reflector tests). It records how it was called so tests can assert it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::Mutex;

/// A `BTreeMap` behind a mutex, keyed by a [`KeyFn`]. Counts `replace` and `resync` calls.
pub struct MapStore<T> {
    key_fn: KeyFn<T>,
    map: Mutex<BTreeMap<ObjectKey, Arc<T>>>,
    replaces: AtomicU64,
    resyncs: AtomicU64,
    last_replace_version: Mutex<Option<Version>>,
}

impl<T> std::fmt::Debug for MapStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapStore").field("len", &self.map.lock().len()).finish()
    }
}

impl<T: Send + Sync + 'static> MapStore<T> {
    /// An empty store.
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self {
            key_fn,
            map: Mutex::new(BTreeMap::new()),
            replaces: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            last_replace_version: Mutex::new(None),
        }
    }

    /// A copy of the contents, sorted by key.
    pub fn snapshot(&self) -> BTreeMap<ObjectKey, Arc<T>> {
        self.map.lock().clone()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times `replace` was called.
    pub fn replaces(&self) -> u64 {
        self.replaces.load(Ordering::SeqCst)
    }

    /// How many times `resync` was called.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::SeqCst)
    }

    /// The version given to the last `replace`.
    pub fn last_replace_version(&self) -> Option<Version> {
        self.last_replace_version.lock().clone()
    }
}

impl<T: Send + Sync + 'static> Store for MapStore<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        self.map.lock().insert(key, object);
        Ok(())
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.add(object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        self.map.lock().remove(&key);
        Ok(())
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.map.lock().values().cloned().collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.map.lock().keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_fn.key(object)?;
        Ok(self.map.lock().get(&key).cloned())
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.map.lock().get(key).cloned()
    }

    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut fresh = BTreeMap::new();
        for item in items {
            match self.key_fn.key(&item) {
                Ok(key) => {
                    fresh.insert(key, item);
                }
                Err(e) => {
                    first_error.get_or_insert(StoreError::from(e));
                }
            }
        }
        *self.map.lock() = fresh;
        *self.last_replace_version.lock() = Some(version);
        self.replaces.fetch_add(1, Ordering::SeqCst);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

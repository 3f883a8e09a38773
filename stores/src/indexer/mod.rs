//! # Indexer: a cache with secondary indexes
//!
//! An [`Indexer`] is a [`Cache`](crate::Cache) that also answers "which objects have this
//! value?" without a scan: "the pods on node-1", "the objects with label app=web". Each
//! *index* has a name and an [`IndexFn`] that maps an object to zero or more *index values*;
//! the indexer keeps, per index, a map from value to the keys of the objects that have it, and
//! updates it on every change (client-go's `ThreadSafeStore` with `Indexers`).
//!
//! Index functions may borrow their values from the object, and the indexer compares the old
//! and new values of an update before touching the index, so the usual update (same node,
//! same labels) costs one hash-map write plus the index function calls.
//!
//! The crate re-exports everything here; [`Indexer`] documents the contract with an example.

mod index;
mod index_fn;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use informer_core::{Change, KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::RwLock;

use crate::cache::{FastMap, keyed_changes};
use crate::telemetry::{self, LenGauge, STORE_OBJECTS};
use index::{Index, KeySet};
pub use index_fn::{IndexFn, IndexValues, Indexers};

/// Why an index query or [`Indexer::add_indexers`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// No index has this name.
    #[error("index {index:?} does not exist{}", value.as_ref().map(|v| format!(" (looking up value {v:?})")).unwrap_or_default())]
    UnknownIndex {
        /// The name asked for.
        index: String,
        /// The index value looked up, if the query had one.
        value: Option<String>,
    },
    /// An index of this name already exists.
    #[error("index {index:?} already exists; index functions cannot be replaced")]
    Conflict {
        /// The name that was added twice.
        index: String,
    },
}

/// A thread-safe [`Cache`](crate::Cache) with named secondary indexes: each index has an
/// [`IndexFn`] mapping an object to zero or more index values, and answers "which objects have
/// this value?" ([`by_index`](Self::by_index)) without a scan.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store};
/// use informer_stores::{IndexFn, Indexer, Indexers};
///
/// struct Pod { name: String, node: String }
/// let pods = Indexer::with_indexers(
///     KeyFn::new(|p: &Pod| Ok(ObjectKey::new(&p.name))),
///     Indexers::new().with("node", IndexFn::single(|p: &Pod| p.node.as_str())),
/// );
/// pods.add(Arc::new(Pod { name: "web-0".into(), node: "n1".into() })).unwrap();
/// pods.add(Arc::new(Pod { name: "web-1".into(), node: "n2".into() })).unwrap();
/// pods.update(Arc::new(Pod { name: "web-1".into(), node: "n1".into() })).unwrap();
/// let mut on_n1 = pods.index_keys("node", "n1").unwrap();
/// on_n1.sort();
/// assert_eq!(on_n1, ["web-0", "web-1"]);
/// assert_eq!(pods.list_index_values("node").unwrap(), ["n1"]);
/// ```
///
/// # Contract (client-go's `ThreadSafeStore` semantics)
///
/// * As a [`Store`] it behaves exactly like a [`Cache`](crate::Cache): `add`/`update` set the
///   object under its key, `delete` removes the key (unknown keys are ignored), `replace` makes
///   it hold exactly the new items, `resync` does nothing, unkeyable objects are refused.
/// * Every stored object is found in index `name` under each value its index function returns
///   for it, and under no other value.
/// * An update moves the object between index values: it leaves the values the old object had
///   and the new one lacks, and joins the new ones.
/// * A delete removes the object from every index; an index value left without objects is
///   removed (it no longer appears in [`list_index_values`](Self::list_index_values)).
/// * `replace` rebuilds every index from the new items.
/// * [`add_indexers`](Self::add_indexers) is allowed at any time: new indexes are built from
///   the objects already stored. Adding a name that already exists is an error and adds none of
///   the given indexes.
/// * Queries of an index that does not exist return [`IndexError::UnknownIndex`].
/// * Changes are atomic for readers: a query sees the store before or after a change, with
///   items and indexes in step. `apply_batch` applies one version's changes under one write
///   lock, so a query never sees half a transaction.
pub struct Indexer<T> {
    key_fn: KeyFn<T>,
    inner: RwLock<Inner<T>>,
    /// The metrics `name` and `informer_store_objects`, once named.
    metrics: Option<(String, LenGauge)>,
}

struct Inner<T> {
    items: FastMap<ObjectKey, Arc<T>>,
    indexes: Vec<Index<T>>,
}

impl<T> Inner<T> {
    fn index(&self, name: &str, value: Option<&str>) -> Result<&Index<T>, IndexError> {
        self.indexes
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| IndexError::UnknownIndex { index: name.to_string(), value: value.map(str::to_string) })
    }

    fn objects<'a>(&self, keys: impl IntoIterator<Item = &'a ObjectKey>) -> Vec<Arc<T>> {
        keys.into_iter().filter_map(|k| self.items.get(k).cloned()).collect()
    }

    /// Sets `object` under `key` in the items and every index; returns the object replaced,
    /// and whether the number of objects or of some index's values changed.
    fn set(&mut self, key: ObjectKey, object: Arc<T>) -> (Option<Arc<T>>, bool) {
        let Inner { items, indexes } = self;
        let old = match items.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, Arc::clone(&object))),
            None => {
                items.insert(key.clone(), Arc::clone(&object));
                None
            }
        };
        let mut resized = old.is_none();
        for index in indexes.iter_mut() {
            resized |= index.update(&key, old.as_deref(), Some(&object));
        }
        (old, resized)
    }

    /// Removes `key` from the items and every index; returns the object removed.
    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<T>> {
        let Inner { items, indexes } = self;
        let old = items.remove(key)?;
        for index in indexes.iter_mut() {
            index.update(key, Some(&old), None);
        }
        Some(old)
    }

    /// The keys sharing at least one value of `name` with `object`.
    fn keys_sharing_values(&self, name: &str, object: &T) -> Result<KeySet, IndexError> {
        let index = self.index(name, None)?;
        let mut keys = KeySet::default();
        for value in index.func.values(object).iter() {
            if let Some(set) = index.values.get(value) {
                keys.extend(set.iter().cloned());
            }
        }
        Ok(keys)
    }
}

impl<T> Indexer<T> {
    /// An indexer without indexes (add some with [`add_indexers`](Self::add_indexers)).
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self::with_indexers(key_fn, Indexers::new())
    }

    /// An indexer with the given indexes.
    pub fn with_indexers(key_fn: KeyFn<T>, indexers: Indexers<T>) -> Self {
        let indexes = indexers.0.into_iter().map(|(name, f)| Index::new(name, f, LenGauge::noop())).collect();
        Self { key_fn, inner: RwLock::new(Inner { items: FastMap::default(), indexes }), metrics: None }
    }

    /// Names the indexer in its metrics ([`telemetry`]): from now on it records
    /// `informer_store_objects{name}` and `informer_store_index_values{name, index}`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        let inner = self.inner.get_mut();
        for index in &mut inner.indexes {
            index.size = LenGauge::new(telemetry::index_gauge(name, &index.name));
        }
        self.metrics = Some((name.to_string(), LenGauge::new(telemetry::gauge(STORE_OBJECTS, name))));
        self.record(&self.inner.read());
        self
    }

    /// The gauge of a new index: a registered one once named, else a no-op.
    fn index_gauge(&self, index: &str) -> LenGauge {
        self.metrics
            .as_ref()
            .map_or_else(LenGauge::noop, |(name, _)| LenGauge::new(telemetry::index_gauge(name, index)))
    }

    /// Sets the gauges from the contents, under the lock that changed them (each reaches the
    /// recorder only if its length changed).
    fn record(&self, inner: &Inner<T>) {
        if let Some((_, objects)) = &self.metrics {
            objects.set(inner.items.len());
            for index in &inner.indexes {
                index.size.set(index.values.len());
            }
        }
    }

    /// Adds indexes, building them from the objects already stored.
    ///
    /// Fails with [`IndexError::Conflict`], adding nothing, if one of the names is already an
    /// index of this indexer.
    pub fn add_indexers(&self, indexers: Indexers<T>) -> Result<(), IndexError> {
        let mut inner = self.inner.write();
        if let Some(name) = indexers.names().find(|n| inner.indexes.iter().any(|i| i.name == *n)) {
            return Err(IndexError::Conflict { index: name.to_string() });
        }
        let Inner { items, indexes } = &mut *inner;
        for (name, func) in indexers.0 {
            let size = self.index_gauge(&name);
            let mut index = Index::new(name, func, size);
            for (key, object) in items.iter() {
                index.add(key, object);
            }
            indexes.push(index);
        }
        self.record(&inner);
        Ok(())
    }

    /// The names of the indexes, in no particular order.
    pub fn index_names(&self) -> Vec<String> {
        self.inner.read().indexes.iter().map(|i| i.name.clone()).collect()
    }

    /// The objects found under `value` in index `name` (client-go's `ByIndex`).
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<Arc<T>>, IndexError> {
        let inner = self.inner.read();
        let index = inner.index(name, Some(value))?;
        Ok(index.values.get(value).map(|keys| inner.objects(keys)).unwrap_or_default())
    }

    /// The keys of the objects found under `value` in index `name` (client-go's `IndexKeys`).
    pub fn index_keys(&self, name: &str, value: &str) -> Result<Vec<ObjectKey>, IndexError> {
        let inner = self.inner.read();
        let index = inner.index(name, Some(value))?;
        Ok(index.values.get(value).map(|keys| keys.iter().cloned().collect()).unwrap_or_default())
    }

    /// Every value of index `name` that at least one stored object has, in no particular order
    /// (client-go's `ListIndexFuncValues`).
    pub fn list_index_values(&self, name: &str) -> Result<Vec<String>, IndexError> {
        let inner = self.inner.read();
        Ok(inner.index(name, None)?.values.keys().map(|v| v.to_string()).collect())
    }

    /// The stored objects that share at least one value of index `name` with `object`
    /// (client-go's `Index`); `object` itself need not be stored. Each object appears once.
    pub fn index(&self, name: &str, object: &T) -> Result<Vec<Arc<T>>, IndexError> {
        let inner = self.inner.read();
        let keys = inner.keys_sharing_values(name, object)?;
        Ok(inner.objects(&keys))
    }

    /// The number of objects held.
    pub fn len(&self) -> usize {
        self.inner.read().items.len()
    }

    /// Whether the indexer holds no object.
    pub fn is_empty(&self) -> bool {
        self.inner.read().items.is_empty()
    }

    /// The key function this indexer uses.
    pub fn key_fn(&self) -> &KeyFn<T> {
        &self.key_fn
    }

    fn set(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut inner = self.inner.write();
        let (old, resized) = inner.set(key, object);
        // Most updates change no size: then the gauges are not even looked at.
        if resized {
            self.record(&inner);
        }
        drop(inner);
        // The previous object may be the last reference: free it outside the lock.
        drop(old);
        Ok(())
    }
}

impl<T> std::fmt::Debug for Indexer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.read();
        let names: Vec<&str> = inner.indexes.iter().map(|i| i.name.as_str()).collect();
        f.debug_struct("Indexer").field("len", &inner.items.len()).field("indexes", &names).finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Store for Indexer<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(object)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut inner = self.inner.write();
        let old = inner.remove(&key);
        self.record(&inner);
        drop(inner);
        // The removed object may be the last reference: free it outside the lock.
        drop(old);
        Ok(())
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.inner.read().items.values().cloned().collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.inner.read().items.keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_fn.key(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.inner.read().items.get(key).cloned()
    }

    fn replace(&self, items: Vec<Arc<T>>, _version: Version) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut map = FastMap::with_capacity(items.len());
        for object in items {
            match self.key_fn.key(&object) {
                Ok(key) => {
                    map.insert(key, object);
                }
                Err(err) => {
                    first_error.get_or_insert(StoreError::Key(err));
                }
            }
        }
        // Build the new indexes before taking the write lock: readers keep going meanwhile.
        let funcs: Vec<(String, IndexFn<T>, LenGauge)> =
            self.inner.read().indexes.iter().map(|i| (i.name.clone(), i.func.clone(), i.size.clone())).collect();
        let mut indexes = Vec::with_capacity(funcs.len());
        for (name, func, size) in funcs {
            let mut index = Index::new(name, func, size);
            for (key, object) in &map {
                index.add(key, object);
            }
            indexes.push(index);
        }
        let mut inner = self.inner.write();
        // An index added while we built: build it now, under the lock.
        let added: Vec<(String, IndexFn<T>, LenGauge)> = inner
            .indexes
            .iter()
            .filter(|i| !indexes.iter().any(|n| n.name == i.name))
            .map(|i| (i.name.clone(), i.func.clone(), i.size.clone()))
            .collect();
        for (name, func, size) in added {
            let mut index = Index::new(name, func, size);
            for (key, object) in &map {
                index.add(key, object);
            }
            indexes.push(index);
        }
        let old = std::mem::replace(&mut *inner, Inner { items: map, indexes });
        self.record(&inner);
        drop(inner);
        drop(old);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply_batch(&self, _version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        let (keyed, first_error) = keyed_changes(&self.key_fn, changes);
        let mut old = Vec::with_capacity(keyed.len());
        {
            let mut inner = self.inner.write();
            for (key, change) in keyed {
                old.extend(match change {
                    Change::Added(o) | Change::Modified(o) => inner.set(key, o).0,
                    Change::Deleted(_) => inner.remove(&key),
                });
            }
            self.record(&inner);
        }
        drop(old);
        first_error.map_or(Ok(()), Err)
    }
}

//! # Cache: the plain store
//!
//! A [`Cache`] is the simplest [`Store`]: a thread-safe map from key to the latest `Arc<T>`
//! (client-go's `cache.NewStore`). A reflector writes it; any number of readers call
//! [`get_by_key`](Store::get_by_key) or [`list`](Store::list) from any thread at the same time.
//!
//! Readers share a [`parking_lot::RwLock`], so they run in parallel and only wait for the short
//! hash-map update of a writer. The map is hashbrown's, hashing keys with `foldhash`: cheaper
//! to compute than the standard library's SipHash, though with 100k objects a lookup is
//! dominated by cache misses and both measure about the same (`benches/indexer.rs`). Keys come
//! from the mirrored source, not from an attacker choosing hash collisions at will.

use std::sync::Arc;

use informer_core::{Change, KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::RwLock;

use crate::telemetry::{self, LenGauge, STORE_OBJECTS};

/// The hash map every store of this crate uses (hashbrown with foldhash).
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V>;

/// A thread-safe map of `Arc<T>` by key, implementing [`Store`] (client-go's `NewStore`).
///
/// Readers share a read-write lock, so any number of them run in parallel and only wait for
/// the short map update of a writer.
///
/// # Contract
///
/// * `add` and `update` set the object under the key computed by the key function; the
///   previous object under that key, if any, is replaced.
/// * `delete` removes the key of the given object; deleting an unknown key does nothing.
/// * `replace(items, _)` makes the cache hold exactly `items`: keys absent from the new list
///   are removed. Readers see the old or the new contents, never a mix.
/// * An object whose key cannot be computed is refused with [`StoreError::Key`] and leaves the
///   cache unchanged; in a `replace` the other items are still stored and the first error is
///   returned.
/// * `list` and `list_keys` return every object / key in no particular order; `get` returns
///   the object stored under the key of the given object.
/// * `resync` does nothing (a cache has no consumers to re-deliver to).
/// * `apply_batch` applies one version's changes under one write lock: readers see the cache
///   before or after the whole version, never half of it. Unkeyable objects are skipped and the
///   first error returned.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::Cache;
///
/// let cache = Cache::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s.split('=').next().unwrap_or("")))));
/// cache.add(Arc::new("a=1".to_string())).unwrap();
/// cache.update(Arc::new("a=2".to_string())).unwrap();
/// assert_eq!(cache.get_by_key("a").as_deref().map(String::as_str), Some("a=2"));
/// cache.replace(vec![Arc::new("b=1".to_string())], Version::from("7")).unwrap();
/// assert_eq!(cache.list_keys(), vec![ObjectKey::from("b")]);
/// assert_eq!(cache.len(), 1);
/// ```
pub struct Cache<T> {
    key_fn: KeyFn<T>,
    items: RwLock<FastMap<ObjectKey, Arc<T>>>,
    /// `informer_store_objects`, once named; a no-op handle before.
    objects: LenGauge,
}

impl<T> Cache<T> {
    /// An empty cache that keys objects with `key_fn`.
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self { key_fn, items: RwLock::new(FastMap::default()), objects: LenGauge::noop() }
    }

    /// Names the cache in its metrics ([`telemetry`]): from now on it records
    /// `informer_store_objects{name}`.
    #[must_use]
    pub fn with_name(self, name: &str) -> Self {
        let objects = LenGauge::new(telemetry::gauge(STORE_OBJECTS, name));
        objects.set(self.len());
        Self { objects, ..self }
    }

    /// The number of objects held.
    pub fn len(&self) -> usize {
        self.items.read().len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.items.read().is_empty()
    }

    /// The key function this cache uses.
    pub fn key_fn(&self) -> &KeyFn<T> {
        &self.key_fn
    }

    fn set(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut items = self.items.write();
        items.insert(key, object);
        self.objects.set(items.len());
        Ok(())
    }
}

impl<T> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Store for Cache<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(object)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut items = self.items.write();
        items.remove(&key);
        self.objects.set(items.len());
        Ok(())
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.items.read().values().cloned().collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.items.read().keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_fn.key(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.items.read().get(key).cloned()
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
        // Swap under the lock, drop the old map after releasing it.
        let mut guard = self.items.write();
        let old = std::mem::replace(&mut *guard, map);
        self.objects.set(guard.len());
        drop(guard);
        drop(old);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply_batch(&self, _version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        // Keys are computed before the lock is taken; replaced objects are freed after it.
        let (keyed, first_error) = keyed_changes(&self.key_fn, changes);
        let mut old = Vec::with_capacity(keyed.len());
        {
            let mut items = self.items.write();
            for (key, change) in keyed {
                let previous = match change {
                    Change::Added(o) | Change::Modified(o) => items.insert(key, o),
                    Change::Deleted(_) => items.remove(&key),
                };
                old.extend(previous);
            }
            self.objects.set(items.len());
        }
        drop(old);
        first_error.map_or(Ok(()), Err)
    }
}

/// The changes of a batch with their keys, computed before a store takes its lock, and the
/// first key error (changes whose key fails are left out, the others still apply).
pub(crate) fn keyed_changes<T>(
    key_fn: &KeyFn<T>,
    changes: Vec<Change<T>>,
) -> (Vec<(ObjectKey, Change<T>)>, Option<StoreError>) {
    let mut first_error = None;
    let mut keyed = Vec::with_capacity(changes.len());
    for change in changes {
        match key_fn.key(change.object()) {
            Ok(key) => keyed.push((key, change)),
            Err(err) => {
                first_error.get_or_insert(StoreError::Key(err));
            }
        }
    }
    (keyed, first_error)
}

#[cfg(test)]
mod tests {
    use informer_core::KeyError;

    use super::*;

    /// `"key=value"` strings; an empty key cannot be keyed.
    fn cache() -> Cache<String> {
        Cache::new(KeyFn::new(|s: &String| match s.split_once('=') {
            Some((k, _)) if !k.is_empty() => Ok(ObjectKey::new(k)),
            _ => Err(KeyError::new(format!("no key in {s:?}"))),
        }))
    }

    fn obj(s: &str) -> Arc<String> {
        Arc::new(s.to_string())
    }

    fn sorted_keys(c: &Cache<String>) -> Vec<String> {
        let mut keys: Vec<String> = c.list_keys().iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_batch_is_applied_in_order_and_an_unkeyable_change_is_skipped_and_reported() {
        let c = cache();
        c.add(obj("gone=1")).unwrap();
        let changes = vec![
            Change::Added(obj("a=1")),
            Change::Modified(obj("a=2")),
            Change::Added(obj("=bad")),
            Change::Deleted(obj("gone=1")),
            Change::Added(obj("b=1")),
        ];
        let err = c.apply_batch(&Version::from("9"), changes).unwrap_err();
        assert!(err.to_string().contains("=bad"), "{err}");
        assert_eq!(sorted_keys(&c), ["a", "b"]);
        assert_eq!(*c.get_by_key("a").unwrap(), "a=2");
    }

    #[test]
    fn readers_never_see_half_a_batch() {
        let c = Arc::new(cache());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (c, stop) = (Arc::clone(&c), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let n = c.len();
                    assert!(n.is_multiple_of(10), "saw {n} keys: half a batch");
                }
            })
        };
        for round in 0..200 {
            let changes = (0..10).map(|i| Change::Added(obj(&format!("k{round}-{i}=v")))).collect();
            c.apply_batch(&Version::from(round.to_string()), changes).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        assert_eq!(c.len(), 2000);
    }

    #[test]
    fn add_sets_the_object_under_its_key() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        assert_eq!(*c.get_by_key("a").unwrap(), "a=1");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn add_of_an_existing_key_replaces_it() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        c.add(obj("a=2")).unwrap();
        assert_eq!(*c.get_by_key("a").unwrap(), "a=2");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn update_of_an_unknown_key_inserts_it() {
        let c = cache();
        c.update(obj("a=1")).unwrap();
        assert_eq!(*c.get_by_key("a").unwrap(), "a=1");
    }

    #[test]
    fn delete_removes_the_key_of_the_object() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        c.delete(obj("a=whatever")).unwrap();
        assert!(c.is_empty());
        assert!(c.get_by_key("a").is_none());
    }

    #[test]
    fn delete_of_an_unknown_key_does_nothing() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        c.delete(obj("b=1")).unwrap();
        assert_eq!(sorted_keys(&c), ["a"]);
    }

    #[test]
    fn replace_removes_keys_absent_from_the_new_list() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        c.add(obj("b=1")).unwrap();
        c.replace(vec![obj("b=2"), obj("c=1")], Version::from("5")).unwrap();
        assert_eq!(sorted_keys(&c), ["b", "c"]);
        assert_eq!(*c.get_by_key("b").unwrap(), "b=2");
    }

    #[test]
    fn unkeyable_object_is_refused_and_leaves_the_cache_unchanged() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        let err = c.add(obj("no-key")).unwrap_err();
        assert!(err.to_string().contains("no-key"), "{err}");
        assert!(c.update(obj("=1")).is_err());
        assert!(c.delete(obj("nothing")).is_err());
        assert_eq!(sorted_keys(&c), ["a"]);
    }

    #[test]
    fn replace_stores_the_keyable_items_and_returns_the_first_error() {
        let c = cache();
        let err = c.replace(vec![obj("a=1"), obj("bad"), obj("b=1"), obj("worse")], Version::from("1")).unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
        assert_eq!(sorted_keys(&c), ["a", "b"]);
    }

    #[test]
    fn list_returns_every_object() {
        let c = cache();
        for s in ["a=1", "b=2", "c=3"] {
            c.add(obj(s)).unwrap();
        }
        let mut all: Vec<String> = c.list().iter().map(|o| o.to_string()).collect();
        all.sort();
        assert_eq!(all, ["a=1", "b=2", "c=3"]);
    }

    #[test]
    fn get_returns_the_object_stored_under_the_key_of_the_given_one() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        assert_eq!(*c.get(&"a=other".to_string()).unwrap().unwrap(), "a=1");
        assert!(c.get(&"z=1".to_string()).unwrap().is_none());
        assert!(c.get(&"bad".to_string()).is_err());
    }

    #[test]
    fn resync_does_nothing() {
        let c = cache();
        c.add(obj("a=1")).unwrap();
        c.resync().unwrap();
        assert_eq!(sorted_keys(&c), ["a"]);
    }

    #[test]
    fn readers_on_other_threads_see_writes() {
        let c = Arc::new(cache());
        c.add(obj("a=1")).unwrap();
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || (0..1000).all(|_| c.get_by_key("a").is_some()))
            })
            .collect();
        for i in 0..1000 {
            c.update(obj(&format!("a={i}"))).unwrap();
        }
        assert!(readers.into_iter().all(|r| r.join().unwrap()));
        assert_eq!(*c.get_by_key("a").unwrap(), "a=999");
    }
}

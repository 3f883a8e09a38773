//! # Undelta: whole state on every change
//!
//! Some consumers do not want deltas at all: they want "here is everything, now" every time
//! something changes (render a full config file, recompute a routing table, hand a complete
//! list to a legacy API). An [`Undelta`] store turns the reflector's stream of incremental
//! changes back into complete states (client-go's `UndeltaStore`): it keeps the objects in a
//! [`Cache`] and after each change calls a *push function* with the list of all of them.

use std::sync::Arc;

use informer_core::{Change, KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::ReentrantMutex;

use crate::Cache;

/// A store that calls `push` with the complete state after every change (client-go's
/// `UndeltaStore`), for consumers that want "everything, now" instead of deltas.
///
/// # Contract
///
/// * As a [`Store`] it behaves like a [`Cache`]: reads return what it holds.
/// * Every `add`, `update`, `delete` and `replace` calls `push` exactly once, after the change
///   is applied, with every object held at that moment (in no particular order). So there is
///   **at least one push per change**; a change that changes nothing (the delete of an unknown
///   key) still pushes, possibly the same state as the previous push.
/// * A change refused outright (an object whose key cannot be computed) does not push. A
///   `replace` that refused some items still applied the others, so it pushes, then returns
///   the first error.
/// * Pushes never overlap and follow the order of the changes: the state given to a push is
///   never older than the one given to the previous push, and the last push holds the latest
///   state.
/// * `push` runs on the writer's thread without the store's data lock, so it may read this
///   store. A write from inside `push` (on the same thread) is applied and pushed before the
///   outer push returns; writers on other threads wait until the push returns.
/// * `resync` changes nothing and does not push.
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::Undelta;
///
/// let pushed = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&pushed);
/// let store = Undelta::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))), move |all: Vec<Arc<String>>| {
///     let mut all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
///     all.sort();
///     sink.lock().unwrap().push(all);
/// });
/// store.add(Arc::new("a".to_string())).unwrap();
/// store.add(Arc::new("b".to_string())).unwrap();
/// store.delete(Arc::new("a".to_string())).unwrap();
/// assert_eq!(*pushed.lock().unwrap(), vec![vec!["a"], vec!["a", "b"], vec!["b"]]);
/// ```
pub struct Undelta<T, F> {
    cache: Cache<T>,
    push: F,
    /// Held from the change until its push returns, so pushes are ordered; re-entrant so a
    /// push function that writes to this store does not deadlock.
    order: ReentrantMutex<()>,
}

impl<T, F> Undelta<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(Vec<Arc<T>>) + Send + Sync,
{
    /// An empty store that keys objects with `key_fn` and calls `push` after every change.
    pub fn new(key_fn: KeyFn<T>, push: F) -> Self {
        Self { cache: Cache::new(key_fn), push, order: ReentrantMutex::new(()) }
    }

    /// The number of objects held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Applies `change`, then pushes the state unless it was refused outright.
    fn change(
        &self,
        change: impl FnOnce(&Cache<T>) -> Result<(), StoreError>,
        pushes_on_error: bool,
    ) -> Result<(), StoreError> {
        let _order = self.order.lock();
        let result = change(&self.cache);
        if result.is_ok() || pushes_on_error {
            (self.push)(self.cache.list());
        }
        result
    }
}

impl<T, F> std::fmt::Debug for Undelta<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undelta").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl<T, F> Store for Undelta<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(Vec<Arc<T>>) + Send + Sync,
{
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.change(|c| c.add(object), false)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.change(|c| c.update(object), false)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.change(|c| c.delete(object), false)
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.cache.list()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.cache.list_keys()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        self.cache.get(object)
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.cache.get_by_key(key)
    }

    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        self.change(|c| c.replace(items, version), true)
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// One version's changes, then one push of the state (not one per change); a bookmark
    /// (no changes) pushes nothing.
    fn apply_batch(&self, version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.change(|c| c.apply_batch(version, changes), true)
    }
}

#[cfg(test)]
mod tests {
    use informer_core::KeyError;
    use parking_lot::Mutex;

    use super::*;

    type Pushes = Arc<Mutex<Vec<Vec<String>>>>;

    fn key_fn() -> KeyFn<String> {
        KeyFn::new(|s: &String| match s.split_once('=') {
            Some((k, _)) if !k.is_empty() => Ok(ObjectKey::new(k)),
            _ => Err(KeyError::new(format!("no key in {s:?}"))),
        })
    }

    fn recorder() -> (Pushes, impl Fn(Vec<Arc<String>>) + Send + Sync) {
        let pushes = Pushes::default();
        let sink = Arc::clone(&pushes);
        let push = move |all: Vec<Arc<String>>| {
            let mut all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            all.sort();
            sink.lock().push(all);
        };
        (pushes, push)
    }

    fn obj(s: &str) -> Arc<String> {
        Arc::new(s.to_string())
    }

    #[test]
    fn a_version_with_several_changes_pushes_once_and_a_bookmark_not_at_all() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        u.apply_batch(&Version::from("4"), vec![Change::Added(obj("a=1")), Change::Added(obj("b=1"))]).unwrap();
        u.apply_batch(&Version::from("5"), Vec::new()).unwrap();
        assert_eq!(*pushes.lock(), vec![vec!["a=1", "b=1"]]);
    }

    #[test]
    fn every_change_pushes_the_complete_state_once() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        u.add(obj("a=1")).unwrap();
        u.update(obj("a=2")).unwrap();
        u.add(obj("b=1")).unwrap();
        u.delete(obj("a=")).unwrap();
        u.replace(vec![obj("c=1"), obj("d=1")], Version::from("3")).unwrap();
        assert_eq!(*pushes.lock(), vec![vec!["a=1"], vec!["a=2"], vec!["a=2", "b=1"], vec!["b=1"], vec!["c=1", "d=1"]]);
    }

    #[test]
    fn a_change_that_changes_nothing_still_pushes() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        u.add(obj("a=1")).unwrap();
        u.delete(obj("zzz=1")).unwrap();
        assert_eq!(*pushes.lock(), vec![vec!["a=1"], vec!["a=1"]]);
    }

    #[test]
    fn a_refused_change_does_not_push() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        assert!(u.add(obj("nokey")).is_err());
        assert!(u.update(obj("nokey")).is_err());
        assert!(u.delete(obj("nokey")).is_err());
        assert!(pushes.lock().is_empty());
    }

    #[test]
    fn a_partly_refused_replace_pushes_and_returns_the_first_error() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        let err = u.replace(vec![obj("a=1"), obj("bad"), obj("b=1")], Version::from("1")).unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
        assert_eq!(*pushes.lock(), vec![vec!["a=1", "b=1"]]);
    }

    #[test]
    fn reads_return_what_it_holds() {
        let (_, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        u.add(obj("a=1")).unwrap();
        assert_eq!(*u.get_by_key("a").unwrap(), "a=1");
        assert_eq!(*u.get(&"a=9".to_string()).unwrap().unwrap(), "a=1");
        assert_eq!(u.list_keys(), vec![ObjectKey::from("a")]);
        assert_eq!(u.list().len(), 1);
        assert_eq!(u.len(), 1);
    }

    #[test]
    fn resync_does_not_push() {
        let (pushes, push) = recorder();
        let u = Undelta::new(key_fn(), push);
        u.add(obj("a=1")).unwrap();
        u.resync().unwrap();
        assert_eq!(pushes.lock().len(), 1);
    }

    #[test]
    fn pushes_from_concurrent_writers_are_ordered_and_the_last_is_the_latest_state() {
        let (pushes, push) = recorder();
        let u = Arc::new(Undelta::new(key_fn(), push));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let u = Arc::clone(&u);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        u.add(obj(&format!("w{w}-{i}=x"))).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let pushes = pushes.lock();
        assert_eq!(pushes.len(), 800, "one push per change");
        // Only adds of new keys: every push holds exactly one more object than the previous.
        for (i, state) in pushes.iter().enumerate() {
            assert_eq!(state.len(), i + 1, "push {i} is out of order");
        }
        assert_eq!(pushes.last().map(Vec::len), Some(u.len()));
    }

    #[test]
    fn push_may_read_and_write_the_store_without_deadlock() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store: Arc<std::sync::OnceLock<Arc<dyn Store<Object = String>>>> = Arc::default();
        let (seen2, store2) = (Arc::clone(&seen), Arc::clone(&store));
        let u = Arc::new(Undelta::new(key_fn(), move |all: Vec<Arc<String>>| {
            let this = store2.get().expect("set before the first write");
            seen2.lock().push((all.len(), this.list().len()));
            if this.get_by_key("echo").is_none() {
                this.add(obj("echo=1")).unwrap();
            }
        }));
        store.set(Arc::clone(&u) as Arc<dyn Store<Object = String>>).ok();
        u.add(obj("a=1")).unwrap();
        // Outer push saw 1 object; the nested add pushed 2; the list inside each push agrees.
        assert_eq!(*seen.lock(), vec![(1, 1), (2, 2)]);
        assert_eq!(u.len(), 2);
    }
}

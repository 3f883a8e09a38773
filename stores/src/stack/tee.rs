//! [`Tee`]: one writer, two stores.

use std::sync::Arc;

use std::task::{Context, Poll};

use informer_core::{Change, ObjectKey, Store, StoreError, Version};

use super::first_error;

/// Writes every change to two stores; reads come from the first (`Tee::new(first, second)`).
///
/// # Contract
///
/// * Every write (`add`, `update`, `delete`, `replace`, `resync`, `apply_batch`) is applied to
///   the first store, then to the second, with the same objects (shared `Arc`s, no copies); a
///   batch reaches each store whole.
/// * `poll_ready` is ready when both stores are.
/// * The second store gets the write even if the first one failed it; the first error is
///   returned (the first store's if both failed).
/// * Reads (`list`, `list_keys`, `get`, `get_by_key`) are answered by the first store alone.
/// * For three or more stores, nest: `Tee::new(a, Tee::new(b, c))`, or `a.tee(b).tee(c)`.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, Store};
/// use informer_stores::{Cache, Tee};
/// # use informer_core::ObjectKey;
/// let key = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
/// let (a, b) = (Arc::new(Cache::new(key.clone())), Arc::new(Cache::new(key)));
/// let tee = Tee::new(Arc::clone(&a), Arc::clone(&b));
/// tee.add(Arc::new("x".to_string())).unwrap();
/// assert_eq!((a.len(), b.len()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct Tee<A, B> {
    first: A,
    second: B,
}

impl<A, B> Tee<A, B> {
    /// Writes to `first` and `second`, reads from `first`.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The store reads come from.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The other store.
    pub fn second(&self) -> &B {
        &self.second
    }

    /// The two stores.
    pub fn into_inner(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A, B> Store for Tee<A, B>
where
    A: Store,
    B: Store<Object = A::Object>,
{
    type Object = A::Object;

    fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        first_error(self.first.add(Arc::clone(&object)), self.second.add(object))
    }

    fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        first_error(self.first.update(Arc::clone(&object)), self.second.update(object))
    }

    fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        first_error(self.first.delete(Arc::clone(&object)), self.second.delete(object))
    }

    fn list(&self) -> Vec<Arc<Self::Object>> {
        self.first.list()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.first.list_keys()
    }

    fn get(&self, object: &Self::Object) -> Result<Option<Arc<Self::Object>>, StoreError> {
        self.first.get(object)
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<Self::Object>> {
        self.first.get_by_key(key)
    }

    fn replace(&self, items: Vec<Arc<Self::Object>>, version: Version) -> Result<(), StoreError> {
        let first = self.first.replace(items.clone(), version.clone());
        first_error(first, self.second.replace(items, version))
    }

    fn resync(&self) -> Result<(), StoreError> {
        first_error(self.first.resync(), self.second.resync())
    }

    fn apply_batch(&self, version: &Version, changes: Vec<Change<Self::Object>>) -> Result<(), StoreError> {
        let first = self.first.apply_batch(version, changes.clone());
        first_error(first, self.second.apply_batch(version, changes))
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        match (self.first.poll_ready(cx), self.second.poll_ready(cx)) {
            (Poll::Ready(()), Poll::Ready(())) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use informer_core::{KeyError, KeyFn};

    use super::*;
    use crate::{Cache, StoreExt};

    fn cache() -> Arc<Cache<String>> {
        Arc::new(Cache::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s)))))
    }

    /// Refuses objects starting with `!`.
    fn picky() -> Arc<Cache<String>> {
        Arc::new(Cache::new(KeyFn::new(|s: &String| {
            if s.starts_with('!') {
                Err(KeyError::new(format!("picky store refuses {s}")))
            } else {
                Ok(ObjectKey::new(s))
            }
        })))
    }

    fn s(v: &str) -> Arc<String> {
        Arc::new(v.to_string())
    }

    fn keys(c: &Cache<String>) -> Vec<String> {
        let mut k: Vec<String> = c.list_keys().iter().map(|k| k.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn every_write_reaches_both_stores_with_the_same_objects() {
        let (a, b) = (cache(), cache());
        let tee = Tee::new(Arc::clone(&a), Arc::clone(&b));
        let x = s("x");
        tee.add(Arc::clone(&x)).unwrap();
        tee.update(s("y")).unwrap();
        tee.add(s("z")).unwrap();
        tee.delete(s("z")).unwrap();
        assert!(Arc::ptr_eq(&a.get_by_key("x").unwrap(), &b.get_by_key("x").unwrap()));
        assert_eq!((keys(&a), keys(&b)), (vec!["x".into(), "y".into()], vec!["x".into(), "y".into()]));
        tee.replace(vec![s("q")], Version::from("2")).unwrap();
        tee.resync().unwrap();
        assert_eq!((keys(&a), keys(&b)), (vec!["q".into()], vec!["q".into()]));
    }

    #[test]
    fn second_store_gets_the_write_when_the_first_fails() {
        let (a, b) = (picky(), cache());
        let tee = Tee::new(Arc::clone(&a), Arc::clone(&b));
        let err = tee.add(s("!bang")).unwrap_err();
        assert!(err.to_string().contains("picky store refuses !bang"), "{err}");
        assert_eq!(keys(&b), ["!bang"]);
        assert!(tee.replace(vec![s("ok"), s("!no")], Version::from("1")).is_err());
        assert_eq!((keys(&a), keys(&b)), (vec!["ok".to_string()], vec!["!no".to_string(), "ok".to_string()]));
    }

    #[test]
    fn first_error_is_returned_when_both_fail() {
        let (a, b) = (picky(), Arc::new(Cache::new(KeyFn::new(|_: &String| Err(KeyError::new("second fails"))))));
        let err = Tee::new(a, b).add(s("!x")).unwrap_err();
        assert!(err.to_string().contains("picky"), "{err}");
    }

    #[test]
    fn reads_come_from_the_first_store() {
        let (a, b) = (cache(), cache());
        b.add(s("only-in-second")).unwrap();
        a.add(s("only-in-first")).unwrap();
        let tee = Tee::new(Arc::clone(&a), Arc::clone(&b));
        assert_eq!(tee.list_keys(), vec![ObjectKey::from("only-in-first")]);
        assert_eq!(tee.list().len(), 1);
        assert!(tee.get_by_key("only-in-second").is_none());
        assert!(tee.get(&"only-in-first".to_string()).unwrap().is_some());
    }

    #[test]
    fn nested_tees_feed_three_stores() {
        let (a, b, c) = (cache(), cache(), cache());
        let tee = Arc::clone(&a).tee(Arc::clone(&b)).tee(Arc::clone(&c));
        tee.add(s("x")).unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (1, 1, 1));
    }

    #[test]
    fn a_stack_chosen_at_run_time_works_boxed() {
        let (a, b) = (cache(), cache());
        let stack: Box<dyn Store<Object = String>> = if a.is_empty() {
            Box::new(Arc::clone(&a).tee(Arc::clone(&b).filtered(|s: &String| s.len() > 1)))
        } else {
            Box::new(Arc::clone(&a))
        };
        stack.add(s("x")).unwrap();
        stack.add(s("long")).unwrap();
        assert_eq!((keys(&a), keys(&b)), (vec!["long".into(), "x".into()], vec!["long".into()]));
        assert_eq!(stack.list().len(), 2);
    }

    #[test]
    fn a_batch_reaches_both_stores_whole() {
        let (a, b) = (cache(), cache());
        let tee = Tee::new(Arc::clone(&a), Arc::clone(&b));
        let changes = vec![Change::Added(Arc::new("x".to_string())), Change::Added(Arc::new("y".to_string()))];
        tee.apply_batch(&Version::from("3"), changes).unwrap();
        assert_eq!((a.len(), b.len()), (2, 2));
        let waker = futures::task::noop_waker();
        assert!(tee.poll_ready(&mut Context::from_waker(&waker)).is_ready());
    }
}

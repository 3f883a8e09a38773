//! [`Filter`]: keep only the objects a predicate accepts.

use std::sync::Arc;

use std::task::{Context, Poll};

use informer_core::{Change, ObjectKey, Store, StoreError, Version};

/// Keeps only the objects `predicate` accepts in the inner store (`Filter::new(inner, p)`).
///
/// # Contract
///
/// * An `add` or `update` of an accepted object is forwarded as is.
/// * An `add` or `update` of a rejected object is forwarded as a `delete` of that object: an
///   object that stops matching leaves the inner store (and a queue downstream sees it deleted,
///   with the state that made it leave). For a key the inner store does not hold, that delete
///   does nothing, as the [`Store`] contract says for unknown keys.
/// * `delete` is always forwarded, whether the object matches or not (it may have matched
///   before).
/// * `replace` forwards only the accepted items, so keys that no longer match are removed.
/// * Reads, `resync` and `poll_ready` are forwarded: the inner store holds only accepted
///   objects. `apply_batch` forwards the batch whole, rejected adds and updates turned into
///   deletes as above.
/// * The predicate should depend only on the object: it is called once per written object.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store};
/// use informer_stores::{Cache, Filter};
/// let evens = Filter::new(
///     Cache::new(KeyFn::new(|n: &(u32, u32)| Ok(ObjectKey::new(n.0.to_string())))),
///     |n: &(u32, u32)| n.1 % 2 == 0,
/// );
/// evens.add(Arc::new((1, 2))).unwrap();
/// evens.add(Arc::new((2, 3))).unwrap();
/// assert_eq!(evens.list_keys(), vec![ObjectKey::from("1")]);
/// evens.update(Arc::new((1, 5))).unwrap(); // stops matching: deleted downstream
/// assert!(evens.list_keys().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Filter<S, P> {
    inner: S,
    predicate: P,
}

impl<S, P> Filter<S, P> {
    /// Keeps in `inner` only the objects `predicate` accepts.
    pub fn new(inner: S, predicate: P) -> Self {
        Self { inner, predicate }
    }

    /// The inner store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The inner store, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P> Store for Filter<S, P>
where
    S: Store,
    P: Fn(&S::Object) -> bool + Send + Sync,
{
    type Object = S::Object;

    fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        if (self.predicate)(&object) { self.inner.add(object) } else { self.inner.delete(object) }
    }

    fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        if (self.predicate)(&object) { self.inner.update(object) } else { self.inner.delete(object) }
    }

    fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
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

    fn replace(&self, mut items: Vec<Arc<Self::Object>>, version: Version) -> Result<(), StoreError> {
        items.retain(|o| (self.predicate)(o));
        self.inner.replace(items, version)
    }

    fn resync(&self) -> Result<(), StoreError> {
        self.inner.resync()
    }

    fn apply_batch(&self, version: &Version, changes: Vec<Change<Self::Object>>) -> Result<(), StoreError> {
        let changes = changes
            .into_iter()
            .map(|change| match change {
                Change::Added(o) | Change::Modified(o) if !(self.predicate)(&o) => Change::Deleted(o),
                other => other,
            })
            .collect();
        self.inner.apply_batch(version, changes)
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use informer_core::KeyFn;

    use super::*;
    use crate::stack::probe::Recorder;
    use crate::{Cache, StoreExt};

    /// `(name, phase)`; the filter keeps running objects.
    type Obj = (&'static str, &'static str);

    fn running() -> Filter<Recorder<Obj>, impl Fn(&Obj) -> bool + Send + Sync> {
        Recorder::new(KeyFn::new(|o: &Obj| Ok(ObjectKey::new(o.0)))).filtered(|o: &Obj| o.1 == "Running")
    }

    fn keys(f: &impl Store) -> Vec<String> {
        let mut k: Vec<String> = f.list_keys().iter().map(|k| k.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn accepted_writes_are_forwarded_as_is() {
        let f = running();
        f.add(Arc::new(("a", "Running"))).unwrap();
        f.update(Arc::new(("a", "Running"))).unwrap();
        assert_eq!(f.inner().calls(), ["add (\"a\", \"Running\")", "update (\"a\", \"Running\")"]);
    }

    #[test]
    fn filter_deletes_downstream_when_object_stops_matching() {
        let f = running();
        f.add(Arc::new(("a", "Running"))).unwrap();
        f.update(Arc::new(("a", "Succeeded"))).unwrap();
        assert!(keys(&f).is_empty());
        assert_eq!(f.inner().calls()[1], "delete (\"a\", \"Succeeded\")");
    }

    #[test]
    fn rejected_add_of_an_unknown_key_changes_nothing() {
        let f = running();
        f.add(Arc::new(("b", "Pending"))).unwrap();
        assert!(keys(&f).is_empty());
    }

    #[test]
    fn object_that_starts_matching_is_added() {
        let f = running();
        f.add(Arc::new(("a", "Pending"))).unwrap();
        f.update(Arc::new(("a", "Running"))).unwrap();
        assert_eq!(keys(&f), ["a"]);
    }

    #[test]
    fn delete_is_forwarded_whether_or_not_the_object_matches() {
        let f = running();
        f.add(Arc::new(("a", "Running"))).unwrap();
        f.delete(Arc::new(("a", "Terminating"))).unwrap();
        assert!(keys(&f).is_empty());
        assert_eq!(f.inner().calls()[1], "delete (\"a\", \"Terminating\")");
    }

    #[test]
    fn replace_filters_the_items() {
        let f = running();
        f.add(Arc::new(("a", "Running"))).unwrap();
        f.replace(vec![Arc::new(("a", "Failed")), Arc::new(("b", "Running"))], Version::from("4")).unwrap();
        assert_eq!(keys(&f), ["b"]);
        assert_eq!(f.inner().calls()[1], "replace [(\"b\", \"Running\")] at 4");
    }

    #[test]
    fn reads_and_resync_are_forwarded() {
        let f = running();
        f.add(Arc::new(("a", "Running"))).unwrap();
        assert_eq!(*f.get_by_key("a").unwrap(), ("a", "Running"));
        assert!(f.get(&("a", "whatever")).unwrap().is_some());
        assert_eq!(f.list().len(), 1);
        f.resync().unwrap();
        assert_eq!(f.inner().calls().last().map(String::as_str), Some("resync"));
    }

    #[test]
    fn filters_compose_with_other_stacks() {
        let cache = Arc::new(Cache::new(KeyFn::new(|o: &Obj| Ok(ObjectKey::new(o.0)))));
        let f = Arc::clone(&cache).filtered(|o: &Obj| o.1 != "Pending").filtered(|o: &Obj| o.0 != "skip");
        for o in [("a", "Running"), ("b", "Pending"), ("skip", "Running")] {
            f.add(Arc::new(o)).unwrap();
        }
        assert_eq!(keys(&*cache), ["a"]);
    }

    #[test]
    fn a_batch_turns_rejected_adds_into_deletes() {
        let cache = Arc::new(Cache::new(KeyFn::new(|n: &(u32, u32)| Ok(ObjectKey::new(n.0.to_string())))));
        let evens = Filter::new(Arc::clone(&cache), |n: &(u32, u32)| n.1.is_multiple_of(2));
        evens.add(Arc::new((1, 2))).unwrap();
        let changes = vec![Change::Modified(Arc::new((1, 3))), Change::Added(Arc::new((2, 4)))];
        evens.apply_batch(&Version::from("2"), changes).unwrap();
        assert_eq!(cache.list_keys(), vec![ObjectKey::from("2")]);
    }
}

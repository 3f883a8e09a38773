//! [`Transform`]: map objects before storing them.

use std::sync::Arc;

use std::task::{Context, Poll};

use informer_core::{Change, ObjectKey, Store, StoreError, Version};

/// Maps every written object with a function before handing it to the inner store
/// (client-go's `TransformFunc`), e.g. to drop fields nobody reads and save memory.
///
/// # Contract
///
/// * `add`, `update`, `delete` and `replace` pass `transform(object)` to the inner store;
///   deletes are transformed too, so a queue downstream only ever sees transformed objects.
/// * The transform must keep the object's key: the inner store files the transformed object
///   under its own key, and `get` looks up the key of the untransformed object.
/// * Reads (`list`, `list_keys`, `get`, `get_by_key`) return the inner store's, i.e. the
///   transformed objects; `get` does not transform its argument.
/// * `resync` and `poll_ready` are forwarded; `apply_batch` forwards the batch whole, each
///   object transformed.
///
/// # Why input and output have the same type
///
/// The [`Store`] trait reads and writes one object type. A transform to another type could
/// be written, but its reads would have to turn stored objects back into inputs, which a
/// lossy transform (the whole point) cannot do. So `Transform` maps `T` to `T`, the common
/// case (strip fields, intern strings, normalize). To store a different, smaller type, map the
/// objects in the source (a `ListerWatcher` adapter) and mirror that type directly.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store};
/// use informer_stores::{Cache, Transform};
/// // "name:details"; the transform drops the details (and keeps the key).
/// let key = KeyFn::new(|s: &String| Ok(ObjectKey::new(s.split(':').next().unwrap_or_default())));
/// let cache = Arc::new(Cache::new(key));
/// let short = Transform::new(Arc::clone(&cache), |s: Arc<String>| match s.split_once(':') {
///     Some((name, _)) => Arc::new(name.to_string()),
///     None => s,
/// });
/// short.add(Arc::new("a:lots of details".to_string())).unwrap();
/// assert_eq!(cache.get_by_key("a").as_deref().map(String::as_str), Some("a"));
/// ```
#[derive(Debug, Clone)]
pub struct Transform<S, F> {
    inner: S,
    transform: F,
}

impl<S, F> Transform<S, F> {
    /// Transforms objects with `transform` before writing them to `inner`.
    pub fn new(inner: S, transform: F) -> Self {
        Self { inner, transform }
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

impl<S, F> Store for Transform<S, F>
where
    S: Store,
    F: Fn(Arc<S::Object>) -> Arc<S::Object> + Send + Sync,
{
    type Object = S::Object;

    fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.inner.add((self.transform)(object))
    }

    fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.inner.update((self.transform)(object))
    }

    fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
        self.inner.delete((self.transform)(object))
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
        self.inner.replace(items.into_iter().map(&self.transform).collect(), version)
    }

    fn resync(&self) -> Result<(), StoreError> {
        self.inner.resync()
    }

    fn apply_batch(&self, version: &Version, changes: Vec<Change<Self::Object>>) -> Result<(), StoreError> {
        self.inner.apply_batch(version, changes.into_iter().map(|c| c.map(&self.transform)).collect())
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::probe::Recorder;
    use crate::{Cache, StoreExt};
    use informer_core::KeyFn;

    #[derive(Debug, Clone, PartialEq)]
    struct Obj {
        name: String,
        managed_fields: Option<String>,
    }

    fn obj(name: &str) -> Arc<Obj> {
        Arc::new(Obj { name: name.into(), managed_fields: Some("big".into()) })
    }

    fn strip(o: Arc<Obj>) -> Arc<Obj> {
        Arc::new(Obj { managed_fields: None, ..(*o).clone() })
    }

    fn key() -> KeyFn<Obj> {
        KeyFn::new(|o: &Obj| Ok(ObjectKey::new(&o.name)))
    }

    #[test]
    fn writes_store_the_transformed_objects() {
        let cache = Arc::new(Cache::new(key()));
        let t = Arc::clone(&cache).transformed(strip);
        t.add(obj("a")).unwrap();
        t.update(obj("b")).unwrap();
        t.replace(vec![obj("b"), obj("c")], Version::from("1")).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.list().iter().all(|o| o.managed_fields.is_none()));
    }

    #[test]
    fn deletes_are_transformed_too() {
        let t = Recorder::new(key()).transformed(strip);
        t.add(obj("a")).unwrap();
        t.delete(obj("a")).unwrap();
        assert_eq!(
            t.inner().calls(),
            ["add Obj { name: \"a\", managed_fields: None }", "delete Obj { name: \"a\", managed_fields: None }"]
        );
        assert!(t.list().is_empty());
    }

    #[test]
    fn reads_return_the_transformed_objects() {
        let t = Cache::new(key()).transformed(strip);
        t.add(obj("a")).unwrap();
        assert_eq!(t.get_by_key("a").unwrap().managed_fields, None);
        assert_eq!(t.get(&obj("a")).unwrap().unwrap().managed_fields, None);
        assert_eq!(t.list()[0].managed_fields, None);
        assert_eq!(t.list_keys(), vec![ObjectKey::from("a")]);
    }

    #[test]
    fn resync_is_forwarded() {
        let t = Recorder::new(key()).transformed(strip);
        t.resync().unwrap();
        assert_eq!(t.inner().calls(), ["resync"]);
    }
}

//! `--index NAME=JSONPOINTER` and `--query NAME=VALUE`: secondary indexes over the JSON form
//! of the mirrored objects.
//!
//! An index maps each value found at a JSON pointer to the keys of the objects that have it.
//! Strings index as themselves, numbers and booleans as their JSON text, arrays index every
//! element (a multi-valued index, like client-go's index functions that return several
//! values); `null`, objects and missing fields index nothing.

use std::sync::Arc;

use informer_core::{ObjectKey, Store};
use informer_stores::{IndexFn, Indexer, Indexers};
use serde_json::Value;

use super::ObjectAdapter;
use crate::args::IndexSpec;

/// The index values of `json` at `pointer` (see the [module docs](self)).
///
/// ```
/// use serde_json::json;
/// use informer_cli::mirror::pointer_values;
/// let pod = json!({"spec": {"nodeName": "n1"}, "ports": [80, 443]});
/// assert_eq!(pointer_values(&pod, "/spec/nodeName"), ["n1"]);
/// assert_eq!(pointer_values(&pod, "/ports"), ["80", "443"]);
/// assert!(pointer_values(&pod, "/missing").is_empty());
/// ```
pub fn pointer_values(json: &Value, pointer: &str) -> Vec<String> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match json.pointer(pointer) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The `--index` indexes: an [`Indexer`] from `informer-stores` whose index functions read
/// the JSON form of each object at a pointer. The [`MirrorStore`](super::MirrorStore)
/// forwards every change to it; the objects are shared (`Arc`), not copied.
pub struct JsonIndex<T> {
    indexer: Arc<Indexer<T>>,
    names: Vec<String>,
}

impl<T> std::fmt::Debug for JsonIndex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonIndex").field("names", &self.names).finish()
    }
}

impl<T: Send + Sync + 'static> JsonIndex<T> {
    /// Indexes the JSON form of objects (rendered by `adapter`) at each spec's pointer.
    pub fn new(adapter: ObjectAdapter<T>, specs: Vec<IndexSpec>) -> Self {
        let mut indexers = Indexers::new();
        for spec in &specs {
            let (adapter, pointer) = (adapter.clone(), spec.pointer.clone());
            indexers = indexers.with(
                spec.name.clone(),
                IndexFn::owned(move |object: &T| pointer_values(&adapter.to_json(object), &pointer)),
            );
        }
        let names = specs.into_iter().map(|s| s.name).collect();
        Self { indexer: Arc::new(Indexer::with_indexers(adapter.key.clone(), indexers)), names }
    }

    /// The indexer, as the store the mirror forwards changes to.
    pub fn store(&self) -> Box<dyn Store<Object = T>> {
        Box::new(Arc::clone(&self.indexer))
    }

    /// The keys whose index `name` has `value`, sorted. Errors if no index has that name.
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<ObjectKey>, String> {
        let mut keys =
            self.indexer.index_keys(name, value).map_err(|e| format!("{e} (indexes: {})", self.names.join(", ")))?;
        keys.sort();
        Ok(keys)
    }

    /// Every value of index `name`, sorted.
    pub fn values(&self, name: &str) -> Vec<String> {
        let mut values = self.indexer.list_index_values(name).unwrap_or_default();
        values.sort();
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_core::{KeyFn, Version};
    use serde_json::json;

    fn index() -> JsonIndex<Value> {
        let adapter = ObjectAdapter::new(
            KeyFn::new(|v: &Value| Ok(ObjectKey::new(v["name"].as_str().unwrap_or_default()))),
            Value::clone,
        );
        let spec = IndexSpec { name: "node".into(), pointer: "/node".into() };
        let tags = IndexSpec { name: "tag".into(), pointer: "/tags".into() };
        JsonIndex::new(adapter, vec![spec, tags])
    }

    #[test]
    fn update_moves_a_key_between_index_values() {
        let idx = index();
        let store = idx.store();
        store.add(Arc::new(json!({"name": "a", "node": "n1"}))).unwrap();
        store.add(Arc::new(json!({"name": "b", "node": "n1"}))).unwrap();
        store.update(Arc::new(json!({"name": "a", "node": "n2"}))).unwrap();
        assert_eq!(idx.by_index("node", "n1").unwrap(), [ObjectKey::from("b")]);
        assert_eq!(idx.by_index("node", "n2").unwrap(), [ObjectKey::from("a")]);
        store.delete(Arc::new(json!({"name": "b"}))).unwrap();
        assert!(idx.by_index("node", "n1").unwrap().is_empty());
        assert_eq!(idx.values("node"), ["n2"]);
    }

    #[test]
    fn arrays_index_every_element_and_replace_drops_vanished_keys() {
        let idx = index();
        let store = idx.store();
        store.add(Arc::new(json!({"name": "a", "tags": ["x", "y"]}))).unwrap();
        assert_eq!(idx.by_index("tag", "y").unwrap(), [ObjectKey::from("a")]);
        store.replace(vec![Arc::new(json!({"name": "c", "tags": ["y"]}))], Version::from("9")).unwrap();
        assert_eq!(idx.by_index("tag", "y").unwrap(), [ObjectKey::from("c")]);
        assert!(idx.by_index("tag", "x").unwrap().is_empty());
    }

    #[test]
    fn unknown_index_names_are_reported_with_the_known_ones() {
        let err = index().by_index("zone", "a").unwrap_err();
        assert!(err.contains("zone") && err.contains("node, tag"), "{err}");
    }
}

//! `--index NAME=JSONPOINTER` and `--query NAME=VALUE`: secondary indexes over the JSON form
//! of the mirrored objects.
//!
//! An index maps each value found at a JSON pointer to the keys of the objects that have it.
//! Strings index as themselves, numbers and booleans as their JSON text, arrays index every
//! element (a multi-valued index, like client-go's index functions that return several
//! values); `null`, objects and missing fields index nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use informer_core::{ObjectKey, Store, StoreError, Version};
use parking_lot::RwLock;
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

#[derive(Default)]
struct Indexes {
    /// index name → value → keys.
    by_value: HashMap<String, HashMap<String, BTreeSet<ObjectKey>>>,
    /// key → (index name → values), to remove an object's old entries.
    by_key: HashMap<ObjectKey, Vec<Vec<String>>>,
}

/// A store that keeps only the `--index` indexes of the objects it is given (the objects
/// themselves live in the [`MirrorStore`](super::MirrorStore) that forwards to it).
pub struct JsonIndex<T> {
    adapter: ObjectAdapter<T>,
    specs: Vec<IndexSpec>,
    state: RwLock<Indexes>,
}

impl<T> std::fmt::Debug for JsonIndex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonIndex").field("specs", &self.specs).finish()
    }
}

impl<T: Send + Sync + 'static> JsonIndex<T> {
    /// Indexes the JSON form of objects (rendered by `adapter`) at each spec's pointer.
    pub fn new(adapter: ObjectAdapter<T>, specs: Vec<IndexSpec>) -> Self {
        Self { adapter, specs, state: RwLock::new(Indexes::default()) }
    }

    /// The keys whose index `name` has `value`, sorted. Errors if no index has that name.
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<ObjectKey>, String> {
        if !self.specs.iter().any(|s| s.name == name) {
            let known: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
            return Err(format!("no index named `{name}` (indexes: {})", known.join(", ")));
        }
        let state = self.state.read();
        let keys = state.by_value.get(name).and_then(|values| values.get(value));
        Ok(keys.map(|k| k.iter().cloned().collect()).unwrap_or_default())
    }

    /// Every value of index `name` with how many objects have it.
    pub fn values(&self, name: &str) -> BTreeMap<String, usize> {
        let state = self.state.read();
        state
            .by_value
            .get(name)
            .map(|values| values.iter().map(|(v, keys)| (v.clone(), keys.len())).collect())
            .unwrap_or_default()
    }

    fn entries(&self, object: &T) -> Vec<Vec<String>> {
        let json = self.adapter.to_json(object);
        self.specs.iter().map(|spec| pointer_values(&json, &spec.pointer)).collect()
    }

    fn remove_locked(&self, state: &mut Indexes, key: &ObjectKey) {
        let Some(old) = state.by_key.remove(key) else { return };
        for (spec, values) in self.specs.iter().zip(old) {
            let Some(index) = state.by_value.get_mut(&spec.name) else { continue };
            for value in values {
                if let Some(keys) = index.get_mut(&value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.remove(&value);
                    }
                }
            }
        }
    }

    fn insert_locked(&self, state: &mut Indexes, key: ObjectKey, entries: Vec<Vec<String>>) {
        self.remove_locked(state, &key);
        for (spec, values) in self.specs.iter().zip(&entries) {
            let index = state.by_value.entry(spec.name.clone()).or_default();
            for value in values {
                index.entry(value.clone()).or_default().insert(key.clone());
            }
        }
        state.by_key.insert(key, entries);
    }

    fn set(&self, object: &T) -> Result<(), StoreError> {
        let key = self.adapter.key.key(object)?;
        let entries = self.entries(object);
        let mut state = self.state.write();
        self.insert_locked(&mut state, key, entries);
        Ok(())
    }
}

impl<T: Send + Sync + 'static> Store for JsonIndex<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(&object)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set(&object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.adapter.key.key(&object)?;
        self.remove_locked(&mut self.state.write(), &key);
        Ok(())
    }

    /// The index keeps no objects; read them from the mirror.
    fn list(&self) -> Vec<Arc<T>> {
        Vec::new()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.state.read().by_key.keys().cloned().collect()
    }

    /// The index keeps no objects; read them from the mirror.
    fn get(&self, _object: &T) -> Result<Option<Arc<T>>, StoreError> {
        Ok(None)
    }

    /// The index keeps no objects; read them from the mirror.
    fn get_by_key(&self, _key: &str) -> Option<Arc<T>> {
        None
    }

    fn replace(&self, items: Vec<Arc<T>>, _version: Version) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut fresh = Vec::with_capacity(items.len());
        for item in &items {
            match self.adapter.key.key(item) {
                Ok(key) => fresh.push((key, self.entries(item))),
                Err(err) => {
                    first_error.get_or_insert(StoreError::from(err));
                }
            }
        }
        let mut state = self.state.write();
        *state = Indexes::default();
        for (key, entries) in fresh {
            self.insert_locked(&mut state, key, entries);
        }
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_core::KeyFn;
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
        idx.add(Arc::new(json!({"name": "a", "node": "n1"}))).unwrap();
        idx.add(Arc::new(json!({"name": "b", "node": "n1"}))).unwrap();
        idx.update(Arc::new(json!({"name": "a", "node": "n2"}))).unwrap();
        assert_eq!(idx.by_index("node", "n1").unwrap(), [ObjectKey::from("b")]);
        assert_eq!(idx.by_index("node", "n2").unwrap(), [ObjectKey::from("a")]);
        idx.delete(Arc::new(json!({"name": "b"}))).unwrap();
        assert!(idx.by_index("node", "n1").unwrap().is_empty());
        assert_eq!(idx.values("node").into_iter().collect::<Vec<_>>(), [("n2".to_string(), 1)]);
    }

    #[test]
    fn arrays_index_every_element_and_replace_drops_vanished_keys() {
        let idx = index();
        idx.add(Arc::new(json!({"name": "a", "tags": ["x", "y"]}))).unwrap();
        assert_eq!(idx.by_index("tag", "y").unwrap(), [ObjectKey::from("a")]);
        idx.replace(vec![Arc::new(json!({"name": "c", "tags": ["y"]}))], Version::from("9")).unwrap();
        assert_eq!(idx.by_index("tag", "y").unwrap(), [ObjectKey::from("c")]);
        assert!(idx.by_index("tag", "x").unwrap().is_empty());
    }

    #[test]
    fn unknown_index_names_are_reported_with_the_known_ones() {
        let err = index().by_index("zone", "a").unwrap_err();
        assert!(err.contains("zone") && err.contains("node, tag"), "{err}");
    }
}

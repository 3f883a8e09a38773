//! [`MirrorStore`]: the store the command's reflector feeds.
//!
//! It keeps the mirror sorted by key (so snapshots need no sort), prints `--events` lines,
//! forwards every change to an optional index store (the `--index` indexer), and bumps a
//! change counter that wakes the snapshot writer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use informer_core::{Change, ObjectKey, Store, StoreError, Version};
use parking_lot::RwLock;
use serde_json::json;
use tokio::sync::Notify;

use super::{ListProgress, ObjectAdapter};
use crate::output::Output;

/// A store that mirrors objects of type `T` into a sorted map. See the [module docs](self).
pub struct MirrorStore<T> {
    adapter: ObjectAdapter<T>,
    objects: RwLock<BTreeMap<ObjectKey, Arc<T>>>,
    forward: Option<Box<dyn Store<Object = T>>>,
    events: Option<Output>,
    /// The SOURCE named in each event line, when a run mirrors several.
    source_label: Option<String>,
    changes: AtomicU64,
    changed: Notify,
    replaces: AtomicU64,
    event_versions: OnceLock<Arc<ListProgress>>,
    /// `informer_store_objects`, once `--metrics` asked for it.
    objects_gauge: OnceLock<metrics::Gauge>,
}

impl<T> std::fmt::Debug for MirrorStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorStore").field("objects", &self.objects.read().len()).finish()
    }
}

impl<T: Send + Sync + 'static> MirrorStore<T> {
    /// A store that keys and renders objects with `adapter`, forwards every change to
    /// `forward` (if any) and prints event lines to `events` (if any).
    pub fn new(adapter: ObjectAdapter<T>, forward: Option<Box<dyn Store<Object = T>>>, events: Option<Output>) -> Self {
        Self {
            adapter,
            objects: RwLock::new(BTreeMap::new()),
            forward,
            events,
            source_label: None,
            changes: AtomicU64::new(0),
            changed: Notify::new(),
            replaces: AtomicU64::new(0),
            event_versions: OnceLock::new(),
            objects_gauge: OnceLock::new(),
        }
    }

    /// Names `source` in every event line, as a `source` field (builder style): a run that
    /// mirrors several SOURCEs tells their lines apart by it.
    #[must_use]
    pub fn with_source_label(mut self, source: impl Into<String>) -> Self {
        self.source_label = Some(source.into());
        self
    }

    /// Records the number of objects mirrored as `informer_store_objects{name}` from now on.
    pub fn record_objects(&self, name: &str) {
        let gauge = metrics::gauge!(informer_stores::telemetry::STORE_OBJECTS, "name" => name.to_string());
        gauge.set(self.len() as f64);
        let _ = self.objects_gauge.set(gauge);
    }

    /// Reads the version of the watch event being applied from `progress` (the source wrapper
    /// the reflector reads), for `--events` lines. Without it, lines show the object's version.
    pub fn set_event_versions(&self, progress: Arc<ListProgress>) {
        let _ = self.event_versions.set(progress);
    }

    /// How many objects the mirror holds.
    pub fn len(&self) -> usize {
        self.objects.read().len()
    }

    /// True if the mirror is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.read().is_empty()
    }

    /// The mirror now, sorted by key (cheap: the objects are shared).
    pub fn sorted(&self) -> Vec<(ObjectKey, Arc<T>)> {
        self.objects.read().iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect()
    }

    /// The adapter this store renders objects with.
    pub fn adapter(&self) -> &ObjectAdapter<T> {
        &self.adapter
    }

    /// A counter bumped by every change; compare two readings to see whether anything changed.
    pub fn change_count(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Returns once [`change_count`](Self::change_count) differs from `seen`.
    pub async fn changed_since(&self, seen: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a change between the check and the wait is not lost.
            notified.as_mut().enable();
            if self.change_count() != seen {
                return;
            }
            notified.await;
        }
    }

    fn mark_changed(&self) {
        if let Some(gauge) = self.objects_gauge.get() {
            gauge.set(self.len() as f64);
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// The version to show for a watch event on `object`.
    fn watch_version(&self, object: &T) -> Option<Version> {
        self.event_versions.get().and_then(|p| p.event_version()).or_else(|| self.adapter.version(object))
    }

    fn event(&self, kind: &str, key: Option<&str>, version: Option<Version>) {
        let Some(out) = &self.events else { return };
        let mut line = json!({"type": kind, "key": key, "version": version.as_deref().unwrap_or("")});
        if let Some(source) = &self.source_label {
            line["source"] = json!(source);
        }
        out.line(line.to_string());
    }

    fn set(&self, kind: &str, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.adapter.key.key(&object)?;
        let version = if self.events.is_some() { self.watch_version(&object) } else { None };
        self.objects.write().insert(key.clone(), Arc::clone(&object));
        let forwarded = self.forward_op(|s| if kind == "ADDED" { s.add(object) } else { s.update(object) });
        self.event(kind, Some(&key), version);
        self.mark_changed();
        forwarded
    }

    fn forward_op(&self, op: impl FnOnce(&dyn Store<Object = T>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        match &self.forward {
            Some(store) => op(store.as_ref()),
            None => Ok(()),
        }
    }
}

impl<T: Send + Sync + 'static> Store for MirrorStore<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set("ADDED", object)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.set("MODIFIED", object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.adapter.key.key(&object)?;
        let version = if self.events.is_some() { self.watch_version(&object) } else { None };
        self.objects.write().remove(&key);
        let forwarded = self.forward_op(|s| s.delete(object));
        self.event("DELETED", Some(&key), version);
        self.mark_changed();
        forwarded
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.objects.read().values().cloned().collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.objects.read().keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.adapter.key.key(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.objects.read().get(key).cloned()
    }

    /// Replaces the mirror; prints an event per difference (every object on the first list),
    /// then `SYNCED` (first list) or `RELISTED`.
    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut next = BTreeMap::new();
        for item in &items {
            match self.adapter.key.key(item) {
                Ok(key) => {
                    next.insert(key, Arc::clone(item));
                }
                Err(err) => {
                    first_error.get_or_insert(StoreError::from(err));
                }
            }
        }
        // The old map is kept only to print the differences.
        let (previous, next) = if self.events.is_some() {
            (std::mem::replace(&mut *self.objects.write(), next.clone()), next)
        } else {
            *self.objects.write() = next;
            (BTreeMap::new(), BTreeMap::new())
        };
        let forwarded = self.forward_op(|s| s.replace(items, version.clone()));
        if self.events.is_some() {
            for (key, object) in &next {
                match previous.get(key) {
                    None => self.event("ADDED", Some(key), Some(version.clone())),
                    Some(old) if !self.adapter.same(old, object) => {
                        self.event("MODIFIED", Some(key), Some(version.clone()))
                    }
                    Some(_) => {}
                }
            }
            for key in previous.keys() {
                if !next.contains_key(key) {
                    self.event("DELETED", Some(key), Some(version.clone()));
                }
            }
            let kind = if self.replaces.load(Ordering::Acquire) == 0 { "SYNCED" } else { "RELISTED" };
            self.event(kind, None, Some(version));
        }
        self.replaces.fetch_add(1, Ordering::AcqRel);
        self.mark_changed();
        match first_error {
            Some(err) => Err(err),
            None => forwarded,
        }
    }

    fn resync(&self) -> Result<(), StoreError> {
        self.forward_op(|s| s.resync())
    }

    /// Applies one version's changes under one lock (a snapshot never holds half a
    /// transaction), forwards the batch whole, and prints one line per change with `version`.
    fn apply_batch(&self, version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return self.forward_op(|s| s.apply_batch(version, changes));
        }
        let mut first_error = None;
        let mut keyed = Vec::with_capacity(changes.len());
        for change in &changes {
            match self.adapter.key.key(change.object()) {
                Ok(key) => keyed.push((key, change.clone())),
                Err(err) => {
                    first_error.get_or_insert(StoreError::from(err));
                }
            }
        }
        {
            let mut objects = self.objects.write();
            for (key, change) in &keyed {
                match change {
                    Change::Added(o) | Change::Modified(o) => objects.insert(key.clone(), Arc::clone(o)),
                    Change::Deleted(_) => objects.remove(key),
                };
            }
        }
        let forwarded = self.forward_op(|s| s.apply_batch(version, changes));
        for (key, change) in &keyed {
            self.event(change.type_name(), Some(key), Some(version.clone()));
        }
        self.mark_changed();
        first_error.map_or(forwarded, Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::OutputWriter;
    use informer_core::KeyFn;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    type Pair = (String, u32);

    fn adapter() -> ObjectAdapter<Pair> {
        ObjectAdapter::new(KeyFn::new(|p: &Pair| Ok(ObjectKey::new(&p.0))), |p: &Pair| json!(p.1))
            .with_version(|p: &Pair| Some(Version::new(p.1.to_string())))
    }

    fn lines(buf: &Buf) -> Vec<serde_json::Value> {
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn replace_prints_differences_then_synced_or_relisted() {
        let buf = Buf::default();
        let writer = OutputWriter::new(buf.clone());
        let store = MirrorStore::new(adapter(), None, Some(writer.output()));
        store.replace(vec![Arc::new(("b".into(), 1)), Arc::new(("a".into(), 2))], Version::from("2")).unwrap();
        store.update(Arc::new(("a".into(), 3))).unwrap();
        store.replace(vec![Arc::new(("a".into(), 4)), Arc::new(("c".into(), 5))], Version::from("5")).unwrap();
        drop(store);
        writer.finish().unwrap();
        let got: Vec<(String, serde_json::Value)> =
            lines(&buf).into_iter().map(|l| (l["type"].as_str().unwrap().to_string(), l["key"].clone())).collect();
        let want = [
            ("ADDED", json!("a")),
            ("ADDED", json!("b")),
            ("SYNCED", json!(null)),
            ("MODIFIED", json!("a")),
            ("MODIFIED", json!("a")),
            ("ADDED", json!("c")),
            ("DELETED", json!("b")),
            ("RELISTED", json!(null)),
        ];
        let want: Vec<(String, serde_json::Value)> = want.into_iter().map(|(t, k)| (t.to_string(), k)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_batch_prints_each_change_with_the_batchs_version() {
        let buf = Buf::default();
        let writer = OutputWriter::new(buf.clone());
        let store = MirrorStore::new(adapter(), None, Some(writer.output()));
        store.replace(vec![Arc::new(("a".into(), 1))], Version::from("1")).unwrap();
        let changes = vec![Change::Modified(Arc::new(("a".into(), 2))), Change::Added(Arc::new(("b".into(), 2)))];
        store.apply_batch(&Version::from("7"), changes).unwrap();
        drop(store);
        writer.finish().unwrap();
        let got: Vec<(String, String)> = lines(&buf)[2..]
            .iter()
            .map(|l| (l["key"].as_str().unwrap().to_string(), l["version"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(got, [("a".to_string(), "7".to_string()), ("b".to_string(), "7".to_string())]);
    }

    #[test]
    fn a_source_label_names_the_source_in_every_line() {
        let buf = Buf::default();
        let writer = OutputWriter::new(buf.clone());
        let store = MirrorStore::new(adapter(), None, Some(writer.output())).with_source_label("memory://a");
        store.replace(vec![Arc::new(("a".into(), 1))], Version::from("1")).unwrap();
        store.delete(Arc::new(("a".into(), 1))).unwrap();
        drop(store);
        writer.finish().unwrap();
        let got = lines(&buf);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|l| l["source"] == "memory://a"), "{got:?}");
    }

    #[test]
    fn mirror_stays_sorted_and_counts_changes() {
        let store = MirrorStore::new(adapter(), None, None);
        let before = store.change_count();
        store.add(Arc::new(("z".into(), 1))).unwrap();
        store.add(Arc::new(("m".into(), 2))).unwrap();
        store.delete(Arc::new(("z".into(), 1))).unwrap();
        store.delete(Arc::new(("never".into(), 0))).unwrap();
        let keys: Vec<String> = store.sorted().into_iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["m"]);
        assert_eq!(store.change_count() - before, 4);
    }
}

//! The server's storage: a [`MemorySource`] holding every object of every kind (keys
//! `pods/ns/name`, `widgets.group/name`), plus an undo log so lists can be served at an exact
//! past revision (continue tokens, `resourceVersionMatch=Exact`), like etcd's MVCC reads.
//!
//! Revisions are global across kinds, as etcd's are: a configmap change moves the revision a
//! pod watcher sees in its bookmarks.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use informer_core::ObjectKey;
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use parking_lot::Mutex;
use serde_json::Value;

use super::status::ApiError;

/// One stored object: its compact JSON (with `metadata.resourceVersion` already set) and
/// what selectors need, extracted once at write time.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) json: Bytes,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) fields: BTreeMap<String, String>,
    /// `metadata.uid` ("" if missing), which shard selectors hash.
    pub(crate) uid: String,
}

impl Stored {
    fn new(value: &Value) -> Result<Self, String> {
        let json = Bytes::from(serde_json::to_vec(value).map_err(|e| format!("cannot serialize object: {e}"))?);
        let labels = value["metadata"]["labels"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let mut fields = BTreeMap::new();
        for (path, v) in [
            ("metadata.name", &value["metadata"]["name"]),
            ("metadata.namespace", &value["metadata"]["namespace"]),
            ("spec.nodeName", &value["spec"]["nodeName"]),
            ("status.phase", &value["status"]["phase"]),
        ] {
            if let Some(s) = v.as_str() {
                fields.insert(path.to_string(), s.to_string());
            }
        }
        let uid = value["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        Ok(Self { json, labels, fields, uid })
    }

    /// The JSON with `metadata.resourceVersion` replaced (for `DELETED` events, whose object
    /// carries the revision of the deletion).
    pub(crate) fn json_at(&self, revision: u64) -> Bytes {
        match serde_json::from_slice::<Value>(&self.json) {
            Ok(mut value) => {
                value["metadata"]["resourceVersion"] = Value::String(revision.to_string());
                serde_json::to_vec(&value).map(Bytes::from).unwrap_or_else(|_| self.json.clone())
            }
            Err(_) => self.json.clone(),
        }
    }
}

struct Undo {
    revision: u64,
    key: ObjectKey,
    previous: Option<Arc<Stored>>,
}

struct Log {
    /// Undo entries for revisions `oldest + 1 ..= current`, in order.
    entries: VecDeque<Undo>,
    /// Reads at revisions below this are gone (compacted).
    oldest: u64,
    history: usize,
    cache: Option<(u64, Arc<Snapshot>)>,
}

type Snapshot = BTreeMap<ObjectKey, MemoryObject<Stored>>;

/// The state of the collection at one revision: the current snapshot with older values laid
/// over the keys changed since.
pub(crate) struct View {
    pub(crate) revision: u64,
    base: Arc<Snapshot>,
    overrides: BTreeMap<ObjectKey, Option<Arc<Stored>>>,
}

impl View {
    /// Objects whose key starts with `prefix`, from `start` (inclusive) on, in key order.
    pub(crate) fn range<'a>(
        &'a self,
        prefix: &'a str,
        start: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Stored>)> + 'a {
        let from = if start > prefix { start } else { prefix };
        let mut base =
            self.base.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded)).peekable();
        let mut over =
            self.overrides.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded)).peekable();
        std::iter::from_fn(move || {
            loop {
                let take_over = match (base.peek(), over.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some((bk, _)), Some((ok, _))) => ok <= bk,
                };
                let (key, value) = if take_over {
                    let (ok, ov) = over.next()?;
                    if base.peek().is_some_and(|(bk, _)| *bk == ok) {
                        base.next();
                    }
                    (ok, ov.as_ref())
                } else {
                    let (bk, bv) = base.next()?;
                    (bk, Some(bv.value()))
                };
                if !key.starts_with(prefix) {
                    return None;
                }
                if let Some(value) = value {
                    return Some((key, value));
                }
            }
        })
    }
}

/// The store behind the server.
pub(crate) struct Db {
    pub(crate) source: MemorySource<Stored>,
    log: Mutex<Log>,
}

impl Db {
    pub(crate) fn new(history: usize) -> Self {
        let history = history.max(1);
        let source = MemorySource::with_config(MemoryConfig::default().with_name("kube-api").with_history(history));
        Self { source, log: Mutex::new(Log { entries: VecDeque::new(), oldest: 0, history, cache: None }) }
    }

    /// Writes `value` under `key`. `prepare` receives the revision the write will get and
    /// whether the key exists, and fills in server-set fields. Returns the stored value.
    pub(crate) fn put(
        &self,
        key: &str,
        mut value: Value,
        prepare: impl FnOnce(&mut Value, u64, Option<&Stored>) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut log = self.log.lock();
        let revision = self.source.revision() + 1;
        let previous = self.source.get(key).map(|o| Arc::clone(o.value()));
        prepare(&mut value, revision, previous.as_deref())?;
        value["metadata"]["resourceVersion"] = Value::String(revision.to_string());
        let stored = Stored::new(&value).map_err(ApiError::bad_request)?;
        let written = self.source.put(key, stored);
        debug_assert_eq!(written, revision, "every write goes through the server's lock");
        Self::record(&mut log, Undo { revision: written, key: ObjectKey::new(key), previous });
        Ok(value)
    }

    /// Deletes `key`; returns the deletion's revision and the last state.
    pub(crate) fn delete(&self, key: &str) -> Option<(u64, Arc<Stored>)> {
        let mut log = self.log.lock();
        let previous = Arc::clone(self.source.get(key)?.value());
        let revision = self.source.delete(key)?;
        Self::record(&mut log, Undo { revision, key: ObjectKey::new(key), previous: Some(Arc::clone(&previous)) });
        Some((revision, previous))
    }

    fn record(log: &mut Log, undo: Undo) {
        log.entries.push_back(undo);
        while log.entries.len() > log.history {
            if let Some(old) = log.entries.pop_front() {
                log.oldest = old.revision;
            }
        }
    }

    /// Forgets all history: reads and watches from older revisions answer 410.
    pub(crate) fn compact(&self) {
        let mut log = self.log.lock();
        self.source.compact();
        log.entries.clear();
        log.oldest = self.source.revision();
        log.cache = None;
    }

    /// The current revision.
    pub(crate) fn revision(&self) -> u64 {
        self.source.revision()
    }

    /// The oldest revision still readable and watchable.
    pub(crate) fn oldest(&self) -> u64 {
        self.log.lock().oldest.max(self.source.oldest_watchable_revision())
    }

    /// The state of the key changed at `revision` just before that change; `None` when the
    /// history no longer holds it, `Some(None)` when the key did not exist.
    pub(crate) fn before(&self, revision: u64) -> Option<Option<Arc<Stored>>> {
        let log = self.log.lock();
        let index = revision.checked_sub(log.oldest + 1)? as usize;
        let entry = log.entries.get(index)?;
        (entry.revision == revision).then(|| entry.previous.clone())
    }

    /// The collection at `revision` (`None`: the newest). Errors: 410 when compacted away,
    /// 504 "too large" when newer than the current revision.
    pub(crate) fn view(
        &self,
        revision: Option<u64>,
        too_old: impl FnOnce(u64, u64) -> ApiError,
    ) -> Result<View, ApiError> {
        let mut log = self.log.lock();
        let current = self.source.revision();
        let revision = revision.unwrap_or(current);
        if revision > current {
            return Err(ApiError::too_large(revision, current));
        }
        let oldest = log.oldest.max(self.source.oldest_watchable_revision());
        if revision < oldest {
            return Err(too_old(revision, oldest));
        }
        let base = match &log.cache {
            Some((rev, snapshot)) if *rev == current => Arc::clone(snapshot),
            _ => {
                let snapshot = Arc::new(self.source.snapshot());
                log.cache = Some((current, Arc::clone(&snapshot)));
                snapshot
            }
        };
        let mut overrides = BTreeMap::new();
        for undo in log.entries.iter().rev().take_while(|u| u.revision > revision) {
            overrides.insert(undo.key.clone(), undo.previous.clone());
        }
        Ok(View { revision, base, overrides })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(db: &Db, key: &str, n: u64) {
        db.put(key, json!({"metadata": {"name": key}, "n": n}), |_, _, _| Ok(())).unwrap();
    }

    fn keys_at(db: &Db, revision: u64, prefix: &str) -> Vec<(String, u64)> {
        let view = db.view(Some(revision), ApiError::too_old).unwrap();
        view.range(prefix, "")
            .map(|(k, v)| {
                let value: Value = serde_json::from_slice(&v.json).unwrap();
                (k.to_string(), value["n"].as_u64().unwrap())
            })
            .collect()
    }

    #[test]
    fn views_reconstruct_past_revisions() {
        let db = Db::new(100);
        put(&db, "pods/a/x", 1); // rev 1
        put(&db, "pods/a/y", 2); // rev 2
        put(&db, "pods/a/x", 3); // rev 3
        db.delete("pods/a/y"); // rev 4
        put(&db, "pods/a/z", 5); // rev 5
        put(&db, "cm/a/q", 6); // rev 6
        assert_eq!(keys_at(&db, 2, "pods/"), vec![("pods/a/x".into(), 1), ("pods/a/y".into(), 2)]);
        assert_eq!(keys_at(&db, 4, "pods/"), vec![("pods/a/x".into(), 3)]);
        assert_eq!(keys_at(&db, 6, "pods/"), vec![("pods/a/x".into(), 3), ("pods/a/z".into(), 5)]);
        let view = db.view(Some(2), ApiError::too_old).unwrap();
        assert_eq!(view.range("pods/", "pods/a/x\0").count(), 1);
    }

    #[test]
    fn compaction_makes_old_views_expire_and_future_ones_too_large() {
        let db = Db::new(100);
        put(&db, "pods/a/x", 1);
        put(&db, "pods/a/x", 2);
        db.compact();
        assert_eq!(db.view(Some(1), ApiError::too_old).err().unwrap().code, 410);
        assert!(db.view(Some(2), ApiError::too_old).is_ok());
        assert_eq!(db.view(Some(9), ApiError::too_old).err().unwrap().code, 504);
    }

    #[test]
    fn before_returns_the_previous_state_of_a_change() {
        let db = Db::new(100);
        put(&db, "pods/a/x", 1);
        put(&db, "pods/a/x", 2);
        assert!(db.before(1).unwrap().is_none());
        let prev = db.before(2).unwrap().unwrap();
        assert!(String::from_utf8_lossy(&prev.json).contains("\"n\":1"));
    }
}

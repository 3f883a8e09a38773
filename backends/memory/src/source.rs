//! The versioned collection and its [`ListerWatcher`] implementation.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use informer_core::{ListOptions, ListPage, ListerWatcher, ObjectKey, SourceError, Version, WatchOptions, WatchStream};
use parking_lot::Mutex;

use crate::faults::{Faults, WatchKill};
use crate::object::MemoryObject;
use crate::watch::{self, Change, ChangeKind};

/// Settings of a [`MemorySource`].
///
/// ```
/// use std::time::Duration;
/// use informer_memory::MemoryConfig;
/// let config = MemoryConfig::default()
///     .with_history(100)
///     .with_bookmark_interval(Some(Duration::from_millis(50)));
/// assert_eq!(config.history, 100);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Name used in logs and errors.
    pub name: String,
    /// How many changes the history keeps for watches (at least 1). Default 10 000.
    pub history: usize,
    /// Send a bookmark to idle watchers that asked for them this often. Default: never.
    pub bookmark_interval: Option<Duration>,
    /// How many paged-list snapshots (continue tokens) are kept; older ones expire. Default 16.
    pub list_snapshots: usize,
    /// Whether streaming lists (`watch_list`) are served. Default true.
    pub streaming_lists: bool,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            name: "memory".to_string(),
            history: 10_000,
            bookmark_interval: None,
            list_snapshots: 16,
            streaming_lists: true,
        }
    }
}

impl MemoryConfig {
    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the history length.
    #[must_use]
    pub fn with_history(mut self, history: usize) -> Self {
        self.history = history.max(1);
        self
    }

    /// Sets the bookmark interval.
    #[must_use]
    pub fn with_bookmark_interval(mut self, interval: Option<Duration>) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Sets how many list snapshots are kept.
    #[must_use]
    pub fn with_list_snapshots(mut self, snapshots: usize) -> Self {
        self.list_snapshots = snapshots.max(1);
        self
    }

    /// Turns streaming lists on or off.
    #[must_use]
    pub fn with_streaming_lists(mut self, enabled: bool) -> Self {
        self.streaming_lists = enabled;
        self
    }
}

pub(crate) struct State<T> {
    pub(crate) revision: u64,
    pub(crate) objects: BTreeMap<ObjectKey, MemoryObject<T>>,
    /// Changes with revisions `compacted + 1 ..= revision`, in order.
    pub(crate) history: VecDeque<Change<T>>,
    /// Every change up to and including this revision is gone from the history.
    pub(crate) compacted: u64,
    snapshots: HashMap<u64, Arc<Snapshot<T>>>,
    snapshot_order: VecDeque<u64>,
    next_snapshot: u64,
    pub(crate) fail_next: u32,
}

struct Snapshot<T> {
    revision: u64,
    objects: Vec<MemoryObject<T>>,
}

pub(crate) struct Inner<T> {
    pub(crate) config: MemoryConfig,
    pub(crate) state: Mutex<State<T>>,
    /// The current revision, for watchers to wait on.
    pub(crate) revision_tx: tokio::sync::watch::Sender<u64>,
    /// Bumped (with how) every time open watches are killed.
    pub(crate) kill_tx: tokio::sync::watch::Sender<(u64, WatchKill)>,
}

impl<T: Send + Sync + 'static> Inner<T> {
    pub(crate) fn kill_watches(&self, how: WatchKill) {
        self.kill_tx.send_modify(|(epoch, kind)| {
            *epoch += 1;
            *kind = how;
        });
    }

    pub(crate) fn compact_all(&self) {
        let mut state = self.state.lock();
        state.compacted = state.revision;
        state.history.clear();
        state.snapshots.clear();
        state.snapshot_order.clear();
    }

    /// Consumes one injected failure, if any is pending.
    pub(crate) fn injected_failure(&self, what: &str) -> Result<(), SourceError> {
        let mut state = self.state.lock();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(SourceError::transient(format!("{}: injected failure of {what}", self.config.name)));
        }
        Ok(())
    }

    pub(crate) fn parse_version(&self, version: &Version) -> Result<u64, SourceError> {
        version.parse::<u64>().map_err(|_| {
            SourceError::malformed(format!("{}: version {version:?} is not a revision number", self.config.name))
        })
    }
}

/// An in-process, versioned collection of `T` values by key. Cheap to clone (all clones share
/// one collection); safe to use from any thread. See the [crate docs](crate).
pub struct MemorySource<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for MemorySource<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T: Send + Sync + 'static> Default for MemorySource<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> std::fmt::Debug for MemorySource<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySource")
            .field("name", &self.inner.config.name)
            .field("revision", &self.revision())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Send + Sync + 'static> MemorySource<T> {
    /// An empty collection with the default [`MemoryConfig`].
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// An empty collection.
    pub fn with_config(config: MemoryConfig) -> Self {
        let state = State {
            revision: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            snapshots: HashMap::new(),
            snapshot_order: VecDeque::new(),
            next_snapshot: 0,
            fail_next: 0,
        };
        let (revision_tx, _) = tokio::sync::watch::channel(0);
        let (kill_tx, _) = tokio::sync::watch::channel((0, WatchKill::Close));
        Self { inner: Arc::new(Inner { config, state: Mutex::new(state), revision_tx, kill_tx }) }
    }

    /// Creates or replaces the value of `key`; returns the change's revision.
    pub fn put(&self, key: impl Into<ObjectKey>, value: T) -> u64 {
        let key = key.into();
        let value = Arc::new(value);
        let revision = {
            let mut state = self.inner.state.lock();
            let revision = state.revision + 1;
            let (kind, create_revision) = match state.objects.get(&key) {
                Some(old) => (ChangeKind::Modified, old.create_revision),
                None => (ChangeKind::Added, revision),
            };
            let object = MemoryObject { key: key.clone(), value, create_revision, mod_revision: revision };
            state.objects.insert(key, object.clone());
            self.record(&mut state, Change { revision, kind, object });
            revision
        };
        self.inner.revision_tx.send_replace(revision);
        revision
    }

    /// Deletes `key`; returns the change's revision, or `None` if the key did not exist.
    pub fn delete(&self, key: &str) -> Option<u64> {
        let revision = {
            let mut state = self.inner.state.lock();
            let old = state.objects.remove(key)?;
            let revision = state.revision + 1;
            self.record(&mut state, Change { revision, kind: ChangeKind::Deleted, object: old });
            revision
        };
        self.inner.revision_tx.send_replace(revision);
        Some(revision)
    }

    fn record(&self, state: &mut State<T>, change: Change<T>) {
        state.revision = change.revision;
        state.history.push_back(change);
        while state.history.len() > self.inner.config.history {
            if let Some(old) = state.history.pop_front() {
                state.compacted = old.revision;
            }
        }
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Option<MemoryObject<T>> {
        self.inner.state.lock().objects.get(key).cloned()
    }

    /// The current revision (0 before the first change).
    pub fn revision(&self) -> u64 {
        self.inner.state.lock().revision
    }

    /// The oldest revision a watch can still start from.
    pub fn oldest_watchable_revision(&self) -> u64 {
        self.inner.state.lock().compacted
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.inner.state.lock().objects.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key and its current object, sorted by key.
    pub fn snapshot(&self) -> BTreeMap<ObjectKey, MemoryObject<T>> {
        self.inner.state.lock().objects.clone()
    }

    /// Drops the history up to the current revision, like etcd's compaction: watches that are
    /// behind it fail with *expired* when they next read; caught-up watches go on.
    pub fn compact(&self) {
        self.inner.compact_all();
    }

    /// The fault hooks.
    pub fn faults(&self) -> Faults<T> {
        Faults { inner: Arc::clone(&self.inner) }
    }

    fn list_page(&self, options: &ListOptions) -> Result<ListPage<MemoryObject<T>>, SourceError> {
        let name = &self.inner.config.name;
        let mut state = self.inner.state.lock();
        let limit = options.limit.map(|l| l.max(1) as usize);
        let (snapshot_id, snapshot, offset) = match &options.continue_token {
            Some(token) => {
                let (id, offset) = parse_token(token).ok_or_else(|| {
                    SourceError::malformed(format!("{name}: continue token {token:?} is not one this source issued"))
                })?;
                let snapshot = state.snapshots.get(&id).cloned().ok_or_else(|| {
                    SourceError::expired(format!("{name}: continue token {token:?} expired; the list must start again"))
                })?;
                (id, snapshot, offset)
            }
            None => {
                if !options.consistent
                    && let Some(min) = &options.min_version
                {
                    let min = self.inner.parse_version(min)?;
                    if min > state.revision {
                        return Err(SourceError::expired(format!(
                            "{name}: too large version {min}: the collection is at revision {}",
                            state.revision
                        )));
                    }
                }
                let revision = state.revision;
                match limit {
                    Some(l) if l < state.objects.len() => {
                        let objects: Vec<_> = state.objects.values().cloned().collect();
                        let id = state.next_snapshot;
                        state.next_snapshot += 1;
                        let snapshot = Arc::new(Snapshot { revision, objects });
                        state.snapshots.insert(id, Arc::clone(&snapshot));
                        state.snapshot_order.push_back(id);
                        while state.snapshot_order.len() > self.inner.config.list_snapshots {
                            if let Some(old) = state.snapshot_order.pop_front() {
                                state.snapshots.remove(&old);
                            }
                        }
                        (id, snapshot, 0)
                    }
                    _ => {
                        let items = state.objects.values().cloned().collect();
                        return Ok(ListPage {
                            items,
                            version: Version::new(revision.to_string()),
                            continue_token: None,
                        });
                    }
                }
            }
        };
        drop(state);
        let end = limit.map_or(snapshot.objects.len(), |l| (offset + l).min(snapshot.objects.len()));
        let items = snapshot.objects.get(offset..end).map(<[_]>::to_vec).unwrap_or_default();
        let continue_token = (end < snapshot.objects.len()).then(|| format!("{snapshot_id}:{end}"));
        Ok(ListPage { items, version: Version::new(snapshot.revision.to_string()), continue_token })
    }
}

fn parse_token(token: &str) -> Option<(u64, usize)> {
    let (id, offset) = token.split_once(':')?;
    Some((id.parse().ok()?, offset.parse().ok()?))
}

impl<T: Send + Sync + 'static> ListerWatcher for MemorySource<T> {
    type Object = MemoryObject<T>;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Self::Object>, SourceError> {
        self.inner.injected_failure("list")?;
        self.list_page(options)
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<Self::Object>, SourceError> {
        self.inner.injected_failure("watch")?;
        let from = self.inner.parse_version(version)?;
        watch::open(Arc::clone(&self.inner), from, options, false)
    }

    async fn watch_list(
        &self,
        _min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> Result<WatchStream<Self::Object>, SourceError> {
        if !self.inner.config.streaming_lists {
            return Err(SourceError::unsupported(format!(
                "{}: streaming lists are turned off",
                self.inner.config.name
            )));
        }
        self.inner.injected_failure("streaming list")?;
        // The current state is newer than any version the client can have seen.
        let revision = self.inner.state.lock().revision;
        watch::open(Arc::clone(&self.inner), revision, options, true)
    }

    /// The memory source's revisions are counters.
    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        Some(informer_core::VersionOrder::unsigned_decimal())
    }

    fn describe(&self) -> String {
        self.inner.config.name.clone()
    }
}

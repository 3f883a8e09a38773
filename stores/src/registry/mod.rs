//! # Informers: many resources per process, one informer per source
//!
//! A controller usually watches several collections (pods, nodes, its own resources), and
//! several parts of one program often need the same one. Each [`Informer`] lists and watches
//! its source; two informers of the same source list it twice, watch it twice and hold it
//! twice in memory. An [`Informers`] registry (client-go's `SharedInformerFactory`) keeps
//! **one informer per [`SourceKey`]** (a source and a selector), shared by every consumer that
//! asks for that key, and runs them together:
//!
//! ```text
//!   consumer A ─┐ get_or_insert(pods) ──► ┌──────────── Informers ────────────┐
//!   consumer B ─┘ (same handle)           │ pods  ──► Informer (1 list, 1 watch)│
//!   consumer C ── get_or_insert(nodes) ──►│ nodes ──► Informer                  │
//!                                         └──── start · wait_all_synced · shutdown
//! ```
//!
//! * [`Informers::get_or_insert`] returns the informer's [`InformerHandle`]: the first caller's
//!   factory builds the informer, every later caller with the same key gets the same handle
//!   and its factory is never called. **The first caller's source, store and configuration
//!   win**, as in client-go's factory: later callers share what is there.
//! * Access is typed: asking for a key registered with another object or store type is a
//!   [`RegistryError::TypeMismatch`] naming the key and both types, never a panic.
//! * [`Informers::start`] spawns every informer not yet running on the current tokio runtime;
//!   one registered after `start` is spawned at once. `start` may be called again.
//! * [`Informers::wait_all_synced`] waits for every informer's first list;
//!   [`Informers::wait_all_synced_timeout`] says **which** keys have not synced, and why
//!   (their reflector's [`SyncState`]: failing as forbidden, unavailable, ...), and
//!   [`Informers::statuses`] says it at any time.
//! * [`Informers::shutdown`] cancels every informer with one token, waits for their tasks and
//!   returns the errors by key.
//!
//! Each informer runs in a `tracing` span `informer{key=...}`; its reflector records the usual
//! metrics under its own `name` label (its source's description by default, see
//! [`ReflectorConfig::with_name`](informer_core::ReflectorConfig::with_name)), so the registry
//! adds no series of its own.
//!
//! # Example
//!
//! ```
//! use informer_core::KeyFn;
//! use informer_memory::{MemoryConfig, MemorySource};
//! use informer_stores::{Indexer, InformerConfig, Informers};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let pods = MemorySource::<String>::with_config(MemoryConfig::default().with_name("pods"));
//! pods.put("web-0", "node-1".to_string());
//! let informers = Informers::new();
//!
//! // Two parts of the program ask for the pods: one informer serves both.
//! let a = informers
//!     .get_or_insert_indexer(pods.clone(), || Indexer::new(KeyFn::keyed()), InformerConfig::default())
//!     .unwrap();
//! let b = informers
//!     .get_or_insert_indexer(pods.clone(), || unreachable!("already registered"), InformerConfig::default())
//!     .unwrap();
//! assert!(a.ptr_eq(&b));
//!
//! informers.start().unwrap();
//! assert!(informers.wait_all_synced().await);
//! assert_eq!(b.store().len(), 1);
//! assert_eq!(a.reflector().metrics().lists, 1, "one list for both consumers");
//! assert!(informers.shutdown().await.is_empty(), "every informer stopped cleanly");
//! # }
//! ```

mod key;
mod status;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use informer_core::{CancellationToken, ListerWatcher, Store, SyncState};
use parking_lot::Mutex;
use tracing::{Instrument, debug, info, info_span, warn};

pub use key::SourceKey;
pub use status::{InformerStatus, NotSynced, RegistryError};

use crate::{Indexer, Informer, InformerConfig, InformerError, InformerHandle};

/// A registry of shared informers, one per [`SourceKey`]; see the [module docs](self).
///
/// Cheap to clone (clones share the registry) and `Send + Sync`. Dropping the last clone
/// cancels every informer it started (without waiting for them; [`shutdown`](Self::shutdown)
/// waits).
///
/// ```
/// use informer_stores::Informers;
/// let informers = Informers::new();
/// let clone = informers.clone();
/// assert!(clone.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Informers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Informers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informers").field("keys", &self.keys()).finish()
    }
}

#[derive(Default)]
struct Inner {
    /// Cancels every informer: [`Informers::shutdown`], or the last clone dropped.
    cancel: CancellationToken,
    state: Mutex<State>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Default)]
struct State {
    entries: BTreeMap<SourceKey, Entry>,
    /// The runtime of the first `start`: informers registered later are spawned on it.
    runtime: Option<tokio::runtime::Handle>,
    shut_down: bool,
}

/// An informer's `run`, erased: called once, with the registry's token.
type RunFn = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, Result<(), InformerError>> + Send>;

struct Entry {
    handle: Box<dyn ErasedHandle>,
    /// `Informer<object type, store type>`, for type mismatch errors.
    types: String,
    /// The informer, until it is spawned.
    run: Option<RunFn>,
    task: Option<tokio::task::JoinHandle<Result<(), InformerError>>>,
    started: bool,
}

/// What the registry needs of an [`InformerHandle`] whatever its types.
trait ErasedHandle: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn has_synced(&self) -> bool;
    fn wait_synced(&self) -> BoxFuture<'static, bool>;
    fn sync_state(&self) -> SyncState;
}

impl<T, S> ErasedHandle for InformerHandle<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T> + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn has_synced(&self) -> bool {
        InformerHandle::has_synced(self)
    }

    fn wait_synced(&self) -> BoxFuture<'static, bool> {
        let handle = self.clone();
        Box::pin(async move { handle.wait_synced().await })
    }

    fn sync_state(&self) -> SyncState {
        self.reflector().sync_state()
    }
}

fn types<T, S>() -> String {
    format!("Informer<{}, {}>", std::any::type_name::<T>(), std::any::type_name::<S>())
}

impl Entry {
    fn typed<T, S>(&self, key: &SourceKey) -> Result<InformerHandle<T, S>, RegistryError>
    where
        T: Send + Sync + 'static,
        S: Store<Object = T> + 'static,
    {
        match self.handle.as_any().downcast_ref::<InformerHandle<T, S>>() {
            Some(handle) => Ok(handle.clone()),
            None => Err(RegistryError::TypeMismatch {
                key: key.clone(),
                registered: self.types.clone(),
                requested: types::<T, S>(),
            }),
        }
    }

    /// Spawns the informer on `runtime` in its span, if it is not running yet.
    fn spawn(&mut self, key: &SourceKey, runtime: &tokio::runtime::Handle, cancel: &CancellationToken) {
        let Some(run) = self.run.take() else { return };
        let run = run(cancel.clone());
        let task = async move {
            info!("informer started");
            let result = run.await;
            match &result {
                Ok(()) => debug!("informer stopped"),
                Err(err) => warn!(error = %err, "informer stopped with an error"),
            }
            result
        };
        self.task = Some(runtime.spawn(task.instrument(info_span!("informer", key = %key))));
        self.started = true;
    }

    fn status(&self, key: &SourceKey) -> InformerStatus {
        InformerStatus {
            key: key.clone(),
            started: self.started,
            synced: self.handle.has_synced(),
            sync_state: self.handle.sync_state(),
        }
    }
}

impl Informers {
    /// An empty registry.
    ///
    /// ```
    /// assert_eq!(informer_stores::Informers::new().len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle of the informer registered under `key`; the first caller's `make` builds it
    /// (and it is started at once if [`start`](Self::start) was called), later callers get
    /// the same handle and their `make` is not called. The first caller's source, store and
    /// configuration win.
    ///
    /// `make` runs under the registry's lock, so two racing callers never build two
    /// informers: it must not call into the registry itself.
    ///
    /// # Errors
    ///
    /// [`RegistryError::TypeMismatch`] if `key` is registered with other object or store
    /// types; [`RegistryError::ShutDown`] for a new key after [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// use informer_core::KeyFn;
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Cache, Informer, InformerConfig, Informers, RegistryError, SourceKey};
    ///
    /// let source = MemorySource::<u32>::new();
    /// let informers = Informers::new();
    /// let key = SourceKey::of(&source).with_selector("all");
    /// let make = || Informer::with_cache(source.clone(), KeyFn::keyed(), InformerConfig::default());
    /// let first = informers.get_or_insert(key.clone(), make).unwrap();
    /// let again = informers.get_or_insert(key.clone(), || -> Informer<MemorySource<u32>, Cache<_>> {
    ///     unreachable!("the factory of a registered key is not called")
    /// });
    /// assert!(first.ptr_eq(&again.unwrap()));
    ///
    /// // The same key with another object type is an error naming the key and both types.
    /// let other = MemorySource::<String>::new();
    /// let err = informers
    ///     .get_or_insert(key, || Informer::with_cache(other, KeyFn::keyed(), InformerConfig::default()))
    ///     .unwrap_err();
    /// assert!(matches!(err, RegistryError::TypeMismatch { .. }));
    /// assert!(err.to_string().contains("memory [all]") && err.to_string().contains("String"));
    /// ```
    pub fn get_or_insert<L, S>(
        &self,
        key: SourceKey,
        make: impl FnOnce() -> Informer<L, S>,
    ) -> Result<InformerHandle<L::Object, S>, RegistryError>
    where
        L: ListerWatcher + 'static,
        S: Store<Object = L::Object> + 'static,
    {
        let mut state = self.inner.state.lock();
        if let Some(entry) = state.entries.get(&key) {
            return entry.typed(&key);
        }
        if state.shut_down {
            return Err(RegistryError::ShutDown { key });
        }
        let informer = make();
        let handle = informer.handle();
        let run: RunFn = Box::new(move |cancel| Box::pin(informer.run(cancel)));
        let mut entry = Entry {
            handle: Box::new(handle.clone()),
            types: types::<L::Object, S>(),
            run: Some(run),
            task: None,
            started: false,
        };
        debug!(%key, types = %entry.types, "informer registered");
        if let Some(runtime) = state.runtime.clone() {
            entry.spawn(&key, &runtime, &self.inner.cancel);
        }
        state.entries.insert(key, entry);
        Ok(handle)
    }

    /// [`get_or_insert`](Self::get_or_insert) of an informer over `source` whose store is an
    /// [`Indexer`] (client-go's `SharedIndexInformer`), under the key
    /// [`SourceKey::of(&source)`](SourceKey::of). `make_indexer` and `config` are used only
    /// by the first caller.
    ///
    /// ```
    /// use informer_core::KeyFn;
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Indexer, InformerConfig, Informers};
    ///
    /// let informers = Informers::new();
    /// let handle = informers
    ///     .get_or_insert_indexer(MemorySource::<u32>::new(), || Indexer::new(KeyFn::keyed()), InformerConfig::default())
    ///     .unwrap();
    /// assert!(!handle.has_synced(), "not started yet");
    /// ```
    pub fn get_or_insert_indexer<L>(
        &self,
        source: L,
        make_indexer: impl FnOnce() -> Indexer<L::Object>,
        config: InformerConfig,
    ) -> Result<InformerHandle<L::Object, Indexer<L::Object>>, RegistryError>
    where
        L: ListerWatcher + 'static,
    {
        let key = SourceKey::of(&source);
        self.get_or_insert(key, move || Informer::with_indexer(source, make_indexer(), config))
    }

    /// The handle registered under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`RegistryError::TypeMismatch`] if `key` is registered with other object or store types.
    ///
    /// ```
    /// use informer_core::KeyFn;
    /// use informer_memory::{MemoryObject, MemorySource};
    /// use informer_stores::{Indexer, InformerConfig, Informers, SourceKey};
    ///
    /// let informers = Informers::new();
    /// let key = SourceKey::new("memory", "");
    /// type Pods = Indexer<MemoryObject<u32>>;
    /// assert!(informers.get::<MemoryObject<u32>, Pods>(&key).unwrap().is_none());
    /// informers
    ///     .get_or_insert_indexer(MemorySource::<u32>::new(), || Indexer::new(KeyFn::keyed()), InformerConfig::default())
    ///     .unwrap();
    /// assert!(informers.get::<MemoryObject<u32>, Pods>(&key).unwrap().is_some());
    /// ```
    pub fn get<T, S>(&self, key: &SourceKey) -> Result<Option<InformerHandle<T, S>>, RegistryError>
    where
        T: Send + Sync + 'static,
        S: Store<Object = T> + 'static,
    {
        self.inner.state.lock().entries.get(key).map(|entry| entry.typed(key)).transpose()
    }

    /// The registered keys, in order.
    ///
    /// ```
    /// assert!(informer_stores::Informers::new().keys().is_empty());
    /// ```
    pub fn keys(&self) -> Vec<SourceKey> {
        self.inner.state.lock().entries.keys().cloned().collect()
    }

    /// How many informers are registered.
    ///
    /// ```
    /// assert_eq!(informer_stores::Informers::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().entries.len()
    }

    /// True if no informer is registered.
    ///
    /// ```
    /// assert!(informer_stores::Informers::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.state.lock().entries.is_empty()
    }

    /// Spawns every registered informer that is not running yet on the current tokio runtime;
    /// informers registered later are spawned at once, on the runtime of the first `start`.
    /// Calling it again starts only what is new; after [`shutdown`](Self::shutdown) it does
    /// nothing (as client-go's `factory.Start`).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NoRuntime`] outside a tokio runtime.
    ///
    /// ```
    /// use informer_stores::{Informers, RegistryError};
    /// let informers = Informers::new();
    /// assert!(matches!(informers.start(), Err(RegistryError::NoRuntime { .. })));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// informers.start().unwrap();
    /// # });
    /// ```
    pub fn start(&self) -> Result<(), RegistryError> {
        let current =
            tokio::runtime::Handle::try_current().map_err(|e| RegistryError::NoRuntime { reason: e.to_string() })?;
        let mut state = self.inner.state.lock();
        if state.shut_down {
            debug!("informers already shut down; start does nothing");
            return Ok(());
        }
        let runtime = state.runtime.get_or_insert(current).clone();
        for (key, entry) in &mut state.entries {
            entry.spawn(key, &runtime, &self.inner.cancel);
        }
        Ok(())
    }

    /// Where every informer stands, in key order: started, synced, and its reflector's sync
    /// state (why it is not synced, while something fails).
    ///
    /// ```
    /// use informer_core::{KeyFn, SyncState};
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Indexer, InformerConfig, Informers};
    ///
    /// let informers = Informers::new();
    /// informers
    ///     .get_or_insert_indexer(MemorySource::<u32>::new(), || Indexer::new(KeyFn::keyed()), InformerConfig::default())
    ///     .unwrap();
    /// let statuses = informers.statuses();
    /// assert_eq!(statuses[0].to_string(), "`memory` (not started)");
    /// assert!(!statuses[0].started && !statuses[0].synced);
    /// assert_eq!(statuses[0].sync_state, SyncState::NotSynced);
    /// ```
    pub fn statuses(&self) -> Vec<InformerStatus> {
        self.inner.state.lock().entries.iter().map(|(key, entry)| entry.status(key)).collect()
    }

    /// Waits until every informer registered now has synced (its first list is in its store
    /// and delivered). `false` as soon as one of them stops before syncing, or if the registry
    /// is shut down first. An informer that never syncs (a forbidden list retried forever)
    /// keeps it waiting: [`wait_all_synced_timeout`](Self::wait_all_synced_timeout) says which.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let informers = informer_stores::Informers::new();
    /// assert!(informers.wait_all_synced().await, "nothing to wait for");
    /// informers.shutdown().await;
    /// assert!(!informers.wait_all_synced().await, "shut down");
    /// # }
    /// ```
    pub async fn wait_all_synced(&self) -> bool {
        let mut waits: FuturesUnordered<_> =
            self.inner.state.lock().entries.values().map(|entry| entry.handle.wait_synced()).collect();
        let all = async {
            while let Some(synced) = waits.next().await {
                if !synced {
                    return false;
                }
            }
            true
        };
        tokio::select! {
            biased;
            all = all => all && !self.inner.cancel.is_cancelled(),
            _ = self.inner.cancel.cancelled() => false,
        }
    }

    /// [`wait_all_synced`](Self::wait_all_synced) for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`NotSynced`], naming every informer that has not synced and why (its sync state), if
    /// the time ran out, one stopped before syncing, or the registry was shut down. It is
    /// logged at WARN too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use informer_core::KeyFn;
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Indexer, InformerConfig, Informers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let informers = Informers::new();
    /// informers
    ///     .get_or_insert_indexer(MemorySource::<u32>::new(), || Indexer::new(KeyFn::keyed()), InformerConfig::default())
    ///     .unwrap();
    /// // Not started: it cannot sync.
    /// let err = informers.wait_all_synced_timeout(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.to_string(), "1 informer not synced: `memory` (not started)");
    /// informers.start().unwrap();
    /// informers.wait_all_synced_timeout(Duration::from_secs(10)).await.unwrap();
    /// informers.shutdown().await;
    /// # }
    /// ```
    pub async fn wait_all_synced_timeout(&self, timeout: Duration) -> Result<(), NotSynced> {
        if let Ok(true) = tokio::time::timeout(timeout, self.wait_all_synced()).await {
            return Ok(());
        }
        let unsynced: Vec<InformerStatus> = self.statuses().into_iter().filter(|s| !s.synced).collect();
        let stopped = self.inner.cancel.is_cancelled();
        if unsynced.is_empty() && !stopped {
            // Synced between the time-out and the look.
            return Ok(());
        }
        let err = NotSynced { unsynced, stopped };
        warn!(?timeout, "{err}");
        Err(err)
    }

    /// Stops every informer (one cancellation token for all), waits for their tasks, and
    /// returns the error of each informer that stopped with one, by key (empty if all stopped
    /// cleanly). An informer registered but never started is run against the cancelled token,
    /// so its subscriptions end and its `wait_synced` answers `false`. Afterwards the registry
    /// starts nothing and refuses new keys; the handles still read the stores' last state.
    /// Calling it again returns nothing new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let informers = informer_stores::Informers::new();
    /// informers.start().unwrap();
    /// assert!(informers.shutdown().await.is_empty());
    /// # }
    /// ```
    pub async fn shutdown(&self) -> Vec<(SourceKey, InformerError)> {
        let (tasks, pending) = {
            let mut state = self.inner.state.lock();
            state.shut_down = true;
            self.inner.cancel.cancel();
            let mut tasks = Vec::new();
            let mut pending = Vec::new();
            for (key, entry) in &mut state.entries {
                if let Some(task) = entry.task.take() {
                    tasks.push((key.clone(), task));
                }
                if let Some(run) = entry.run.take() {
                    pending.push((key.clone(), run));
                }
            }
            (tasks, pending)
        };
        info!(running = tasks.len(), never_started = pending.len(), "shutting down informers");
        let mut errors = Vec::new();
        for (key, run) in pending {
            if let Err(err) = run(self.inner.cancel.clone()).await {
                errors.push((key, err));
            }
        }
        for (key, task) in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => errors.push((key, err)),
                Err(join) => {
                    let err = InformerError::ReflectorTask { source_name: key.to_string(), reason: join.to_string() };
                    errors.push((key, err));
                }
            }
        }
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        errors
    }
}

#[cfg(test)]
mod tests;

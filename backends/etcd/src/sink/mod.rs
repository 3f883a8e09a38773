//! [`EtcdSink`]: a [`Store`] that writes what it is given into another etcd (etcd → etcd
//! mirroring, like `etcdctl make-mirror`, but whole revisions, pruned, and resumable).
//!
//! ```text
//!  EtcdSource ──► Reflector ──► EtcdSink ──(bounded queue)──► writer task ──► destination etcd
//!  (source etcd)                (Store)                         txns: data + state record
//! ```
//!
//! The sink knows nothing of the reflector: it is a store whose writes go to the network.
//!
//! * **Keys**: the destination prefix replaces the source prefix (make-mirror's
//!   `--dest-prefix`); values are copied byte for byte. Leases are not carried.
//! * **`replace`** (the initial sync, or a relist) reads the destination prefix, writes the
//!   keys that differ in transactions of at most [`SinkConfig::max_txn_ops`] operations, then
//!   deletes the destination keys the source does not have. Only keys under the destination
//!   prefix are touched.
//! * **`apply_batch`** (one source revision) becomes **one** destination transaction, unless
//!   the revision changed more keys than `max_txn_ops` allows (a large range delete): then it
//!   is split, and only its last transaction records the revision, so a crash in between
//!   replays the revision.
//! * **Catching up**: when several revisions wait in the queue (after a warm restart, an outage
//!   of the destination, a burst of source writes), the writer joins consecutive whole
//!   revisions into one transaction of at most `max_txn_ops` operations
//!   ([`SinkConfig::group_revisions`], on by default). No revision is ever split by this; the
//!   state record names the last revision joined. A mirror that has fallen behind so catches
//!   up at about `max_txn_ops - 1` changes per round trip instead of one revision per round
//!   trip.
//! * **State**: every transaction that completes a revision also writes the
//!   [state record](MirrorState) under [`SinkConfig::state_key`] (outside the prefix) and compares
//!   the record's `mod_revision` with the one the sink wrote last: a second writer of the same
//!   destination is detected, never silently raced. [`EtcdSink::resume_point`] tells a restarted
//!   mirror where to watch from ([`Reflector::resume_from`](informer_core::Reflector::resume_from));
//!   a sync that was cut short is recorded as incomplete and finished by a relist.
//! * **Back-pressure**: the store methods only queue work; a writer task writes it. While more
//!   than [`SinkConfig::queue_ops`] operations are queued, [`Store::poll_ready`] is `Pending`, so
//!   the reflector stops reading the source's watch. Memory stays bounded while the destination
//!   is down; the writer retries with backoff and goes on when it is back.
//! * **Refusals**: a destination that refuses writes (authentication, permissions, a
//!   transaction larger than its `--max-txn-ops`) stops the sink with a [`SinkError`] naming
//!   it; [`EtcdSink::failed`] resolves with it and every later store call returns it.
//! * **Reads**: the sink keeps no copy of the data; `list`, `get` and friends answer nothing.
//!   Read the destination instead.
//!
//! ```no_run
//! use informer_core::{Reflector, ReflectorConfig};
//! use informer_etcd::{EtcdConfig, EtcdSink, EtcdSource, KeyRange, RawCodec, SinkConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let source = EtcdSource::connect(EtcdConfig::new(["10.0.0.1:2379"], KeyRange::prefix("/app/")), RawCodec).await?;
//! let destination = EtcdConfig::new(["10.0.0.2:2379"], KeyRange::prefix("/backup/app/"));
//! let sink = EtcdSink::connect(SinkConfig::new(destination, "/app/", "etcd://10.0.0.1:2379/app/")).await?;
//! let mut reflector = Reflector::new(source, sink.clone(), ReflectorConfig::default());
//! if let Some(version) = sink.resume_point() {
//!     reflector = reflector.resume_from(version); // warm restart: no list of the source
//! }
//! tokio::select! {
//!     _ = reflector.run(CancellationToken::new()) => {}
//!     err = sink.failed() => eprintln!("{err}"),
//! }
//! # Ok(()) }
//! ```

mod config;
mod error;
mod state;
mod sync;
mod writer;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use etcd_client::Client;
use futures::task::AtomicWaker;
use informer_core::{Change, ObjectKey, Store, StoreError, Version};
use tokio::sync::Notify;

pub use config::{SinkConfig, default_state_key};
pub use error::SinkError;
pub use state::MirrorState;

use crate::key::key_to_string;
use crate::object::EtcdKeyValue;

/// The objects a sink writes: raw etcd key-values ([`RawCodec`](crate::RawCodec)).
pub type RawKeyValue = EtcdKeyValue<Vec<u8>>;

/// Counters of an [`EtcdSink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// Destination transactions committed.
    pub txns: u64,
    /// Keys put.
    pub puts: u64,
    /// Keys deleted.
    pub deletes: u64,
    /// Keys an initial sync found already equal and did not write.
    pub unchanged: u64,
    /// Initial syncs (and relists) written completely.
    pub syncs: u64,
    /// Failed writes retried.
    pub retries: u64,
    /// Operations queued or being written now.
    pub queued_ops: u64,
    /// The most operations ever queued at once.
    pub max_queued_ops: u64,
}

/// A unit of work for the writer.
pub(crate) enum Job {
    /// Make the destination prefix hold exactly these items (source version).
    Replace { items: Vec<Arc<RawKeyValue>>, version: Version },
    /// One source version's changes (`None`: a plain store call without a version).
    Batch { version: Option<Version>, changes: Vec<Change<RawKeyValue>> },
    /// The source reached a version without changes for the prefix.
    Progress { version: Version },
}

impl Job {
    fn ops(&self) -> usize {
        match self {
            Self::Replace { items, .. } => items.len().max(1),
            Self::Batch { changes, .. } => changes.len().max(1),
            Self::Progress { .. } => 1,
        }
    }
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) jobs: VecDeque<Job>,
    /// Operations queued, including the job being written.
    pub(crate) ops: usize,
    /// The writer is busy with a job taken from the queue.
    pub(crate) busy: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) txns: AtomicU64,
    pub(crate) puts: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) unchanged: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) max_queued: AtomicU64,
}

/// State shared by the sink's handles and its writer task.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) config: SinkConfig,
    pub(crate) queue: Mutex<Queue>,
    /// Wakes the writer: a job was queued.
    pub(crate) work: Notify,
    /// Wakes the producer waiting in `poll_ready`.
    pub(crate) ready: AtomicWaker,
    /// Wakes `flush` and `failed` waiters: a job finished or the sink failed.
    pub(crate) progress: Notify,
    pub(crate) failure: Mutex<Option<SinkError>>,
    pub(crate) counters: Counters,
    /// The state record read at start.
    pub(crate) initial_state: Option<MirrorState>,
}

impl Shared {
    pub(crate) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn failure(&self) -> Option<SinkError> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn fail(&self, err: SinkError) {
        tracing::error!(sink = %self.name, error = %err, "etcd sink stopped");
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(err);
        self.ready.wake();
        self.progress.notify_waiters();
    }
}

/// Aborts the writer task when the last handle is dropped.
struct WriterGuard(tokio::task::JoinHandle<()>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A [`Store`] of raw etcd key-values that writes into another etcd. See the
/// [module docs](self) for what it guarantees. Cheap to clone: clones share the queue and the
/// writer, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct EtcdSink {
    shared: Arc<Shared>,
    _writer: Arc<WriterGuard>,
}

impl std::fmt::Debug for EtcdSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSink").field("destination", &self.shared.name).field("stats", &self.stats()).finish()
    }
}

impl EtcdSink {
    /// Connects to the destination, reads the state record and starts the writer task (on the
    /// current tokio runtime). Fails, naming the destination, if the configuration cannot
    /// work, the destination cannot be read, or the state key holds a foreign value.
    pub async fn connect(config: SinkConfig) -> Result<Self, SinkError> {
        let name = format!(
            "etcd {} prefix {:?}",
            config.destination.endpoints_for_display().join(","),
            key_to_string(config.destination_prefix())
        );
        let config_error = |reason: String| SinkError::Config { destination: name.clone(), reason };
        if config.destination.endpoints.is_empty() {
            return Err(config_error("no endpoints configured".into()));
        }
        if config.max_txn_ops < 2 {
            return Err(config_error(format!(
                "max_txn_ops {} is too small: a transaction holds at least one change and the state record",
                config.max_txn_ops
            )));
        }
        if config.destination.range.contains(&config.state_key) {
            return Err(config_error(format!(
                "state key {:?} is inside the destination prefix; it must be outside it",
                key_to_string(&config.state_key)
            )));
        }
        let client =
            Client::connect(&config.destination.endpoints, Some(config.destination.connect_options())).await.map_err(
                |e| SinkError::Unavailable { destination: name.clone(), reason: format!("cannot connect: {e}") },
            )?;
        let mut kv = client.kv_client().max_decoding_message_size(config.destination.max_decoding_message_size);
        let (initial_state, state_mod_revision) = writer::read_state(&mut kv, &config, &name).await?;
        let shared = Arc::new(Shared {
            name,
            config,
            queue: Mutex::new(Queue::default()),
            work: Notify::new(),
            ready: AtomicWaker::new(),
            progress: Notify::new(),
            failure: Mutex::new(None),
            counters: Counters::default(),
            initial_state: initial_state.clone(),
        });
        let writer = writer::Writer::new(Arc::clone(&shared), kv, state_mod_revision, initial_state);
        let task = tokio::spawn(writer.run());
        Ok(Self { shared, _writer: Arc::new(WriterGuard(task)) })
    }

    /// The source version to resume from: the recorded one, if the destination holds a
    /// complete state of this source. `None` means list first (no record, an unfinished sync,
    /// or a record of another source).
    pub fn resume_point(&self) -> Option<Version> {
        let state = self.shared.initial_state.as_ref()?;
        let point = state.resume_point(&self.shared.config.source_id);
        if point.is_none() {
            tracing::info!(sink = %self.shared.name, ?state, "the destination's state cannot be resumed from; listing");
        }
        point
    }

    /// The state record found at start.
    pub fn initial_state(&self) -> Option<&MirrorState> {
        self.shared.initial_state.as_ref()
    }

    /// A description of the destination (endpoints and prefix, no credentials).
    pub fn describe(&self) -> &str {
        &self.shared.name
    }

    /// The counters now.
    pub fn stats(&self) -> SinkStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SinkStats {
            txns: get(&c.txns),
            puts: get(&c.puts),
            deletes: get(&c.deletes),
            unchanged: get(&c.unchanged),
            syncs: get(&c.syncs),
            retries: get(&c.retries),
            queued_ops: self.shared.queue().ops as u64,
            max_queued_ops: get(&c.max_queued),
        }
    }

    /// The error that stopped the sink, if it stopped.
    pub fn failure(&self) -> Option<SinkError> {
        self.shared.failure()
    }

    /// Resolves when the sink stops with an error (never, while it works).
    pub async fn failed(&self) -> SinkError {
        loop {
            let notified = self.shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(err) = self.shared.failure() {
                return err;
            }
            notified.await;
        }
    }

    /// Waits until everything queued so far is written, or the sink failed.
    pub async fn flush(&self) -> Result<(), SinkError> {
        loop {
            let notified = self.shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(err) = self.shared.failure() {
                return Err(err);
            }
            {
                let queue = self.shared.queue();
                if queue.jobs.is_empty() && !queue.busy {
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    fn push(&self, job: Job) -> Result<(), StoreError> {
        if let Some(err) = self.shared.failure() {
            return Err(StoreError::Other(err.to_string()));
        }
        let mut queue = self.shared.queue();
        match job {
            // A relist makes everything queued before it moot (not the job being written).
            Job::Replace { .. } => {
                let dropped: usize = queue.jobs.drain(..).map(|j| j.ops()).sum();
                queue.ops -= dropped;
            }
            // Progress only matters as the newest one.
            Job::Progress { .. } if matches!(queue.jobs.back(), Some(Job::Progress { .. })) => {
                queue.jobs.pop_back();
                queue.ops -= 1;
            }
            _ => {}
        }
        queue.ops += job.ops();
        self.shared.counters.max_queued.fetch_max(queue.ops as u64, Ordering::Relaxed);
        queue.jobs.push_back(job);
        drop(queue);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Store for EtcdSink {
    type Object = RawKeyValue;

    fn add(&self, object: Arc<RawKeyValue>) -> Result<(), StoreError> {
        self.push(Job::Batch { version: None, changes: vec![Change::Added(object)] })
    }

    fn update(&self, object: Arc<RawKeyValue>) -> Result<(), StoreError> {
        self.push(Job::Batch { version: None, changes: vec![Change::Modified(object)] })
    }

    fn delete(&self, object: Arc<RawKeyValue>) -> Result<(), StoreError> {
        self.push(Job::Batch { version: None, changes: vec![Change::Deleted(object)] })
    }

    /// Nothing: the sink keeps no copy (read the destination).
    fn list(&self) -> Vec<Arc<RawKeyValue>> {
        Vec::new()
    }

    /// Nothing: the sink keeps no copy (read the destination).
    fn list_keys(&self) -> Vec<ObjectKey> {
        Vec::new()
    }

    /// Nothing: the sink keeps no copy (read the destination).
    fn get(&self, _object: &RawKeyValue) -> Result<Option<Arc<RawKeyValue>>, StoreError> {
        Ok(None)
    }

    /// Nothing: the sink keeps no copy (read the destination).
    fn get_by_key(&self, _key: &str) -> Option<Arc<RawKeyValue>> {
        None
    }

    fn replace(&self, items: Vec<Arc<RawKeyValue>>, version: Version) -> Result<(), StoreError> {
        self.push(Job::Replace { items, version })
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply_batch(&self, version: &Version, changes: Vec<Change<RawKeyValue>>) -> Result<(), StoreError> {
        let version = version.clone();
        if changes.is_empty() {
            return self.push(Job::Progress { version });
        }
        self.push(Job::Batch { version: Some(version), changes })
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let full = || self.shared.failure().is_none() && self.shared.queue().ops >= self.shared.config.queue_ops;
        if !full() {
            return Poll::Ready(());
        }
        self.shared.ready.register(cx.waker());
        // Checked again after registering: the writer may have made room meanwhile.
        if full() { Poll::Pending } else { Poll::Ready(()) }
    }
}

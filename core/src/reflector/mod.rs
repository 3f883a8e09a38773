//! The [`Reflector`]: keeps a [`Store`] equal to a [`ListerWatcher`]'s collection.
//!
//! ```text
//!   list (paged) ──► store.replace(items, version) ──► watch(version) ──► apply events
//!        ▲                                                  │
//!        └──────────── expired version (410, compaction) ◄──┤
//!                                                           │ clean end / broken stream
//!                      watch(last version seen) ◄───────────┘ (after backoff if it failed)
//! ```
//!
//! * The first list asks for pages of [`ReflectorConfig::page_size`] and replaces the whole
//!   store once every page arrived, so a failed list never leaves a half-updated store.
//! * A watch that ends or breaks is resumed from the last version seen (an event's or a
//!   bookmark's): no relist.
//! * Only an [`ErrorKind::Expired`] answer triggers a relist. A relist asks for "not older
//!   than the last version seen"; if the source says that version is unavailable, the next
//!   attempt is a consistent read. `replace` then removes every key that vanished meanwhile.
//! * Transient, malformed and permanent errors back off with full jitter ([`Backoff`]).
//! * A store error on one event is logged, counted, recorded in the [`SyncState`] as
//!   [`SyncFailureKind::StoreRefused`](crate::SyncFailureKind::StoreRefused), and repaired: the
//!   reflector applies the events already ready, then lists again (the policy is part of the
//!   [`Store`] contract). The sync state and [`ReflectorHandle::sync_state`] say why the mirror
//!   is not current while anything fails.
//! * Each version's events reach the store as one [`Store::apply_batch`], after the store said
//!   it is ready ([`Store::poll_ready`]); see the `batch` module for where a batch ends.
//! * [`Reflector::resume_from`] starts from a saved state: a watch from its version, no list
//!   (warm restart).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use informer_core::{Reflector, ReflectorConfig};
//! use informer_core::KeyFn;
//! use informer_memory::MemorySource;
//! use informer_stores::Cache;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = MemorySource::<String>::new();
//! source.put("a", "hello".to_string());
//! let store = Arc::new(Cache::new(KeyFn::keyed()));
//! let reflector = Reflector::new(source.clone(), store.clone(), ReflectorConfig::default());
//! let handle = reflector.handle();
//! let cancel = CancellationToken::new();
//! let task = tokio::spawn(reflector.run(cancel.clone()));
//! assert!(handle.wait_synced().await);
//! assert_eq!(store.len(), 1);
//! cancel.cancel();
//! task.await.unwrap().unwrap();
//! # }
//! ```

mod backoff;
mod batch;
mod config;
mod metrics;
mod resume;
mod stream_fallback;
mod sync_state;
mod version_wait;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

pub use backoff::{Backoff, BackoffConfig};
pub use config::{InitialList, ReflectorConfig};
use metrics::Metrics;
pub use metrics::MetricsSnapshot;
use stream_fallback::Fallback;
use sync_state::SyncTracker;
pub use sync_state::{SyncFailure, SyncState};
pub use version_wait::VersionWaitError;

use crate::key::Version;
use crate::order::VersionOrder;
use crate::source::{ErrorKind, ListOptions, ListerWatcher, SourceError, WatchEvent, WatchOptions, WatchStream};
use crate::store::Store;

/// Why [`Reflector::run`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReflectorError {
    /// [`BackoffConfig::max_retries`] consecutive attempts failed.
    #[error("{source_name}: gave up after {attempts} consecutive failures; last error: {last}")]
    GaveUp {
        /// The source's description.
        source_name: String,
        /// How many attempts failed in a row.
        attempts: u32,
        /// The last error.
        #[source]
        last: SourceError,
    },
}

/// Shared state between the running reflector and its handles.
#[derive(Debug)]
struct Shared {
    name: String,
    metrics: Metrics,
    last_version: Mutex<Option<Version>>,
    state: tokio::sync::watch::Sender<Phase>,
    sync: SyncTracker,
    /// The newest applied version, for `wait_for_version`.
    applied: tokio::sync::watch::Sender<Option<Version>>,
    /// The order the source declared, if any.
    order: Option<VersionOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotSynced,
    Synced,
    StoppedBeforeSync,
}

/// A cheap, cloneable view of a reflector: readiness, version and counters.
#[derive(Debug, Clone)]
pub struct ReflectorHandle {
    shared: Arc<Shared>,
}

impl ReflectorHandle {
    /// True once the first complete list has been written to the store (it stays true through
    /// later relists, like client-go's `HasSynced`).
    pub fn has_synced(&self) -> bool {
        *self.shared.state.borrow() == Phase::Synced
    }

    /// Waits until the store has been synced. Returns `false` if the reflector stopped first.
    pub async fn wait_synced(&self) -> bool {
        let mut rx = self.shared.state.subscribe();
        match rx.wait_for(|p| *p != Phase::NotSynced).await {
            Ok(phase) => *phase == Phase::Synced,
            Err(_) => false,
        }
    }

    /// The newest version applied to the store: the list's, then each event's or bookmark's.
    pub fn last_synced_version(&self) -> Option<Version> {
        self.shared.last_version.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The reflector's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// The source's description.
    pub fn source_name(&self) -> &str {
        &self.shared.name
    }
}

/// Lists and watches a [`ListerWatcher`] and applies everything to a [`Store`]. See the
/// [module documentation](self) for the algorithm and an example.
#[must_use = "a reflector does nothing until `run` is awaited"]
pub struct Reflector<L, S> {
    source: L,
    store: S,
    config: ReflectorConfig,
    shared: Arc<Shared>,
    /// Set by [`Reflector::resume_from`]: watch from here instead of listing first.
    resume: Option<Version>,
}

impl<L, S> std::fmt::Debug for Reflector<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reflector").field("source", &self.shared.name).field("config", &self.config).finish()
    }
}

/// What ended one watch.
enum WatchEnd {
    Cancelled,
    /// The stream ended by itself; `events` counts what it delivered.
    Closed {
        events: u64,
    },
    Failed(SourceError),
    /// The store refused a change: relist to repair it (see the `Store` contract).
    Repair,
    /// A streaming list stalled and was dropped: list in pages.
    FellBack,
}

impl<L, S> Reflector<L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    /// A reflector that mirrors `source` into `store`.
    pub fn new(source: L, store: S, config: ReflectorConfig) -> Self {
        let (state, _) = tokio::sync::watch::channel(Phase::NotSynced);
        let name = source.describe();
        let label = config.name.as_deref().unwrap_or(&name);
        let (metrics, sync) = (Metrics::new(label), SyncTracker::new(label));
        let shared = Arc::new(Shared {
            metrics,
            name,
            last_version: Mutex::new(None),
            state,
            sync,
            applied: tokio::sync::watch::channel(None).0,
            order: source.version_order(),
        });
        Self { source, store, config, shared, resume: None }
    }

    /// A handle to observe the reflector while it runs.
    pub fn handle(&self) -> ReflectorHandle {
        ReflectorHandle { shared: Arc::clone(&self.shared) }
    }

    /// The store (e.g. to read from it before `run` takes ownership).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs until `cancel` fires (then returns `Ok`) or the retry limit is reached.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), ReflectorError> {
        let result = Runner::new(&self).run(&cancel).await;
        self.shared.sync.stopped();
        self.shared.state.send_if_modified(|p| {
            if *p == Phase::NotSynced {
                *p = Phase::StoppedBeforeSync;
                true
            } else {
                false
            }
        });
        result
    }
}

/// The mutable state of one `run`.
struct Runner<'a, L, S> {
    r: &'a Reflector<L, S>,
    backoff: Backoff,
    rng: fastrand::Rng,
    version: Option<Version>,
    need_list: bool,
    consistent: bool,
    streaming: bool,
    lists_done: u64,
    last_resync: Instant,
    /// The store refused a change since the last list: relist once the ready events are in.
    repair: bool,
}

impl<'a, L, S> Runner<'a, L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    fn new(r: &'a Reflector<L, S>) -> Self {
        let seed = r.config.seed;
        Self {
            r,
            backoff: Backoff::new(r.config.backoff.clone(), seed),
            rng: seed.map_or_else(fastrand::Rng::new, |s| fastrand::Rng::with_seed(s ^ 0x9e37_79b9)),
            version: None,
            need_list: true,
            consistent: r.config.consistent_first_list,
            streaming: r.config.initial_list.tries_streaming(),
            lists_done: 0,
            last_resync: Instant::now(),
            repair: false,
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.r.shared.metrics
    }

    fn name(&self) -> &str {
        &self.r.shared.name
    }

    async fn run(&mut self, cancel: &CancellationToken) -> Result<(), ReflectorError> {
        if let Some(version) = self.r.resume.clone() {
            self.start_resumed(version);
        }
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let end = if self.need_list && self.streaming {
                self.stream_list(cancel).await
            } else if self.need_list {
                match self.list(cancel).await {
                    Ok(true) => continue,
                    Ok(false) => return Ok(()),
                    Err(e) => WatchEnd::Failed(e),
                }
            } else {
                self.watch(cancel).await
            };
            match end {
                WatchEnd::Cancelled => return Ok(()),
                WatchEnd::Closed { events } => {
                    debug!(source = self.name(), events, "watch closed; resuming from last version");
                }
                WatchEnd::Failed(err) => {
                    if !self.handle_error(err, cancel).await? {
                        return Ok(());
                    }
                }
                WatchEnd::Repair | WatchEnd::FellBack => {}
            }
            if std::mem::take(&mut self.repair) {
                Metrics::inc(&self.metrics().store_repairs);
                info!(source = self.name(), "the store refused a change; listing again to repair the mirror");
                self.need_list = true;
            }
        }
    }

    /// Handles a source error: relist on expiry, back off otherwise. Returns `Ok(false)` if
    /// cancelled while waiting.
    async fn handle_error(&mut self, err: SourceError, cancel: &CancellationToken) -> Result<bool, ReflectorError> {
        if err.kind() == ErrorKind::Unsupported && self.streaming && self.need_list {
            return Ok(self.fall_back_to_list(Fallback::Unsupported(err.to_string())));
        }
        self.metrics().source_error(err.kind());
        match err.kind() {
            ErrorKind::Expired if !(self.need_list && self.consistent) => {
                info!(source = self.name(), error = %err, "version expired; listing again");
                if self.need_list {
                    // The list itself asked for an unavailable version: read the newest state.
                    self.consistent = true;
                }
                self.need_list = true;
                Ok(true)
            }
            _ => {
                let failure = self.r.shared.sync.fail_source(&err);
                let Some(delay) = self.backoff.next_delay(Instant::now()) else {
                    return Err(ReflectorError::GaveUp {
                        source_name: self.name().to_string(),
                        attempts: self.backoff.failures(),
                        last: err,
                    });
                };
                warn!(
                    source = self.name(),
                    reason = %failure.kind,
                    attempts = failure.attempts,
                    error = %err,
                    retry_in = ?delay,
                    "source error; not synced; backing off"
                );
                Ok(self.sleep(delay, cancel).await)
            }
        }
    }

    /// Sleeps unless cancelled, resyncing meanwhile if due. Returns false if cancelled.
    async fn sleep(&mut self, delay: Duration, cancel: &CancellationToken) -> bool {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            let resync_at = self.next_resync();
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep_until(deadline) => return true,
                _ = sleep_until_opt(resync_at) => self.resync(),
            }
        }
    }

    fn next_resync(&self) -> Option<tokio::time::Instant> {
        let period = self.r.config.resync_period?;
        if self.lists_done == 0 {
            return None;
        }
        Some(tokio::time::Instant::from_std(self.last_resync + period))
    }

    fn resync(&mut self) {
        self.last_resync = Instant::now();
        Metrics::inc(&self.metrics().resyncs);
        if let Err(err) = self.r.store.resync() {
            Metrics::inc(&self.metrics().store_errors);
            warn!(source = self.name(), error = %err, "resync failed");
        }
    }

    fn set_version(&mut self, version: Version) {
        *self.r.shared.last_version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version.clone());
        self.r.shared.applied.send_replace(Some(version.clone()));
        self.version = Some(version);
    }

    fn mark_listed(&mut self, items: Vec<Arc<L::Object>>, version: Version) {
        let count = items.len();
        match self.r.store.replace(items, version.clone()) {
            Ok(()) => self.r.shared.sync.stored(),
            Err(err) => {
                Metrics::inc(&self.metrics().store_errors);
                // The store holds the rest; a relist would be refused the same way, so the
                // state says so until a later list or event is accepted.
                self.r.shared.sync.fail(
                    crate::reason::SyncFailureKind::StoreRefused,
                    format!("{}: the store refused part of the list at version {version}: {err}", self.name()),
                );
                warn!(source = self.name(), %version, error = %err, "store rejected part of the list");
            }
        }
        if self.lists_done > 0 {
            Metrics::inc(&self.metrics().relists);
        }
        self.lists_done += 1;
        self.last_resync = Instant::now();
        self.need_list = false;
        self.consistent = false;
        self.metrics().listed();
        info!(source = self.name(), %version, objects = count, "listed");
        self.set_version(version);
        self.r.shared.state.send_if_modified(|p| {
            let changed = *p != Phase::Synced;
            *p = Phase::Synced;
            changed
        });
    }

    /// One complete paged list. `Ok(true)`: listed; `Ok(false)`: cancelled.
    async fn list(&mut self, cancel: &CancellationToken) -> Result<bool, SourceError> {
        self.metrics().list_started();
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        let mut list_version: Option<Version> = None;
        for page_number in 1u64.. {
            let options = ListOptions::first_page(self.r.config.page_size)
                .with_continue(token.clone())
                .with_min_version(self.version.clone())
                .with_consistent(self.consistent);
            Metrics::inc(&self.metrics().list_pages);
            let page = tokio::select! {
                _ = cancel.cancelled() => return Ok(false),
                page = self.r.source.list(&options).instrument(info_span!(
                    "list", source = self.name(), version = self.version.as_deref(), page = page_number
                )) => page?,
            };
            if page.version.is_empty() {
                return Err(SourceError::malformed(format!("{}: list page {page_number} has no version", self.name())));
            }
            match &list_version {
                Some(v) if *v != page.version => {
                    return Err(SourceError::malformed(format!(
                        "{}: list page {page_number} describes version {} but the list started at version {v}",
                        self.name(),
                        page.version
                    )));
                }
                _ => list_version = Some(page.version.clone()),
            }
            items.extend(page.items.into_iter().map(Arc::new));
            match page.continue_token {
                None => break,
                Some(next) if next.is_empty() => break,
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(SourceError::malformed(format!(
                        "{}: list page {page_number} returned the same continue token it was asked for",
                        self.name()
                    )));
                }
                Some(next) => token = Some(next),
            }
        }
        let version = list_version.expect("the loop ran at least once");
        self.mark_listed(items, version);
        Ok(true)
    }

    fn watch_options(&mut self) -> WatchOptions {
        WatchOptions {
            bookmarks: self.r.config.bookmarks,
            timeout: self.r.config.watch_timeout.map(|t| t.mul_f64(1.0 + self.rng.f64())),
        }
    }

    async fn watch(&mut self, cancel: &CancellationToken) -> WatchEnd {
        let version = self.version.clone().expect("watch follows a list");
        let options = self.watch_options();
        Metrics::inc(&self.metrics().watches);
        let stream = tokio::select! {
            _ = cancel.cancelled() => return WatchEnd::Cancelled,
            stream = self.r.source.watch(&version, &options)
                .instrument(info_span!("watch", source = self.name(), version = version.as_str())) => stream,
        };
        match stream {
            Ok(stream) => {
                self.r.shared.sync.healthy(self.lists_done > 0);
                self.consume(stream, cancel).await
            }
            Err(err) => WatchEnd::Failed(err),
        }
    }

    /// A streaming list: buffer the initial `Added` events until the end bookmark, replace the
    /// store with them, then go on with the same stream as an ordinary watch.
    async fn stream_list(&mut self, cancel: &CancellationToken) -> WatchEnd {
        let options = self.watch_options();
        let stall = self.r.config.initial_events_stall;
        let deadline = self.r.config.initial_events_deadline;
        let deadline_at = deadline.map(|d| tokio::time::Instant::now() + d);
        let mut items = Vec::new();
        let stalled = |items: &Vec<_>| Fallback::Stalled { quiet: stall, objects: items.len() };
        let late = |items: &Vec<_>| Fallback::Deadline { deadline: deadline.unwrap_or_default(), objects: items.len() };
        let stream = tokio::select! {
            _ = cancel.cancelled() => return WatchEnd::Cancelled,
            _ = tokio::time::sleep(stall) => return self.stream_dropped(stalled(&items)),
            _ = sleep_until_opt(deadline_at) => return self.stream_dropped(late(&items)),
            // After the source said the last version is unavailable, ask for the newest state.
            stream = self.r.source.watch_list(if self.consistent { None } else { self.version.as_ref() }, &options)
                .instrument(info_span!("watch_list", source = self.name(), version = self.version.as_deref())) => stream,
        };
        // Under `Auto`, a source that does not stream costs no list in the counters; a streaming
        // list asked for explicitly counts even when refused.
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(err) if err.kind() == ErrorKind::Unsupported && self.r.config.initial_list == InitialList::Auto => {
                return WatchEnd::Failed(err);
            }
            Err(err) => {
                self.metrics().list_started();
                Metrics::inc(&self.metrics().watches);
                return WatchEnd::Failed(err);
            }
        };
        self.metrics().list_started();
        Metrics::inc(&self.metrics().watches);
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return WatchEnd::Cancelled,
                _ = tokio::time::sleep(stall) => return self.stream_dropped(stalled(&items)),
                _ = sleep_until_opt(deadline_at) => return self.stream_dropped(late(&items)),
                next = stream.next() => next,
            };
            match next {
                None => {
                    return WatchEnd::Failed(SourceError::transient(format!(
                        "{}: streaming list ended before its initial-events-end bookmark ({} objects received)",
                        self.name(),
                        items.len()
                    )));
                }
                Some(Err(err)) => return WatchEnd::Failed(err),
                Some(Ok(WatchEvent::Added { object, .. })) => items.push(Arc::new(object)),
                Some(Ok(WatchEvent::Bookmark(b))) if b.initial_events_end => {
                    Metrics::inc(&self.metrics().bookmarks);
                    self.mark_listed(std::mem::take(&mut items), b.version);
                    return self.consume(stream, cancel).await;
                }
                Some(Ok(WatchEvent::Bookmark(_))) => Metrics::inc(&self.metrics().bookmarks),
                Some(Ok(other)) => {
                    return WatchEnd::Failed(SourceError::malformed(format!(
                        "{}: streaming list sent a {} event at version {} before its initial-events-end bookmark",
                        self.name(),
                        other.type_name(),
                        other.version()
                    )));
                }
            }
        }
    }

    fn stream_dropped(&mut self, why: Fallback) -> WatchEnd {
        self.fall_back_to_list(why);
        WatchEnd::FellBack
    }

    async fn consume(&mut self, mut stream: WatchStream<L::Object>, cancel: &CancellationToken) -> WatchEnd {
        let started = Instant::now();
        let mut events = 0u64;
        loop {
            let resync_at = self.next_resync();
            let next = tokio::select! {
                _ = cancel.cancelled() => return WatchEnd::Cancelled,
                _ = sleep_until_opt(resync_at) => { self.resync(); continue; }
                next = stream.next() => next,
            };
            match next {
                None => {
                    if events == 0 && started.elapsed() < self.r.config.min_watch_duration {
                        return WatchEnd::Failed(SourceError::transient(format!(
                            "{}: watch from version {} closed after {:?} without any event",
                            self.name(),
                            self.version.as_deref().unwrap_or(""),
                            started.elapsed()
                        )));
                    }
                    return WatchEnd::Closed { events };
                }
                Some(Err(err)) => return WatchEnd::Failed(err),
                Some(Ok(event)) => {
                    if let Err(end) = self.check_version(&event) {
                        return end;
                    }
                    events += 1;
                    if let Err(end) = self.apply_ready(event, &mut stream, &mut events, cancel).await {
                        return end;
                    }
                    if self.repair {
                        return WatchEnd::Repair;
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

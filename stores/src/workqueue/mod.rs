//! # WorkQueue: de-duplicating, rate-limited work for controllers and schedulers
//!
//! A controller reacts to changes by *key*, not by event: an informer handler adds the key
//! of every changed object to a [`WorkQueue`], and workers take keys, read the current state
//! from the informer's store, and reconcile. Because the queue holds keys, a burst of changes
//! to one object costs one reconcile; because it tracks what is being processed, two workers
//! never reconcile the same key at once; and because retries go through a
//! [`RateLimiter`], a failing key backs off exponentially instead of spinning.
//!
//! It is client-go's `workqueue.TypedRateLimitingInterface`, with an async `get`.
//!
//! ```
//! use informer_stores::WorkQueue;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let queue = WorkQueue::new();
//! queue.add("default/web-0");
//! queue.add("default/web-0"); // de-duplicated while queued
//! assert_eq!(queue.len(), 1);
//!
//! let key = queue.get().await.unwrap();
//! let failed = true;
//! if failed {
//!     queue.add_rate_limited(key); // back off: retried after 5 ms, 10 ms, 20 ms, ...
//! } else {
//!     queue.forget(&key); // success: reset its backoff
//! }
//! queue.done(&key);
//! assert_eq!(queue.num_requeues(&key), 1);
//! queue.shut_down();
//! # }
//! ```

mod queue_metrics;
mod rate_limit;

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;

use informer_core::CancellationToken;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::warn;

use crate::cache::FastMap;
use queue_metrics::QueueMetrics;

type FastSet<K> = hashbrown::HashSet<K>;

pub use rate_limit::{ExponentialBackoff, MaxOf, RateLimiter, TokenBucket};

/// A de-duplicating, rate-limited queue of keys (client-go's rate-limiting work queue).
/// Cheap to clone: clones share one queue.
///
/// # Contract
///
/// 1. `add` queues a key; a key already queued (and not yet taken) is not queued twice.
/// 2. `get` waits for a key and hands out the oldest; the key is then *processing* until the
///    worker calls `done` with it. A processing key is never handed to a second worker: if it
///    is added again meanwhile, it is queued again when `done` is called (once, however many
///    times it was added).
/// 3. `add_after(key, delay)` adds the key once `delay` has passed; of several pending delays
///    for one key only the earliest counts. A zero delay adds at once.
/// 4. `add_rate_limited(key)` is `add_after(key, limiter.when(key))`: with the default
///    [`ExponentialBackoff`], 5 ms, 10 ms, 20 ms, ... up to 1000 s per key.
/// 5. `forget` resets the key's backoff; `num_requeues` counts rate-limited adds since.
/// 6. After `shut_down`, adds are ignored and pending delays are dropped; `get` still hands
///    out the keys queued before (and keys re-queued by `done`), then returns `None` to every
///    waiting and later caller.
/// 7. `shut_down_with_drain` shuts down and waits until every key handed out by `get` has
///    been marked `done`.
/// 8. `add_after` needs a Tokio runtime for its timer: the one current at the call, else the
///    one current when the queue was created; with neither, the key is added at once (and a
///    warning logged) rather than lost.
///
/// # Example
///
/// Two workers share a queue; a key is never processed by both at once:
///
/// ```
/// use informer_stores::WorkQueue;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let queue: WorkQueue<String> = WorkQueue::new();
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let queue = queue.clone();
///         tokio::spawn(async move {
///             let mut handled = 0;
///             while let Some(key) = queue.get().await {
///                 // ... reconcile `key` from an informer's store ...
///                 handled += 1;
///                 queue.done(&key);
///             }
///             handled
///         })
///     })
///     .collect();
/// for key in ["default/a", "default/b", "default/a"] {
///     queue.add(key.to_string());
/// }
/// queue.shut_down_with_drain().await;
/// let mut handled = 0;
/// for worker in workers {
///     handled += worker.await.unwrap();
/// }
/// assert_eq!(handled, 2, "\"default/a\" was queued once");
/// # }
/// ```
pub struct WorkQueue<K, R = ExponentialBackoff<K>> {
    inner: Arc<Inner<K, R>>,
}

struct Inner<K, R> {
    state: Mutex<State<K>>,
    /// Woken when a key is queued, or on shutdown.
    ready: Notify,
    /// Woken when the processing set becomes empty.
    idle: Notify,
    limiter: R,
    timers: CancellationToken,
    runtime: Option<tokio::runtime::Handle>,
}

struct State<K> {
    queue: VecDeque<K>,
    dirty: FastSet<K>,
    processing: FastSet<K>,
    waiting: FastMap<K, Instant>,
    shutting_down: bool,
    stats: WorkQueueStats,
    /// Set by [`WorkQueue::with_name`].
    metrics: Option<QueueMetrics<K>>,
}

/// Counters of a [`WorkQueue`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkQueueStats {
    /// Keys queued now.
    pub depth: usize,
    /// Keys being processed now.
    pub processing: usize,
    /// Keys waiting for a delay now.
    pub waiting: usize,
    /// Keys queued since creation (after de-duplication).
    pub adds: u64,
    /// Rate-limited adds since creation.
    pub retries: u64,
}

impl<K, R> Clone for WorkQueue<K, R> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<K, R> fmt::Debug for WorkQueue<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("WorkQueue")
            .field("depth", &state.queue.len())
            .field("processing", &state.processing.len())
            .field("shutting_down", &state.shutting_down)
            .finish()
    }
}

impl<K> WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// A queue with the default per-key [`ExponentialBackoff`] (5 ms to 1000 s).
    pub fn new() -> Self {
        Self::with_rate_limiter(ExponentialBackoff::default())
    }
}

impl<K> Default for WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, R> WorkQueue<K, R>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    R: RateLimiter<K>,
{
    /// A queue whose retries wait as `limiter` says, e.g.
    /// `MaxOf(ExponentialBackoff::default(), TokenBucket::new(10.0, 100))` for client-go's
    /// default (per-key backoff and an overall 10 retries/s).
    pub fn with_rate_limiter(limiter: R) -> Self {
        let state = State {
            queue: VecDeque::new(),
            dirty: FastSet::default(),
            processing: FastSet::default(),
            waiting: FastMap::default(),
            shutting_down: false,
            stats: WorkQueueStats::default(),
            metrics: None,
        };
        let inner = Inner {
            state: Mutex::new(state),
            ready: Notify::new(),
            idle: Notify::new(),
            limiter,
            timers: CancellationToken::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Names the queue in its metrics: from now on it records client-go's workqueue series
    /// (`workqueue_depth`, `workqueue_adds_total`, ... in [`telemetry`](crate::telemetry))
    /// labelled `name`. An unnamed queue records nothing, as in client-go. Inside a Tokio
    /// runtime, the unfinished-work gauges are also refreshed every 500 ms until shutdown, so
    /// a stuck worker shows while nothing else happens.
    #[must_use]
    pub fn with_name(self, name: &str) -> Self {
        self.inner.state.lock().metrics = Some(QueueMetrics::new(name));
        if let Some(runtime) = tokio::runtime::Handle::try_current().ok().or_else(|| self.inner.runtime.clone()) {
            let queue: Weak<Inner<K, R>> = Arc::downgrade(&self.inner);
            let stop = self.inner.timers.clone();
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    let Some(inner) = queue.upgrade() else { return };
                    if let Some(metrics) = &inner.state.lock().metrics {
                        metrics.update_unfinished(Instant::now());
                    }
                }
            });
        }
        self
    }

    /// Queues `key` unless it is already queued (contract 1, 2).
    pub fn add(&self, key: K) {
        let mut state = self.inner.state.lock();
        if state.shutting_down || state.dirty.contains(&key) {
            return;
        }
        state.dirty.insert(key.clone());
        state.stats.adds += 1;
        let depth = state.dirty.len();
        if let Some(metrics) = &mut state.metrics {
            metrics.added(&key, depth);
        }
        if state.processing.contains(&key) {
            return; // queued again by `done`
        }
        state.queue.push_back(key);
        drop(state);
        self.inner.ready.notify_one();
    }

    /// Waits for a key and marks it processing; `None` once shut down and empty (contract 2, 6).
    /// Cancel-safe: a `get` cancelled while waiting takes nothing.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.inner.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.inner.state.lock();
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    let depth = state.dirty.len();
                    if let Some(metrics) = &mut state.metrics {
                        metrics.taken(&key, depth);
                    }
                    if !state.queue.is_empty() {
                        self.inner.ready.notify_one();
                    }
                    return Some(key);
                }
                if state.shutting_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added while processing (contract 2).
    pub fn done(&self, key: &K) {
        let mut state = self.inner.state.lock();
        if !state.processing.remove(key) {
            return;
        }
        if let Some(metrics) = &mut state.metrics {
            metrics.done(key);
        }
        if state.dirty.contains(key) {
            state.queue.push_back(key.clone());
            self.inner.ready.notify_one();
        }
        if state.processing.is_empty() {
            self.inner.idle.notify_waiters();
        }
    }

    /// Adds `key` after `delay` (contract 3, 8).
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let Some(runtime) = tokio::runtime::Handle::try_current().ok().or_else(|| self.inner.runtime.clone()) else {
            warn!(?delay, "WorkQueue::add_after outside a Tokio runtime: adding the key at once");
            return self.add(key);
        };
        let ready_at = Instant::now() + delay;
        {
            let mut state = self.inner.state.lock();
            if state.shutting_down {
                return;
            }
            match state.waiting.get(&key) {
                Some(&earlier) if earlier <= ready_at => return,
                _ => {
                    state.waiting.insert(key.clone(), ready_at);
                }
            }
        }
        let queue = self.clone();
        runtime.spawn(async move {
            tokio::select! {
                _ = queue.inner.timers.cancelled() => {}
                _ = tokio::time::sleep_until(ready_at) => {
                    let mut state = queue.inner.state.lock();
                    // A later, earlier-firing `add_after` replaced this timer's entry.
                    if state.waiting.get(&key) == Some(&ready_at) {
                        state.waiting.remove(&key);
                        drop(state);
                        queue.add(key);
                    }
                }
            }
        });
    }

    /// Adds `key` after the rate limiter's delay for it (contract 4).
    pub fn add_rate_limited(&self, key: K) {
        let delay = self.inner.limiter.when(&key);
        let mut state = self.inner.state.lock();
        state.stats.retries += 1;
        if let Some(metrics) = &state.metrics {
            metrics.retries.increment(1);
        }
        drop(state);
        self.add_after(key, delay);
    }

    /// Resets `key`'s backoff (contract 5).
    pub fn forget(&self, key: &K) {
        self.inner.limiter.forget(key);
    }

    /// Rate-limited adds of `key` since its last `forget` (contract 5).
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.inner.limiter.num_requeues(key)
    }

    /// Stops accepting keys and wakes every waiting `get` (contract 6).
    pub fn shut_down(&self) {
        let mut state = self.inner.state.lock();
        state.shutting_down = true;
        state.waiting.clear();
        drop(state);
        self.inner.timers.cancel();
        self.inner.ready.notify_waiters();
    }

    /// Shuts down, then waits until every key handed out has been marked done (contract 7).
    pub async fn shut_down_with_drain(&self) {
        self.shut_down();
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.state.lock().processing.is_empty() {
                return;
            }
            idle.await;
        }
    }

    /// True after a shutdown.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.state.lock().shutting_down
    }

    /// Keys queued now (not counting processing or delayed keys).
    pub fn len(&self) -> usize {
        self.inner.state.lock().queue.len()
    }

    /// True when no key is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's counters.
    pub fn stats(&self) -> WorkQueueStats {
        let state = self.inner.state.lock();
        WorkQueueStats {
            depth: state.queue.len(),
            processing: state.processing.len(),
            waiting: state.waiting.len(),
            ..state.stats
        }
    }
}

#[cfg(test)]
mod tests;

//! The [`RealFifo`] type: its state, its pops and how changes are queued.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use metrics::{Counter, Gauge};
use parking_lot::Mutex;

use super::RealFifoOptions;
use crate::cache::FastMap;
use crate::delta_fifo::wake::{RoomWaiters, SyncSignal, Wakers};
use crate::telemetry::{self, QUEUE_ADDS, QUEUE_DEPTH};
use crate::{Capacity, Deletion, Delta, Deltas, Popped, QueueClosed, QueueStats, ReplacedAll};

/// A queue of every change, in the order it happened across keys (client-go's `RealFIFO`);
/// see the [module docs](super).
///
/// # Contract
///
/// 1. Every change is queued as its own entry, at the back, whatever is queued already:
///    `add` → [`Delta::Added`], `update` → [`Delta::Updated`], `delete` →
///    [`Delta::Deleted`]`(`[`Deletion::Known`]`)`. Nothing is merged or dropped: two changes
///    of one key are two entries, two deletions of one key are two entries.
/// 2. `delete` is queued whatever the key: the consumer ignores the deletion of an object it
///    does not hold (client-go's `RealFIFO` does the same).
/// 3. `apply_batch(version, changes)` queues one entry per change, in order, under one lock:
///    a pop sees all of the batch or none of it. An empty batch (a bookmark) queues nothing.
///    A change whose key cannot be computed is skipped; the others are queued and the first
///    key error is returned.
/// 4. `replace(items, version)` queues **one** [`ReplacedAll`] entry at the back, after
///    everything queued before it (nothing is dropped: the consumer sees the earlier
///    changes, then the relist). Its `items` are those whose key could be computed (the
///    first key error is returned), `version` is the relist's version, and `initial` is true
///    for the first change the queue ever got. Deletions are implied, not queued: the
///    consumer makes its state equal to `items` when it handles the entry, and at that
///    moment its state reflects every change before the relist, so the keys it holds that
///    are absent from `items` are exactly the deleted ones;
///    [`implied_deletions`](Self::implied_deletions) lists them from the known-objects store.
/// 5. `resync` queues a [`Delta::Sync`] entry, in key order, for every key of the
///    known-objects store that has no queued entry and is not being handled. Without a
///    known-objects store, or while a `ReplacedAll` is queued or being handled (the known
///    objects are about to be replaced, and a resync of an object the relist deleted would
///    bring it back), it does nothing.
/// 6. `pop` waits for the oldest entry, removes it, and calls the handler with it *after*
///    releasing the queue lock: a change as [`Popped::Deltas`] with exactly one delta (and
///    `initial` false), a relist as [`Popped::ReplacedAll`]. The handler's return value goes
///    to the caller and nothing is requeued. **One handler runs at a time**: while a handler
///    runs, other pops wait (and `try_pop` returns `Ok(None)`), so entries are handled in
///    the order they were queued even with several poppers. A closed queue still hands out
///    what is queued; once it is closed and empty, pops return [`QueueClosed`].
/// 7. `has_synced` is true once the first `replace` was queued, popped and its handler has
///    returned. If the first change is an `add`, `update`, `delete` or a non-empty batch
///    instead, the queue counts as synced at once (as in client-go).
/// 8. `close` wakes every waiting pop and every producer waiting in `poll_ready`; later
///    changes fail with [`StoreError::Closed`].
/// 9. [`Capacity`] counts entries. `Soft(n)` accepts everything and counts the changes that
///    leave more than `n` entries queued; `Reject(n)` refuses a change, or a batch as a whole,
///    with [`StoreError::Full`] while `n` or more entries are queued, and always accepts a
///    `replace`. With either, `poll_ready` is pending while `n` or more entries are queued
///    (see [back-pressure](Capacity#back-pressure)). Nothing ever blocks.
/// 10. The known-objects store is read with the queue lock held (the lock order is always
///     queue, then store), so it must not call into the queue itself.
/// 11. As a [`Store`], `get`/`list` show, for every key with a queued entry, the newest
///     object queued for it (a change's object, a deletion's final state, or an item of a
///     queued relist); `list_keys` lists those keys. An entry being handled no longer counts.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::{Popped, RealFifo};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(&s[..1]))));
/// fifo.add(Arc::new("a1".to_string())).unwrap();
/// fifo.replace(vec![Arc::new("b1".to_string())], Version::from("7")).unwrap();
/// // The change before the relist comes out first, then the relist as one entry.
/// let first = fifo.pop(|p| p.into_deltas().unwrap().key).await.unwrap();
/// assert_eq!(first, ObjectKey::from("a"));
/// let relist = fifo
///     .pop(|p| match p {
///         Popped::ReplacedAll(r) => (r.items.len(), r.version),
///         Popped::Deltas(_) => unreachable!(),
///     })
///     .await
///     .unwrap();
/// assert_eq!(relist, (1, Version::from("7")));
/// fifo.close();
/// assert!(fifo.pop(|_| ()).await.is_err());
/// # }
/// ```
pub struct RealFifo<T, K = Arc<dyn Store<Object = T>>> {
    pub(super) key_fn: KeyFn<T>,
    pub(super) known: Option<K>,
    pub(super) options: RealFifoOptions,
    pub(super) state: Mutex<State<T>>,
    wakers: Wakers,
    synced: SyncSignal,
    /// `informer_queue_depth` and `informer_queue_adds_total`, labelled with the queue's name.
    depth: Gauge,
    adds: Counter,
}

pub(super) enum Entry<T> {
    Change {
        key: ObjectKey,
        delta: Delta<T>,
    },
    Replaced {
        replaced: ReplacedAll<T>,
        /// The keys of `replaced.items`, to forget them when the entry is popped.
        keys: Vec<ObjectKey>,
    },
}

/// The newest object queued for one key, and how many queued entries mention the key.
struct Newest<T> {
    object: Arc<T>,
    entries: usize,
}

/// What the running handler holds.
#[derive(Debug, PartialEq, Eq)]
enum InFlight {
    Change(ObjectKey),
    Replace,
}

pub(super) struct State<T> {
    pub(super) queue: VecDeque<Entry<T>>,
    /// The store view (contract 11).
    newest: FastMap<ObjectKey, Newest<T>>,
    /// Some change was queued.
    pub(super) populated: bool,
    /// The first replace is queued.
    initial_queued: bool,
    /// The first replace's handler runs.
    initial_in_flight: bool,
    in_flight: Option<InFlight>,
    /// `ReplacedAll` entries queued now.
    replaces_queued: usize,
    pub(super) closed: bool,
    stats: QueueStats,
    /// Producers waiting in `poll_ready`.
    pub(super) room: RoomWaiters,
}

impl<T> State<T> {
    fn is_synced(&self) -> bool {
        self.populated && !self.initial_queued && !self.initial_in_flight
    }

    fn remember(&mut self, key: ObjectKey, object: &Arc<T>) {
        let newest = self.newest.entry(key).or_insert_with(|| Newest { object: Arc::clone(object), entries: 0 });
        newest.object = Arc::clone(object);
        newest.entries += 1;
    }

    fn forget(&mut self, key: &ObjectKey) {
        if let Some(newest) = self.newest.get_mut(key) {
            newest.entries -= 1;
            if newest.entries == 0 {
                self.newest.remove(key);
            }
        }
    }

    pub(super) fn newest_object(&self, key: &str) -> Option<Arc<T>> {
        self.newest.get(key).map(|n| Arc::clone(&n.object))
    }

    pub(super) fn newest_objects(&self) -> Vec<Arc<T>> {
        self.newest.values().map(|n| Arc::clone(&n.object)).collect()
    }

    pub(super) fn queued_keys(&self) -> Vec<ObjectKey> {
        self.newest.keys().cloned().collect()
    }

    /// True while a relist is queued or being handled (contract 5).
    pub(super) fn replace_pending(&self) -> bool {
        self.replaces_queued > 0 || self.in_flight == Some(InFlight::Replace)
    }

    /// True when `key` has a queued entry or its change is being handled (contract 5).
    pub(super) fn is_queued_or_in_flight(&self, key: &ObjectKey) -> bool {
        self.newest.contains_key(key) || matches!(&self.in_flight, Some(InFlight::Change(k)) if k == key)
    }
}

impl<T, K> std::fmt::Debug for RealFifo<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealFifo")
            .field("options", &self.options)
            .field("queued", &self.state.lock().queue.len())
            .finish()
    }
}

impl<T: Send + Sync + 'static> RealFifo<T> {
    /// An unbounded queue without a known-objects store, named `RealFifo`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// fifo.update(Arc::new("a".to_string())).unwrap();
    /// assert_eq!(fifo.len(), 2); // one entry per change
    /// ```
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self::build(key_fn, None, RealFifoOptions::default())
    }

    /// A queue without a known-objects store, with options.
    ///
    /// ```
    /// use informer_core::{KeyFn, ObjectKey};
    /// use informer_stores::{RealFifo, RealFifoOptions};
    ///
    /// let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
    /// let fifo = RealFifo::with_options(key_fn, RealFifoOptions::default().with_name("pods"));
    /// assert!(fifo.is_empty());
    /// ```
    pub fn with_options(key_fn: KeyFn<T>, options: RealFifoOptions) -> Self {
        Self::build(key_fn, None, options)
    }
}

impl<T, K> RealFifo<T, K>
where
    T: Send + Sync + 'static,
    K: Store<Object = T>,
{
    /// A queue whose consumer keeps the objects it popped in `known` (client-go's
    /// `KnownObjects`, usually the informer's indexer): `resync` re-delivers its objects and
    /// [`implied_deletions`](Self::implied_deletions) reports which of them a relist deleted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::{Cache, Delta, RealFifo, RealFifoOptions};
    ///
    /// let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
    /// let store = Arc::new(Cache::new(key_fn.clone()));
    /// store.add(Arc::new("a".to_string())).unwrap();
    /// let fifo = RealFifo::with_known_objects(key_fn, Arc::clone(&store), RealFifoOptions::default());
    /// fifo.resync().unwrap();
    /// let delta = fifo.try_pop(|p| p.into_deltas().unwrap().deltas.remove(0)).unwrap().unwrap();
    /// assert!(matches!(delta, Delta::Sync(_)));
    /// ```
    pub fn with_known_objects(key_fn: KeyFn<T>, known: K, options: RealFifoOptions) -> Self {
        Self::build(key_fn, Some(known), options)
    }

    fn build(key_fn: KeyFn<T>, known: Option<K>, options: RealFifoOptions) -> Self {
        let state = State {
            queue: VecDeque::new(),
            newest: FastMap::default(),
            populated: false,
            initial_queued: false,
            initial_in_flight: false,
            in_flight: None,
            replaces_queued: 0,
            closed: false,
            stats: QueueStats::default(),
            room: RoomWaiters::default(),
        };
        let depth = telemetry::gauge(QUEUE_DEPTH, &options.name);
        let adds = telemetry::counter(QUEUE_ADDS, &options.name);
        depth.set(0.0);
        let synced = SyncSignal::new();
        Self { key_fn, known, options, state: Mutex::new(state), wakers: Wakers::default(), synced, depth, adds }
    }

    /// The known-objects store, if any.
    ///
    /// ```
    /// use informer_core::{KeyFn, ObjectKey};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// assert!(fifo.known_objects().is_none());
    /// ```
    pub fn known_objects(&self) -> Option<&K> {
        self.known.as_ref()
    }

    /// The deletions a popped relist implies for the known-objects store: every key it holds
    /// that is absent from `replaced.items`, as [`Deletion::FinalStateUnknown`] with the
    /// store's object as the last known state, in key order. Empty without a known-objects
    /// store.
    ///
    /// Call it from the pop handler, before applying the relist to the store: entries are
    /// handled one at a time and in order, so the store then holds exactly the state before
    /// the relist (contract 4).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store, Version};
    /// use informer_stores::{Cache, Popped, RealFifo, RealFifoOptions};
    ///
    /// let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
    /// let store = Arc::new(Cache::new(key_fn.clone()));
    /// store.add(Arc::new("gone".to_string())).unwrap();
    /// let fifo = RealFifo::with_known_objects(key_fn, Arc::clone(&store), RealFifoOptions::default());
    /// fifo.replace(vec![Arc::new("new".to_string())], Version::from("3")).unwrap();
    /// let deleted = fifo
    ///     .try_pop(|p| match p {
    ///         Popped::ReplacedAll(r) => {
    ///             let deleted = fifo.implied_deletions(&r);
    ///             store.replace(r.items, r.version).unwrap();
    ///             deleted
    ///         }
    ///         Popped::Deltas(_) => vec![],
    ///     })
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(deleted.len(), 1);
    /// assert!(deleted[0].is_final_state_unknown());
    /// assert_eq!(deleted[0].object().map(|o| o.as_str()), Some("gone"));
    /// ```
    pub fn implied_deletions(&self, replaced: &ReplacedAll<T>) -> Vec<Deletion<T>> {
        let Some(known) = self.known.as_ref() else { return Vec::new() };
        let listed: HashSet<ObjectKey> = replaced.items.iter().filter_map(|o| self.key_fn.key(o).ok()).collect();
        let mut gone: Vec<ObjectKey> = known.list_keys().into_iter().filter(|k| !listed.contains(k)).collect();
        gone.sort_unstable();
        gone.into_iter()
            .map(|key| {
                let last_known = known.get_by_key(&key);
                Deletion::FinalStateUnknown { key, last_known }
            })
            .collect()
    }

    /// Pops the oldest entry, waiting for one (and for a running handler to return), and
    /// returns what `handler` returns. The handler runs without the queue lock.
    /// Cancel-safe: a pop cancelled while waiting takes nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::RealFifo;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// let key = fifo.pop(|p| p.into_deltas().unwrap().key).await.unwrap();
    /// assert_eq!(key, ObjectKey::from("a"));
    /// # }
    /// ```
    pub async fn pop<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<R, QueueClosed> {
        let popped = self.wakers.wait_for(&self.state, |state| self.next(state)).await?;
        Ok(self.handle(popped, handler))
    }

    /// Like [`pop`](Self::pop), blocking the current thread. Call it from plain threads
    /// only, never from an async task (it would block a runtime worker).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = Arc::new(RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s)))));
    /// let consumer = std::thread::spawn({
    ///     let fifo = Arc::clone(&fifo);
    ///     move || fifo.pop_blocking(|p| p.into_deltas().unwrap().key)
    /// });
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// assert_eq!(consumer.join().unwrap().unwrap(), ObjectKey::from("a"));
    /// ```
    pub fn pop_blocking<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<R, QueueClosed> {
        let popped = self.wakers.wait_for_blocking(&self.state, |state| self.next(state))?;
        Ok(self.handle(popped, handler))
    }

    /// Pops the oldest entry if one can be taken now: `Ok(None)` when the queue is empty or
    /// another handler runs (contract 6).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// assert_eq!(fifo.try_pop(|_| ()).unwrap(), None);
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// assert_eq!(fifo.try_pop(|_| ()).unwrap(), Some(()));
    /// ```
    pub fn try_pop<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<Option<R>, QueueClosed> {
        // The lock is released at the end of this statement, before the handler runs.
        let next = self.next(&mut self.state.lock()).transpose()?;
        Ok(next.map(|popped| self.handle(popped, handler)))
    }

    /// True once the first relist was popped and handled (contract 7).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store, Version};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.replace(vec![Arc::new("a".to_string())], Version::from("1")).unwrap();
    /// assert!(!fifo.has_synced());
    /// fifo.try_pop(|_| ()).unwrap();
    /// assert!(fifo.has_synced());
    /// ```
    pub fn has_synced(&self) -> bool {
        self.state.lock().is_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced); `false` if the queue closed first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store, Version};
    /// use informer_stores::RealFifo;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.replace(vec![], Version::from("1")).unwrap();
    /// fifo.pop(|_| ()).await.unwrap();
    /// assert!(fifo.wait_synced().await);
    /// # }
    /// ```
    pub async fn wait_synced(&self) -> bool {
        self.synced.wait().await
    }

    /// Closes the queue: wakes every waiting pop and every producer waiting for room; later
    /// changes fail with `Closed`. What is queued can still be popped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store, StoreError};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// fifo.close();
    /// assert_eq!(fifo.add(Arc::new("b".to_string())), Err(StoreError::Closed));
    /// assert!(fifo.try_pop(|_| ()).unwrap().is_some()); // "a" is still handed out
    /// assert!(fifo.try_pop(|_| ()).is_err());
    /// ```
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.room.wake_all();
        drop(state);
        self.synced.closed();
        self.wakers.wake_all();
    }

    /// True after [`close`](Self::close).
    ///
    /// ```
    /// use informer_core::{KeyFn, ObjectKey};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.close();
    /// assert!(fifo.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Entries queued now: one per change, one per relist.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store, Version};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// fifo.replace(vec![Arc::new("a".to_string()), Arc::new("b".to_string())], Version::from("2")).unwrap();
    /// assert_eq!(fifo.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// True when nothing is queued.
    ///
    /// ```
    /// use informer_core::{KeyFn, ObjectKey};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// assert!(fifo.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's counters.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, ObjectKey, Store};
    /// use informer_stores::RealFifo;
    ///
    /// let fifo = RealFifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))));
    /// fifo.add(Arc::new("a".to_string())).unwrap();
    /// fifo.update(Arc::new("a".to_string())).unwrap();
    /// fifo.try_pop(|_| ()).unwrap();
    /// let stats = fifo.stats();
    /// assert_eq!((stats.queued, stats.changes, stats.popped), (1, 2, 1));
    /// ```
    pub fn stats(&self) -> QueueStats {
        let state = self.state.lock();
        QueueStats { queued: state.queue.len(), ..state.stats }
    }

    fn closed_error(&self) -> QueueClosed {
        QueueClosed { queue: self.options.name.clone() }
    }

    /// What a pop gets now: an entry, the closed error once closed and empty, or `None` to
    /// wait (for an entry, or for the running handler).
    fn next(&self, state: &mut State<T>) -> Option<Result<Popped<T>, QueueClosed>> {
        match self.take(state) {
            Some(popped) => Some(Ok(popped)),
            None if state.closed && state.queue.is_empty() => Some(Err(self.closed_error())),
            None => None,
        }
    }

    /// Takes the oldest entry unless a handler runs (contract 6).
    fn take(&self, state: &mut State<T>) -> Option<Popped<T>> {
        if state.in_flight.is_some() {
            return None;
        }
        let entry = state.queue.pop_front()?;
        self.depth.set(state.queue.len() as f64);
        let queued = state.queue.len();
        state.room.wake_if_room(self.options.capacity, queued);
        state.stats.popped += 1;
        let (popped, in_flight) = match entry {
            Entry::Change { key, delta } => {
                state.forget(&key);
                let popped = Popped::Deltas(Deltas { key: key.clone(), deltas: vec![delta], initial: false });
                (popped, InFlight::Change(key))
            }
            Entry::Replaced { replaced, keys } => {
                for key in &keys {
                    state.forget(key);
                }
                state.replaces_queued -= 1;
                if replaced.initial {
                    state.initial_queued = false;
                    state.initial_in_flight = true;
                }
                (Popped::ReplacedAll(replaced), InFlight::Replace)
            }
        };
        state.in_flight = Some(in_flight);
        Some(popped)
    }

    fn handle<R>(&self, popped: Popped<T>, handler: impl FnOnce(Popped<T>) -> R) -> R {
        // Marks the entry handled even if the handler panics.
        struct Finish<'a, T, K: Store<Object = T>>(&'a RealFifo<T, K>, bool)
        where
            T: Send + Sync + 'static;
        impl<T: Send + Sync + 'static, K: Store<Object = T>> Drop for Finish<'_, T, K> {
            fn drop(&mut self) {
                let mut state = self.0.state.lock();
                state.in_flight = None;
                if self.1 {
                    state.initial_in_flight = false;
                    self.0.publish_synced(&state);
                }
                if !state.queue.is_empty() {
                    // The next entry may be taken now.
                    self.0.wakers.wake_one();
                } else if state.closed {
                    // Pops that waited for this handler find the queue closed and empty.
                    self.0.wakers.wake_all();
                }
            }
        }
        // Only the first relist is initial (contract 7).
        let _finish = Finish(self, popped.is_initial());
        handler(popped)
    }

    pub(super) fn publish_synced(&self, state: &State<T>) {
        if state.is_synced() {
            self.synced.synced();
        }
    }

    /// A first change that is not a relist: the queue counts as synced at once (contract 7).
    pub(super) fn populate(&self, state: &mut State<T>) {
        if !state.populated {
            state.populated = true;
            self.publish_synced(state);
        }
    }

    pub(super) fn key_of(&self, object: &T) -> Result<ObjectKey, StoreError> {
        Ok(self.key_fn.key(object)?)
    }

    /// Checks that `count` changes, the first of `first_key`, may be queued now (contract 9).
    pub(super) fn admit(&self, state: &mut State<T>, count: usize, first_key: &ObjectKey) -> Result<(), StoreError> {
        if state.closed {
            return Err(StoreError::Closed);
        }
        if let Capacity::Reject(limit) = self.options.capacity
            && state.queue.len() >= limit
        {
            state.stats.rejected += count as u64;
            return Err(StoreError::Full { capacity: limit, key: first_key.clone() });
        }
        Ok(())
    }

    /// Queues one change at the back (contract 1); call [`admit`](Self::admit) first.
    pub(super) fn push_change(&self, state: &mut State<T>, key: ObjectKey, delta: Delta<T>) {
        // Every delta this queue makes carries an object (it never makes a deletion with an
        // unknown final state), so `take` forgets exactly what is remembered here.
        if let Some(object) = delta.object() {
            state.remember(key.clone(), object);
        }
        state.queue.push_back(Entry::Change { key, delta });
        self.pushed(state);
    }

    /// Queues a relist at the back (contract 4); never refused for capacity.
    pub(super) fn push_replace(
        &self,
        state: &mut State<T>,
        items: Vec<Arc<T>>,
        keys: Vec<ObjectKey>,
        version: Version,
    ) {
        let initial = !state.populated;
        state.populated = true;
        for (key, object) in keys.iter().zip(&items) {
            state.remember(key.clone(), object);
        }
        state.initial_queued |= initial;
        state.replaces_queued += 1;
        state.queue.push_back(Entry::Replaced { replaced: ReplacedAll { items, version, initial }, keys });
        self.pushed(state);
    }

    /// Counts the entry just queued and wakes a waiting pop.
    fn pushed(&self, state: &mut State<T>) {
        let queued = state.queue.len();
        if self.options.capacity.limit().is_some_and(|limit| queued > limit) {
            state.stats.over_capacity += 1;
        }
        state.stats.changes += 1;
        self.adds.increment(1);
        self.depth.set(queued as f64);
        self.wakers.wake_one();
    }
}

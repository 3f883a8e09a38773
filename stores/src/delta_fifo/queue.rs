//! The [`DeltaFifo`] type and its [`Store`] implementation.

use std::collections::VecDeque;

use hashbrown::hash_map;
use std::sync::Arc;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use metrics::{Counter, Gauge};
use parking_lot::{Mutex, MutexGuard};

use super::wake::{RoomWaiters, SyncSignal, Wakers};
use super::{Capacity, Delta, DeltaFifoOptions, Deltas, Popped, QueueClosed, QueueStats, ReplacedAll};
use crate::cache::FastMap;
use crate::telemetry::{self, QUEUE_ADDS, QUEUE_DEPTH};

/// A queue of per-key change lists (client-go's `DeltaFIFO`); see the [module docs](super).
///
/// # Contract
///
/// 1. Every change is queued as a [`Delta`] under its object's key: `add` → `Added`,
///    `update` → `Updated`, `delete` → `Deleted(Deletion::Known)`.
/// 2. Keys come out in the order they were *first* queued; a key queued again while it waits
///    keeps its place, and all its deltas come out together, oldest first.
/// 3. Two consecutive deletions of one key collapse into one (the one with the known final
///    state is kept).
/// 4. `delete` of a key that is neither queued, nor being handled with a newest delta that
///    is not a deletion, nor (when not being handled) in the known-objects store is ignored:
///    it was already deleted. While an atomic replace is queued or being handled, every
///    `delete` is queued (the replace's items are not indexed by key).
/// 5. `replace(items, version)` queues a `Replaced` delta (or `Sync`, see
///    [`DeltaFifoOptions::emit_replaced`]) for every item, then a
///    `Deleted(Deletion::FinalStateUnknown)` for every key that is absent from `items` but
///    held by the known-objects store (and not being handled with a deletion), or queued or
///    being handled with a newest delta that is not a deletion, in key order. The last known state comes from the known-objects store,
///    else from the queue. (client-go misses the queued and in-flight keys when it has a known-objects
///    store; they would stay in the consumer's cache forever.)
/// 6. With [`DeltaFifoOptions::atomic_replace`], `replace` instead drops everything queued
///    and queues one [`ReplacedAll`] entry with the whole list.
/// 7. `resync` queues a `Sync` delta, in key order, for every key of the known-objects store
///    that is neither queued nor being handled; without a known-objects store, or while an
///    atomic replace is queued or being handled (the store is about to change wholesale, and
///    the replace re-delivers every object anyway), it does nothing.
/// 8. `pop` waits for the oldest entry, removes it, and calls the handler with it *after*
///    releasing the queue lock; the handler's return value is returned to the caller, and
///    nothing is requeued whatever it returns. With several concurrent poppers, a key whose
///    handler still runs is skipped (its newer deltas wait), so one key's deltas are always
///    handled in order; a `ReplacedAll` waits until no handler runs and blocks the entries
///    behind it until its own handler returns. A pop on a closed queue still hands out
///    what is queued; once the queue is closed and empty it returns [`QueueClosed`].
/// 9. `has_synced` is true once the first `replace` was called and every entry it queued
///    has been popped and its handler has returned. If the first change is an `add`,
///    `update` or `delete` instead, the queue counts as synced at once (as in client-go).
///    An atomic replace that drops a still-queued initial list becomes the initial list.
/// 10. `close` wakes every waiting pop; later changes fail with [`StoreError::Closed`].
/// 11. [`Capacity`] says what happens when many keys are queued; nothing ever blocks. With a
///     bounded capacity, `poll_ready` is pending while the limit or more entries are queued
///     (see [back-pressure](Capacity#back-pressure)).
/// 12. The known-objects store is read with the queue lock held (the lock order is always
///     queue, then store), so it must not call into the queue itself.
/// 13. As a [`Store`], `list`/`get` show the newest object queued per key (for a
///     deletion, its final or last known state), `list_keys` the queued keys.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::{DeltaFifo, DeltaFifoOptions, Deletion, Delta, Popped};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let key_fn = KeyFn::new(|s: &String| Ok(ObjectKey::new(s)));
/// let fifo = DeltaFifo::new(key_fn);
/// fifo.add(Arc::new("a".to_string())).unwrap();
/// // A relist without "a": "a" is reported deleted, final state unknown.
/// fifo.replace(vec![Arc::new("b".to_string())], Version::from("7")).unwrap();
/// let a = fifo.pop(|p| p.into_deltas().unwrap()).await.unwrap();
/// assert!(matches!(a.newest(), Some(Delta::Deleted(Deletion::FinalStateUnknown { .. }))));
/// let b = fifo.pop(|p| p.into_deltas().unwrap()).await.unwrap();
/// assert!(matches!(b.newest(), Some(Delta::Replaced(_))));
/// fifo.close();
/// assert!(fifo.pop(|_| ()).await.is_err());
/// # }
/// ```
pub struct DeltaFifo<T, K = Arc<dyn Store<Object = T>>> {
    pub(super) key_fn: KeyFn<T>,
    pub(super) known: Option<K>,
    pub(super) options: DeltaFifoOptions,
    pub(super) state: Mutex<State<T>>,
    pub(super) wakers: Wakers,
    synced: SyncSignal,
    /// `informer_queue_depth` and `informer_queue_adds_total`, labelled with the queue's name.
    depth: Gauge,
    adds: Counter,
}

pub(super) enum Entry<T> {
    Key(ObjectKey),
    Replaced(ReplacedAll<T>),
}

pub(super) struct State<T> {
    pub(super) items: FastMap<ObjectKey, Vec<Delta<T>>>,
    pub(super) queue: VecDeque<Entry<T>>,
    pub(super) populated: bool,
    /// Entries at the head of the queue that the first replace queued.
    pub(super) initial_queued: usize,
    /// Initial entries popped whose handler has not returned yet.
    pub(super) initial_in_flight: usize,
    /// Keys whose handler runs now, with their newest live object (None after a deletion).
    pub(super) in_flight: FastMap<ObjectKey, Option<Arc<T>>>,
    /// An atomic replace's handler runs now.
    pub(super) replace_in_flight: bool,
    /// An atomic replace is queued (there is at most one: a replace drops the queue).
    pub(super) replace_queued: bool,
    pub(super) closed: bool,
    pub(super) stats: QueueStats,
    /// Producers waiting in `poll_ready` for the queue to drop below its capacity.
    pub(super) room: RoomWaiters,
}

/// What a running handler holds.
struct InFlight {
    key: Option<ObjectKey>,
    initial: bool,
}

impl<T> State<T> {
    fn is_synced(&self) -> bool {
        self.populated && self.initial_queued == 0 && self.initial_in_flight == 0
    }
}

impl<T, K> std::fmt::Debug for DeltaFifo<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaFifo")
            .field("options", &self.options)
            .field("queued", &self.state.lock().queue.len())
            .finish()
    }
}

impl<T: Send + Sync + 'static> DeltaFifo<T> {
    /// An unbounded queue without a known-objects store.
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self::build(key_fn, None, DeltaFifoOptions::default())
    }

    /// A queue without a known-objects store, with options.
    pub fn with_options(key_fn: KeyFn<T>, options: DeltaFifoOptions) -> Self {
        Self::build(key_fn, None, options)
    }
}

impl<T, K> DeltaFifo<T, K>
where
    T: Send + Sync + 'static,
    K: Store<Object = T>,
{
    /// A queue whose consumer keeps the objects it popped in `known` (client-go's
    /// `KnownObjects`, usually the informer's indexer): `replace` reports keys that vanished
    /// from it, `delete` accepts its keys, and `resync` re-delivers its objects.
    pub fn with_known_objects(key_fn: KeyFn<T>, known: K, options: DeltaFifoOptions) -> Self {
        Self::build(key_fn, Some(known), options)
    }

    fn build(key_fn: KeyFn<T>, known: Option<K>, options: DeltaFifoOptions) -> Self {
        let synced = SyncSignal::new();
        let state = State {
            items: FastMap::default(),
            queue: VecDeque::new(),
            populated: false,
            initial_queued: 0,
            initial_in_flight: 0,
            in_flight: FastMap::default(),
            replace_in_flight: false,
            replace_queued: false,
            closed: false,
            stats: QueueStats::default(),
            room: RoomWaiters::default(),
        };
        let depth = telemetry::gauge(QUEUE_DEPTH, &options.name);
        let adds = telemetry::counter(QUEUE_ADDS, &options.name);
        depth.set(0.0);
        Self { key_fn, known, options, state: Mutex::new(state), wakers: Wakers::default(), synced, depth, adds }
    }

    /// The known-objects store, if any.
    pub fn known_objects(&self) -> Option<&K> {
        self.known.as_ref()
    }

    /// Pops the oldest entry, waiting for one, and returns what `handler` returns. The handler
    /// runs without the queue lock. Cancel-safe: a pop cancelled while waiting takes nothing.
    pub async fn pop<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<R, QueueClosed> {
        let (popped, in_flight) = self.wakers.wait_for(&self.state, |state| self.next(state)).await?;
        Ok(self.handle(popped, in_flight, handler))
    }

    /// Like [`pop`](Self::pop), blocking the current thread. Call it from plain threads
    /// only, never from an async task (it would block a runtime worker).
    pub fn pop_blocking<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<R, QueueClosed> {
        let (popped, in_flight) = self.wakers.wait_for_blocking(&self.state, |state| self.next(state))?;
        Ok(self.handle(popped, in_flight, handler))
    }

    /// Pops the oldest entry if there is one, without waiting: `Ok(None)` when empty.
    pub fn try_pop<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<Option<R>, QueueClosed> {
        // The lock is released at the end of this statement, before the handler runs.
        let next = self.next(&mut self.state.lock()).transpose()?;
        Ok(next.map(|(popped, in_flight)| self.handle(popped, in_flight, handler)))
    }

    /// True once the first replace's entries were all popped and handled (contract 9).
    pub fn has_synced(&self) -> bool {
        self.state.lock().is_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced); `false` if the queue closed first.
    pub async fn wait_synced(&self) -> bool {
        self.synced.wait().await
    }

    /// Closes the queue: wakes every waiting pop; later changes fail with `Closed`.
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.room.wake_all();
        drop(state);
        self.synced.closed();
        self.wakers.wake_all();
    }

    /// True after [`close`](Self::close).
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Entries queued now.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        let state = self.state.lock();
        QueueStats { queued: state.queue.len(), ..state.stats }
    }

    fn closed_error(&self) -> QueueClosed {
        QueueClosed { queue: self.options.name.clone() }
    }

    /// What a pop gets now: an entry, the closed error, or `None` to wait.
    fn next(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<Result<(Popped<T>, InFlight), QueueClosed>> {
        match self.take(state) {
            Some(taken) => Some(Ok(taken)),
            None if state.closed => Some(Err(self.closed_error())),
            None => None,
        }
    }

    /// Takes the oldest entry whose key is not being handled (contract 8); an atomic
    /// replace waits until no handler runs, and nothing passes it.
    fn take(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<(Popped<T>, InFlight)> {
        if state.replace_in_flight {
            return None;
        }
        let index = if state.in_flight.is_empty() {
            if state.queue.is_empty() {
                return None;
            }
            0
        } else {
            state.queue.iter().position(|entry| match entry {
                Entry::Key(key) => !state.in_flight.contains_key(key),
                Entry::Replaced(_) => true,
            })?
        };
        if matches!(state.queue[index], Entry::Replaced(_)) && !state.in_flight.is_empty() {
            return None;
        }
        let entry = state.queue.remove(index)?;
        self.depth.set(state.queue.len() as f64);
        self.wake_producers(state);
        let initial = index < state.initial_queued;
        if initial {
            state.initial_queued -= 1;
            state.initial_in_flight += 1;
        }
        state.stats.popped += 1;
        if !state.queue.is_empty() {
            // Chain the wake-up: another waiter may take the next entry.
            self.wakers.wake_one();
        }
        Some(match entry {
            Entry::Key(key) => {
                let deltas = state.items.remove(&key).unwrap_or_default();
                let live = deltas.last().filter(|d| !d.is_deletion()).and_then(|d| d.object().cloned());
                state.in_flight.insert(key.clone(), live);
                (Popped::Deltas(Deltas { key: key.clone(), deltas, initial }), InFlight { key: Some(key), initial })
            }
            Entry::Replaced(replaced) => {
                state.replace_in_flight = true;
                state.replace_queued = false;
                (Popped::ReplacedAll(replaced), InFlight { key: None, initial })
            }
        })
    }

    fn handle<R>(&self, popped: Popped<T>, in_flight: InFlight, handler: impl FnOnce(Popped<T>) -> R) -> R {
        // Marks the entry handled even if the handler panics.
        struct Finish<'a, T, K: Store<Object = T>>(&'a DeltaFifo<T, K>, InFlight)
        where
            T: Send + Sync + 'static;
        impl<T: Send + Sync + 'static, K: Store<Object = T>> Drop for Finish<'_, T, K> {
            fn drop(&mut self) {
                let mut state = self.0.state.lock();
                match self.1.key.take() {
                    Some(key) => {
                        state.in_flight.remove(&key);
                    }
                    None => state.replace_in_flight = false,
                }
                if self.1.initial {
                    state.initial_in_flight -= 1;
                    self.0.publish_synced(&state);
                }
                if !state.queue.is_empty() {
                    self.0.wakers.wake_one();
                }
            }
        }
        let _finish = Finish(self, in_flight);
        handler(popped)
    }

    /// Wakes the producers waiting in `poll_ready` once the queue is below its capacity.
    pub(super) fn wake_producers(&self, state: &mut State<T>) {
        let queued = state.queue.len();
        state.room.wake_if_room(self.options.capacity, queued);
    }

    pub(super) fn publish_synced(&self, state: &State<T>) {
        if state.is_synced() {
            self.synced.synced();
        }
    }

    pub(super) fn key_of(&self, object: &T) -> Result<ObjectKey, StoreError> {
        Ok(self.key_fn.key(object)?)
    }

    /// Appends `delta` to `key`'s list (contracts 1–3, 11). `bypass_limit` for replace.
    pub(super) fn queue_delta(
        &self,
        state: &mut State<T>,
        key: ObjectKey,
        delta: Delta<T>,
        bypass_limit: bool,
    ) -> Result<(), StoreError> {
        if state.closed {
            return Err(StoreError::Closed);
        }
        let queued = state.items.len();
        let limit = self.options.capacity.limit();
        match state.items.entry(key) {
            hash_map::Entry::Occupied(mut entry) => {
                let deltas = entry.get_mut();
                match (deltas.last_mut(), delta) {
                    (Some(Delta::Deleted(last)), Delta::Deleted(next)) => {
                        // Contract 3: keep one deletion, preferring the one with a known final state.
                        if !next.is_final_state_unknown() {
                            *last = next;
                        }
                        return Ok(());
                    }
                    (_, delta) => deltas.push(delta),
                }
                if limit.is_some_and(|limit| queued > limit) {
                    state.stats.over_capacity += 1;
                }
            }
            hash_map::Entry::Vacant(entry) => {
                if let Some(limit) = limit.filter(|limit| queued >= *limit) {
                    if !bypass_limit && matches!(self.options.capacity, Capacity::Reject(_)) {
                        state.stats.rejected += 1;
                        return Err(StoreError::Full { capacity: limit, key: entry.into_key() });
                    }
                    state.stats.over_capacity += 1;
                }
                let key = entry.key().clone();
                let mut deltas = Vec::with_capacity(2);
                deltas.push(delta);
                entry.insert(deltas);
                state.queue.push_back(Entry::Key(key));
                self.depth.set(state.queue.len() as f64);
                self.wakers.wake_one();
            }
        }
        state.stats.changes += 1;
        self.adds.increment(1);
        Ok(())
    }

    pub(super) fn change(&self, object: Arc<T>, make: fn(Arc<T>) -> Delta<T>) -> Result<(), StoreError> {
        let key = self.key_of(&object)?;
        let mut state = self.state.lock();
        let first = !std::mem::replace(&mut state.populated, true);
        let queued = self.queue_delta(&mut state, key, make(object), false);
        if first {
            // A first change that is not a replace syncs the queue at once (contract 9).
            self.publish_synced(&state);
        }
        queued
    }

    pub(super) fn newest_object(&self, state: &State<T>, key: &str) -> Option<Arc<T>> {
        state.items.get(key).and_then(|d| d.last()).and_then(|d| d.object().cloned())
    }

    pub(super) fn replace_atomic(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        // Dropping a still-queued initial list makes this list the initial one.
        let initial = !state.populated || state.initial_queued > 0;
        state.populated = true;
        state.items.clear();
        state.queue.clear();
        state.initial_queued = usize::from(initial);
        state.queue.push_back(Entry::Replaced(ReplacedAll { items, version, initial }));
        // The replace dropped everything queued: the queue may have room again.
        self.wake_producers(&mut state);
        state.replace_queued = true;
        state.stats.changes += 1;
        self.adds.increment(1);
        self.depth.set(state.queue.len() as f64);
        self.publish_synced(&state);
        drop(state);
        self.wakers.wake_one();
        Ok(())
    }
}

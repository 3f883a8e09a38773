//! # Fifo: a queue of the latest object per key
//!
//! A [`Fifo`] is client-go's `FIFO`: a producer (usually a reflector) sets objects by key,
//! and a consumer pops them in the order their keys were first queued. Unlike a
//! [`DeltaFifo`](crate::DeltaFifo) it keeps only the *latest* object of each key and forgets
//! deletions: use it when the consumer only cares about the current state of each object,
//! e.g. a scheduler that pops pending pods.
//!
//! The pop handler runs without the queue lock, and nothing is requeued whatever it returns
//! (see the [`DeltaFifo`](crate::DeltaFifo) docs for why).
//!
//! ```
//! use std::sync::Arc;
//! use informer_core::{KeyFn, ObjectKey, Store};
//! use informer_stores::Fifo;
//!
//! let fifo = Fifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(&s[..1]))));
//! fifo.add(Arc::new("a1".to_string())).unwrap();
//! fifo.add(Arc::new("b1".to_string())).unwrap();
//! fifo.update(Arc::new("a2".to_string())).unwrap(); // replaces a1, keeps its place
//! assert_eq!(fifo.try_pop(|o| o.to_string()).unwrap().unwrap(), "a2");
//! assert_eq!(fifo.try_pop(|o| o.to_string()).unwrap().unwrap(), "b1");
//! ```

use std::collections::VecDeque;
use std::sync::Arc;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::{Mutex, MutexGuard};

use crate::cache::FastMap;
use crate::delta_fifo::wake::{SyncSignal, Wakers};
use crate::{Capacity, QueueClosed, QueueStats};

/// An object taken by a pop: its key, the object, and whether it came from the initial list.
type Taken<T> = (ObjectKey, Arc<T>, bool);

/// A queue of the latest object per key (client-go's `FIFO`); see the [module docs](self).
///
/// # Contract
///
/// 1. `add` and `update` set the object of its key; a key not queued is queued at the back,
///    a queued key keeps its place and only its object changes.
/// 2. `add_if_not_present` queues the object only if its key is not queued.
/// 3. `delete` removes the key and its object from the queue (the consumer never sees it).
/// 4. `replace(items, _)` makes the queue hold exactly `items`, in their order.
/// 5. `resync` does nothing: every held object is queued already.
/// 6. `pop` waits for the oldest key, removes it and calls the handler with its object
///    *after* releasing the queue lock; the handler's result goes to the caller and nothing
///    is requeued. A key whose handler still runs is not handed to a second popper. A closed
///    queue still hands out what it holds, then returns [`QueueClosed`].
/// 7. `has_synced` is true once the first `replace` was called and each of its objects was
///    popped (and handled) or deleted; a first `add`/`update`/`delete` syncs at once.
/// 8. `close` wakes every waiting pop; later changes fail with [`StoreError::Closed`].
/// 9. [`Capacity::Reject`] refuses a new key while `n` keys are queued (queued keys can still
///    be updated, `replace` is always accepted); [`Capacity::Soft`] only counts.
///
/// # Example
///
/// A consumer thread pops while the producer keeps changing objects:
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::Fifo;
///
/// let fifo = Arc::new(Fifo::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s)))));
/// let consumer = std::thread::spawn({
///     let fifo = Arc::clone(&fifo);
///     move || {
///         let mut seen = Vec::new();
///         while let Ok(object) = fifo.pop_blocking(|o| o.to_string()) {
///             seen.push(object);
///         }
///         seen // the queue was closed and drained
///     }
/// });
/// fifo.replace(vec![Arc::new("pod-a".to_string()), Arc::new("pod-b".to_string())], Version::from("1")).unwrap();
/// fifo.close();
/// assert_eq!(consumer.join().unwrap(), vec!["pod-a", "pod-b"]);
/// assert!(fifo.has_synced());
/// ```
pub struct Fifo<T> {
    key_fn: KeyFn<T>,
    capacity: Capacity,
    state: Mutex<State<T>>,
    wakers: Wakers,
    synced: SyncSignal,
}

struct Item<T> {
    object: Arc<T>,
    /// Matches the queue entry that represents this item; other entries are stale.
    seq: u64,
    initial: bool,
}

struct State<T> {
    items: FastMap<ObjectKey, Item<T>>,
    queue: VecDeque<(ObjectKey, u64)>,
    next_seq: u64,
    in_flight: hashbrown::HashSet<ObjectKey>,
    populated: bool,
    initial_queued: usize,
    initial_in_flight: usize,
    closed: bool,
    stats: QueueStats,
}

impl<T> State<T> {
    fn is_synced(&self) -> bool {
        self.populated && self.initial_queued == 0 && self.initial_in_flight == 0
    }

    fn is_live(&self, (key, seq): &(ObjectKey, u64)) -> bool {
        self.items.get(key).is_some_and(|item| item.seq == *seq)
    }
}

impl<T> std::fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fifo").field("capacity", &self.capacity).field("len", &self.state.lock().items.len()).finish()
    }
}

impl<T: Send + Sync + 'static> Fifo<T> {
    /// An unbounded queue.
    pub fn new(key_fn: KeyFn<T>) -> Self {
        Self::with_capacity(key_fn, Capacity::Unbounded)
    }

    /// A queue with a capacity policy (contract 9).
    pub fn with_capacity(key_fn: KeyFn<T>, capacity: Capacity) -> Self {
        let state = State {
            items: FastMap::default(),
            queue: VecDeque::new(),
            next_seq: 0,
            in_flight: hashbrown::HashSet::default(),
            populated: false,
            initial_queued: 0,
            initial_in_flight: 0,
            closed: false,
            stats: QueueStats::default(),
        };
        Self { key_fn, capacity, state: Mutex::new(state), wakers: Wakers::default(), synced: SyncSignal::new() }
    }

    /// Queues `object` only if its key is not queued (contract 2).
    pub fn add_if_not_present(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut state = self.state.lock();
        state.populated = true;
        if state.items.contains_key(&key) {
            return Ok(());
        }
        self.set(&mut state, key, object, false, false)
    }

    /// Pops the oldest object, waiting for one; returns what `handler` returns (contract 6).
    /// Cancel-safe: a pop cancelled while waiting takes nothing.
    pub async fn pop<R>(&self, handler: impl FnOnce(Arc<T>) -> R) -> Result<R, QueueClosed> {
        let taken = self.wakers.wait_for(&self.state, |state| self.next(state)).await?;
        Ok(self.handle(taken, handler))
    }

    /// Like [`pop`](Self::pop), blocking the current thread (never call it from async code).
    pub fn pop_blocking<R>(&self, handler: impl FnOnce(Arc<T>) -> R) -> Result<R, QueueClosed> {
        let taken = self.wakers.wait_for_blocking(&self.state, |state| self.next(state))?;
        Ok(self.handle(taken, handler))
    }

    /// Pops the oldest object if there is one, without waiting.
    pub fn try_pop<R>(&self, handler: impl FnOnce(Arc<T>) -> R) -> Result<Option<R>, QueueClosed> {
        // The lock is released at the end of this statement, before the handler runs.
        let next = self.next(&mut self.state.lock()).transpose()?;
        Ok(next.map(|taken| self.handle(taken, handler)))
    }

    /// What a pop gets now: an object, the closed error, or `None` to wait.
    fn next(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<Result<Taken<T>, QueueClosed>> {
        match self.take(state) {
            Some(taken) => Some(Ok(taken)),
            None if state.closed => Some(Err(self.closed_error())),
            None => None,
        }
    }

    /// True once the first replace was fully handed out (contract 7).
    pub fn has_synced(&self) -> bool {
        self.state.lock().is_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced); `false` if the queue closed first.
    pub async fn wait_synced(&self) -> bool {
        self.synced.wait().await
    }

    /// Closes the queue and wakes every waiting pop (contract 8).
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.synced.closed();
        self.wakers.wake_all();
    }

    /// True after [`close`](Self::close).
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Keys queued now.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        let state = self.state.lock();
        QueueStats { queued: state.items.len(), ..state.stats }
    }

    fn closed_error(&self) -> QueueClosed {
        QueueClosed { queue: "Fifo".to_string() }
    }

    fn set(
        &self,
        state: &mut State<T>,
        key: ObjectKey,
        object: Arc<T>,
        initial: bool,
        bypass_limit: bool,
    ) -> Result<(), StoreError> {
        if state.closed {
            return Err(StoreError::Closed);
        }
        let queued = state.items.len();
        if let Some(item) = state.items.get_mut(&key) {
            item.object = object;
            state.stats.changes += 1;
            return Ok(());
        }
        match self.capacity {
            Capacity::Reject(limit) if !bypass_limit && queued >= limit => {
                state.stats.rejected += 1;
                return Err(StoreError::Full { capacity: limit, key });
            }
            Capacity::Soft(limit) | Capacity::Reject(limit) if queued >= limit => state.stats.over_capacity += 1,
            _ => {}
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.items.insert(key.clone(), Item { object, seq, initial });
        state.queue.push_back((key, seq));
        state.stats.changes += 1;
        self.wakers.wake_one();
        Ok(())
    }

    fn take(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<Taken<T>> {
        while state.queue.front().is_some_and(|entry| !state.is_live(entry)) {
            state.queue.pop_front();
        }
        let index = if state.in_flight.is_empty() {
            // Stale entries were dropped above: the head is live.
            if state.queue.is_empty() {
                return None;
            }
            0
        } else {
            state.queue.iter().position(|entry| state.is_live(entry) && !state.in_flight.contains(&entry.0))?
        };
        let (key, _) = state.queue.remove(index)?;
        let item = state.items.remove(&key)?;
        if item.initial {
            state.initial_queued -= 1;
            state.initial_in_flight += 1;
        }
        state.in_flight.insert(key.clone());
        state.stats.popped += 1;
        if !state.items.is_empty() {
            self.wakers.wake_one();
        }
        Some((key, item.object, item.initial))
    }

    fn handle<R>(&self, (key, object, initial): Taken<T>, handler: impl FnOnce(Arc<T>) -> R) -> R {
        struct Finish<'a, T: Send + Sync + 'static>(&'a Fifo<T>, Option<ObjectKey>, bool);
        impl<T: Send + Sync + 'static> Drop for Finish<'_, T> {
            fn drop(&mut self) {
                let mut state = self.0.state.lock();
                if let Some(key) = self.1.take() {
                    state.in_flight.remove(&key);
                }
                if self.2 {
                    state.initial_in_flight -= 1;
                }
                self.0.publish_synced(&state);
                if !state.items.is_empty() {
                    self.0.wakers.wake_one();
                }
            }
        }
        let _finish = Finish(self, Some(key), initial);
        handler(object)
    }

    fn publish_synced(&self, state: &State<T>) {
        if state.is_synced() {
            self.synced.synced();
        }
    }
}

impl<T: Send + Sync + 'static> Store for Fifo<T> {
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut state = self.state.lock();
        state.populated = true;
        self.set(&mut state, key, object, false, false)?;
        self.publish_synced(&state);
        Ok(())
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.add(object)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_fn.key(&object)?;
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        state.populated = true;
        // The queue entry goes stale and is skipped by `take`.
        if state.items.remove(&key).is_some_and(|item| item.initial) {
            state.initial_queued -= 1;
        }
        self.publish_synced(&state);
        Ok(())
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.state.lock().items.values().map(|item| Arc::clone(&item.object)).collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.state.lock().items.keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_fn.key(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.state.lock().items.get(key).map(|item| Arc::clone(&item.object))
    }

    fn replace(&self, items: Vec<Arc<T>>, _version: Version) -> Result<(), StoreError> {
        let mut keyed = Vec::with_capacity(items.len());
        let mut first_error = None;
        for object in items {
            match self.key_fn.key(&object) {
                Ok(key) => keyed.push((key, object)),
                Err(err) => {
                    first_error.get_or_insert(StoreError::from(err));
                }
            }
        }
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        // Still waiting for the initial list: the new list is the initial list.
        let initial = !state.populated || state.initial_queued > 0;
        state.populated = true;
        state.items.clear();
        state.queue.clear();
        state.initial_queued = 0;
        for (key, object) in keyed {
            if let Err(err) = self.set(&mut state, key, object, initial, true) {
                first_error.get_or_insert(err);
            }
        }
        if initial {
            state.initial_queued = state.items.len();
        }
        self.publish_synced(&state);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

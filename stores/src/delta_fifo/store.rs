//! [`Store`] for [`DeltaFifo`]: how a reflector's calls become deltas.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};

use informer_core::{ObjectKey, Store, StoreError, Version};

use super::wake::poll_room;
use super::{Deletion, Delta, DeltaFifo};

impl<T, K> Store for DeltaFifo<T, K>
where
    T: Send + Sync + 'static,
    K: Store<Object = T>,
{
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.change(object, Delta::Added)
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        self.change(object, Delta::Updated)
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        let key = self.key_of(&object)?;
        let mut state = self.state.lock();
        if !std::mem::replace(&mut state.populated, true) {
            // A first change that is not a replace syncs the queue at once (contract 9).
            self.publish_synced(&state);
        }
        // A key being handled with a deletion counts as gone, whatever the store still says.
        // A pending atomic replace may hold the key: its items are not indexed, so keep it.
        let replace_pending = state.replace_queued || state.replace_in_flight;
        let present = replace_pending
            || match (state.items.contains_key(&key), state.in_flight.get(&key)) {
                (true, _) => true,
                (false, Some(live)) => live.is_some(),
                (false, None) => self.known.as_ref().is_some_and(|k| k.get_by_key(&key).is_some()),
            };
        if !present {
            return Ok(()); // contract 4
        }
        self.queue_delta(&mut state, key, Delta::Deleted(Deletion::Known(object)), false)
    }

    fn list(&self) -> Vec<Arc<T>> {
        let state = self.state.lock();
        state.items.values().filter_map(|d| d.last().and_then(|d| d.object().cloned())).collect()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.state.lock().items.keys().cloned().collect()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_of(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.newest_object(&self.state.lock(), key)
    }

    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        if self.options.atomic_replace {
            return self.replace_atomic(items, version);
        }
        // The known-objects store is read under the queue lock: a handler that finished in
        // between would otherwise be neither in flight nor in the snapshot. (Lock order is
        // always queue, then store; handlers run without the queue lock.)
        let mut state = self.state.lock();
        let known_keys = self.known.as_ref().map(|k| k.list_keys()).unwrap_or_default();
        if state.closed {
            return Err(StoreError::Closed);
        }
        let initial = !state.populated;
        state.populated = true;
        let mut first_error = None;
        let mut new_keys = HashSet::with_capacity(items.len());
        for object in items {
            match self.key_of(&object) {
                Ok(key) => {
                    new_keys.insert(key.clone());
                    let delta = if self.options.emit_replaced { Delta::Replaced(object) } else { Delta::Sync(object) };
                    if let Err(err) = self.queue_delta(&mut state, key, delta, true) {
                        first_error.get_or_insert(err);
                    }
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        let mut vanished: Vec<ObjectKey> = known_keys
            .into_iter()
            .filter(|k| !new_keys.contains(k))
            // Being handled with a deletion: already on its way out.
            .filter(|k| !matches!(state.in_flight.get(k), Some(None)))
            .collect();
        let seen: HashSet<ObjectKey> = vanished.iter().cloned().collect();
        vanished.extend(
            state
                .items
                .iter()
                .filter(|(k, _)| !new_keys.contains(*k) && !seen.contains(*k))
                .filter(|(_, d)| d.last().is_some_and(|d| !d.is_deletion()))
                .map(|(k, _)| k.clone()),
        );
        let in_flight: Vec<ObjectKey> = state
            .in_flight
            .iter()
            .filter(|(k, live)| live.is_some() && !new_keys.contains(*k) && !seen.contains(*k))
            .filter(|(k, _)| !state.items.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        vanished.extend(in_flight);
        // Key order, so the queue order does not depend on hash-map iteration.
        vanished.sort_unstable();
        for key in vanished {
            let last_known = self
                .known
                .as_ref()
                .and_then(|k| k.get_by_key(&key))
                .or_else(|| self.newest_object(&state, &key))
                .or_else(|| state.in_flight.get(&key).cloned().flatten());
            let deletion = Deletion::FinalStateUnknown { key: key.clone(), last_known };
            if let Err(err) = self.queue_delta(&mut state, key, Delta::Deleted(deletion), true) {
                first_error.get_or_insert(err);
            }
        }
        if initial {
            state.initial_queued = state.queue.len();
        }
        self.publish_synced(&state);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        let Some(known) = self.known.as_ref() else { return Ok(()) };
        // Under the queue lock, for the same reason as in `replace`.
        let mut state = self.state.lock();
        if state.replace_queued || state.replace_in_flight {
            return Ok(());
        }
        let mut keys = known.list_keys();
        keys.sort_unstable();
        let mut first_error = None;
        for key in keys {
            // Queued keys will be delivered anyway; a key being handled may be on its way out
            // of the store, and re-delivering its old state would resurrect it.
            if state.items.contains_key(&key) || state.in_flight.contains_key(&key) {
                continue;
            }
            let Some(object) = known.get_by_key(&key) else { continue };
            if let Err(err) = self.queue_delta(&mut state, key, Delta::Sync(object), false) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Pending while a bounded queue holds its limit or more entries (see
    /// [back-pressure](super::Capacity#back-pressure)).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        let (queued, closed) = (state.queue.len(), state.closed);
        poll_room(self.options.capacity, queued, closed, &mut state.room, cx)
    }
}

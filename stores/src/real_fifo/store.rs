//! [`Store`] for [`RealFifo`]: how a reflector's calls become entries.

use std::sync::Arc;
use std::task::{Context, Poll};

use informer_core::{Change, ObjectKey, Store, StoreError, Version};

use super::RealFifo;
use crate::delta_fifo::wake::poll_room;
use crate::{Deletion, Delta};

impl<T, K> Store for RealFifo<T, K>
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
        self.change(object, |object| Delta::Deleted(Deletion::Known(object)))
    }

    fn list(&self) -> Vec<Arc<T>> {
        self.state.lock().newest_objects()
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        self.state.lock().queued_keys()
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        let key = self.key_of(object)?;
        Ok(self.get_by_key(&key))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        self.state.lock().newest_object(key)
    }

    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut keys = Vec::with_capacity(items.len());
        let mut keyed = Vec::with_capacity(items.len());
        for object in items {
            match self.key_of(&object) {
                Ok(key) => {
                    keys.push(key);
                    keyed.push(object);
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        self.push_replace(&mut state, keyed, keys, version);
        first_error.map_or(Ok(()), Err)
    }

    fn resync(&self) -> Result<(), StoreError> {
        let Some(known) = self.known.as_ref() else { return Ok(()) };
        // Under the queue lock: a handler that finished in between would otherwise be
        // neither in flight nor reflected in what we read (lock order: queue, then store).
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        if state.replace_pending() {
            return Ok(());
        }
        let mut keys = known.list_keys();
        keys.sort_unstable();
        let mut first_error = None;
        for key in keys {
            // A queued key will be delivered anyway, and the store still holds its state from
            // before the queued changes; a key being handled may be on its way out of the store.
            if state.is_queued_or_in_flight(&key) {
                continue;
            }
            let Some(object) = known.get_by_key(&key) else { continue };
            match self.admit(&mut state, 1, &key) {
                Ok(()) => self.push_change(&mut state, key, Delta::Sync(object)),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Queues the batch's changes in order under one lock (contract 3).
    fn apply_batch(&self, _version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut keyed = Vec::with_capacity(changes.len());
        for change in changes {
            let key = match self.key_of(change.object()) {
                Ok(key) => key,
                Err(err) => {
                    first_error.get_or_insert(err);
                    continue;
                }
            };
            let delta = match change {
                Change::Added(object) => Delta::Added(object),
                Change::Modified(object) => Delta::Updated(object),
                Change::Deleted(object) => Delta::Deleted(Deletion::Known(object)),
            };
            keyed.push((key, delta));
        }
        let Some((first_key, _)) = keyed.first() else { return first_error.map_or(Ok(()), Err) };
        let mut state = self.state.lock();
        self.populate(&mut state);
        self.admit(&mut state, keyed.len(), first_key)?;
        for (key, delta) in keyed {
            self.push_change(&mut state, key, delta);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Pending while a bounded queue holds its limit or more entries (see
    /// [back-pressure](crate::Capacity#back-pressure)).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        let (queued, closed) = (state.queue.len(), state.closed);
        poll_room(self.options.capacity, queued, closed, &mut state.room, cx)
    }
}

impl<T, K> RealFifo<T, K>
where
    T: Send + Sync + 'static,
    K: Store<Object = T>,
{
    /// Queues one change from `add`, `update` or `delete` (contract 1).
    fn change(&self, object: Arc<T>, make: fn(Arc<T>) -> Delta<T>) -> Result<(), StoreError> {
        let key = self.key_of(&object)?;
        let mut state = self.state.lock();
        self.populate(&mut state);
        self.admit(&mut state, 1, &key)?;
        self.push_change(&mut state, key, make(object));
        Ok(())
    }
}

//! The informer's pop handler: apply one entry to the local store, then tell subscribers.

use std::collections::HashMap;
use std::sync::Arc;

use informer_core::{ObjectKey, Store, StoreError};

use super::Shared;
use super::events::Event;
use super::subscriber::{Hub, Link, Replay};
use crate::{Deletion, Delta, Popped, ReplacedAll};

impl<T, S> Shared<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T>,
{
    /// Applies `popped` to the store and dispatches the events, holding the subscriber lock
    /// throughout so a concurrent `subscribe` sees either all of it or none of it.
    pub(super) fn process(&self, popped: Popped<T>) -> Result<(), StoreError> {
        let mut hub = self.hub.lock();
        match popped {
            Popped::Deltas(deltas) => {
                let mut first_error = None;
                for delta in deltas.deltas {
                    if let Err(err) = self.apply(&mut hub, &deltas.key, delta, deltas.initial) {
                        first_error.get_or_insert(err);
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
            Popped::ReplacedAll(replaced) => self.apply_replace(&mut hub, replaced),
        }
    }

    fn apply(&self, hub: &mut Hub<T>, key: &ObjectKey, delta: Delta<T>, initial: bool) -> Result<(), StoreError> {
        let (object, resync) = match delta {
            Delta::Deleted(deletion) => return self.apply_delete(hub, key, deletion),
            Delta::Sync(object) => (object, true),
            Delta::Added(object) | Delta::Updated(object) | Delta::Replaced(object) => (object, false),
        };
        match self.store.get_by_key(key) {
            Some(old) => {
                self.store.update(Arc::clone(&object))?;
                hub.dispatch(Event::Updated { old, new: object, resync }, &self.key_fn);
            }
            None => {
                self.store.add(Arc::clone(&object))?;
                hub.dispatch(Event::Added { object, initial }, &self.key_fn);
            }
        }
        Ok(())
    }

    fn apply_delete(&self, hub: &mut Hub<T>, key: &ObjectKey, deletion: Deletion<T>) -> Result<(), StoreError> {
        // Subscribers only hear of deletions of objects they were told about.
        let Some(held) = self.store.get_by_key(key) else { return Ok(()) };
        // The store deletes by the object's key; any state of the object will do.
        self.store.delete(deletion.object().cloned().unwrap_or(held))?;
        hub.dispatch(Event::Deleted(deletion), &self.key_fn);
        Ok(())
    }

    /// An atomic relist: one `replace` of the store, then the differences as events.
    fn apply_replace(&self, hub: &mut Hub<T>, replaced: ReplacedAll<T>) -> Result<(), StoreError> {
        let mut old: HashMap<ObjectKey, Arc<T>> =
            self.store.list_keys().into_iter().filter_map(|k| self.store.get_by_key(&k).map(|o| (k, o))).collect();
        let mut events = Vec::with_capacity(replaced.items.len());
        for object in &replaced.items {
            // An object without a key cannot be stored: `replace` below reports it.
            let Ok(key) = self.key_fn.key(object) else { continue };
            match old.remove(&key) {
                Some(previous) => events.push(Event::Updated { old: previous, new: Arc::clone(object), resync: false }),
                None => events.push(Event::Added { object: Arc::clone(object), initial: replaced.initial }),
            }
        }
        let result = self.store.replace(replaced.items, replaced.version);
        for event in events {
            hub.dispatch(event, &self.key_fn);
        }
        // Deletions in key order, as a per-key queue's relist gives them.
        let mut gone: Vec<(ObjectKey, Arc<T>)> = old.into_iter().collect();
        gone.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, last) in gone {
            hub.dispatch(Event::Deleted(Deletion::FinalStateUnknown { key, last_known: Some(last) }), &self.key_fn);
        }
        result
    }
}

impl<T, S> Replay<T> for Shared<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T>,
{
    /// Under the dispatch lock: the store holds exactly what was dispatched, and every event
    /// the subscriber missed is folded into its missed keys.
    fn replay(&self, link: &Link<T>) {
        let _hub = self.hub.lock();
        link.resync_from(|key| self.store.get_by_key(key));
    }
}

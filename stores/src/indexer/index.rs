//! One index: index value → set of object keys, kept in step with the items.

use informer_core::ObjectKey;

use super::IndexFn;
use crate::cache::FastMap;
use crate::telemetry::LenGauge;

/// The keys of the objects found under one index value.
pub(crate) type KeySet = hashbrown::HashSet<ObjectKey>;

/// One named index (client-go's `Index` plus its `IndexFunc`).
pub(crate) struct Index<T> {
    pub(crate) name: String,
    pub(crate) func: IndexFn<T>,
    /// Never holds an empty set: a value whose last key leaves is removed.
    pub(crate) values: FastMap<Box<str>, KeySet>,
    /// `informer_store_index_values` once the indexer is named; a no-op handle before.
    pub(crate) size: LenGauge,
}

impl<T> Index<T> {
    pub(crate) fn new(name: String, func: IndexFn<T>, size: LenGauge) -> Self {
        Self { name, func, values: FastMap::default(), size }
    }

    /// Moves `key` from the values of `old` to the values of `new` (either may be absent).
    /// Does nothing when both objects have the same values, the common case of an update.
    /// True if the number of distinct values changed (the index's size gauge must follow).
    pub(crate) fn update(&mut self, key: &ObjectKey, old: Option<&T>, new: Option<&T>) -> bool {
        let old_values = old.map(|o| self.func.values(o)).unwrap_or_default();
        let new_values = new.map(|o| self.func.values(o)).unwrap_or_default();
        if old_values == new_values {
            return false;
        }
        let mut resized = false;
        for value in old_values.iter() {
            if !new_values.contains(value) {
                resized |= self.remove(key, value);
            }
        }
        for value in new_values.iter() {
            if !old_values.contains(value) {
                resized |= self.insert(key, value);
            }
        }
        resized
    }

    /// Adds `key` under every value of `object`.
    pub(crate) fn add(&mut self, key: &ObjectKey, object: &T) {
        for value in self.func.values(object).iter() {
            self.insert(key, value);
        }
    }

    /// Files `key` under `value`; true if the value is new to the index.
    fn insert(&mut self, key: &ObjectKey, value: &str) -> bool {
        match self.values.get_mut(value) {
            Some(keys) => {
                keys.insert(key.clone());
                false
            }
            None => {
                let mut keys = KeySet::default();
                keys.insert(key.clone());
                self.values.insert(Box::from(value), keys);
                true
            }
        }
    }

    /// Takes `key` from under `value`; true if that was the value's last key.
    fn remove(&mut self, key: &ObjectKey, value: &str) -> bool {
        let Some(keys) = self.values.get_mut(value) else { return false };
        keys.remove(key);
        let emptied = keys.is_empty();
        if emptied {
            self.values.remove(value);
        }
        emptied
    }
}

//! The [`Store`] trait: where a reflector puts what it mirrors.
//!
//! Stores are interchangeable: a plain cache, an indexer, a delta FIFO queue, an "undelta"
//! store that pushes the whole state, and combinators that stack them (see `informer-stores`).
//! The trait is synchronous with interior locking, like client-go's `Store`: every call is
//! short (a hash-map update), so it never holds up the async runtime, and readers can use a
//! store from any thread without an executor.
//!
//! # Contract (client-go's `Store`, with Rust types)
//!
//! * A store maps keys to objects; the key of an object comes from the store's key function.
//! * `add` and `update` both *set* the object under its key (an `add` of an existing key
//!   replaces it; an `update` of an unknown key inserts it). They differ only for stores that
//!   report what happened (queues, event handlers).
//! * `delete` removes the object's key. Deleting an unknown key is not an error.
//! * `list` returns every object, `list_keys` every key, in no particular order.
//! * `get` returns the stored object with the same key as the given one; `get_by_key` the
//!   object stored under a key.
//! * `replace(items, version)` makes the store hold exactly `items`: keys absent from `items`
//!   are deleted. `version` is the collection version the items describe. It is one atomic
//!   step for readers where the implementation allows.
//! * `resync` asks queue-like stores to re-deliver what they hold (client-go's `Resync`);
//!   plain stores do nothing.
//! * Errors name the key involved. A store that fails one object still applies the others
//!   of a `replace`, and reports the first failure.

use std::sync::Arc;

use crate::key::{KeyError, ObjectKey, Version};

/// Why a store refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's key function could not key the object.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store is closed (e.g. a queue after `close`).
    #[error("store is closed")]
    Closed,
    /// A bounded store is full and configured to refuse instead of waiting.
    #[error("store is full ({capacity} keys); object {key} was not queued")]
    Full {
        /// The configured capacity.
        capacity: usize,
        /// The key that was refused.
        key: ObjectKey,
    },
    /// Any other failure, with a message that names the key.
    #[error("{0}")]
    Other(String),
}

/// A keyed collection of shared objects (client-go's `Store`). See the [module docs](self)
/// for the contract every implementation follows.
///
/// # Example
///
/// A minimal store over a `Mutex<HashMap>`:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use informer_core::{ObjectKey, Store, StoreError, Version};
///
/// #[derive(Default)]
/// struct Simple(Mutex<HashMap<ObjectKey, Arc<String>>>);
///
/// impl Store for Simple {
///     type Object = String;
///     fn add(&self, o: Arc<String>) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(ObjectKey::new(o.as_str()), o);
///         Ok(())
///     }
///     fn update(&self, o: Arc<String>) -> Result<(), StoreError> { self.add(o) }
///     fn delete(&self, o: Arc<String>) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(o.as_str());
///         Ok(())
///     }
///     fn list(&self) -> Vec<Arc<String>> { self.0.lock().unwrap().values().cloned().collect() }
///     fn list_keys(&self) -> Vec<ObjectKey> { self.0.lock().unwrap().keys().cloned().collect() }
///     fn get(&self, o: &String) -> Result<Option<Arc<String>>, StoreError> {
///         Ok(self.get_by_key(o))
///     }
///     fn get_by_key(&self, key: &str) -> Option<Arc<String>> {
///         self.0.lock().unwrap().get(key).cloned()
///     }
///     fn replace(&self, items: Vec<Arc<String>>, _: Version) -> Result<(), StoreError> {
///         let mut map = self.0.lock().unwrap();
///         map.clear();
///         for o in items { map.insert(ObjectKey::new(o.as_str()), o); }
///         Ok(())
///     }
///     fn resync(&self) -> Result<(), StoreError> { Ok(()) }
/// }
///
/// let s = Simple::default();
/// s.add(Arc::new("a".to_string())).unwrap();
/// assert_eq!(s.list_keys(), vec![ObjectKey::from("a")]);
/// ```
pub trait Store: Send + Sync {
    /// The type of the objects held.
    type Object: Send + Sync + 'static;

    /// Sets `object` under its key (an added object).
    fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError>;

    /// Sets `object` under its key (a changed object).
    fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError>;

    /// Removes the key of `object`; unknown keys are ignored.
    fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError>;

    /// Every object held.
    fn list(&self) -> Vec<Arc<Self::Object>>;

    /// Every key held.
    fn list_keys(&self) -> Vec<ObjectKey>;

    /// The stored object with the same key as `object`.
    fn get(&self, object: &Self::Object) -> Result<Option<Arc<Self::Object>>, StoreError>;

    /// The object stored under `key`.
    fn get_by_key(&self, key: &str) -> Option<Arc<Self::Object>>;

    /// Makes the store hold exactly `items`, which describe the collection at `version`.
    fn replace(&self, items: Vec<Arc<Self::Object>>, version: Version) -> Result<(), StoreError>;

    /// Re-delivers the held objects to consumers (queues); a no-op for plain stores.
    fn resync(&self) -> Result<(), StoreError>;
}

macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<S: Store + ?Sized> Store for $ptr {
            type Object = S::Object;
            fn add(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
                (**self).add(object)
            }
            fn update(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
                (**self).update(object)
            }
            fn delete(&self, object: Arc<Self::Object>) -> Result<(), StoreError> {
                (**self).delete(object)
            }
            fn list(&self) -> Vec<Arc<Self::Object>> {
                (**self).list()
            }
            fn list_keys(&self) -> Vec<ObjectKey> {
                (**self).list_keys()
            }
            fn get(&self, object: &Self::Object) -> Result<Option<Arc<Self::Object>>, StoreError> {
                (**self).get(object)
            }
            fn get_by_key(&self, key: &str) -> Option<Arc<Self::Object>> {
                (**self).get_by_key(key)
            }
            fn replace(&self, items: Vec<Arc<Self::Object>>, version: Version) -> Result<(), StoreError> {
                (**self).replace(items, version)
            }
            fn resync(&self) -> Result<(), StoreError> {
                (**self).resync()
            }
        }
    )*};
}

// A reflector owns its store; sharing it with readers goes through `Arc`. `Box<dyn Store>`
// is the opt-in dynamic dispatch for stacks chosen at run time.
forward_store!(Arc<S>, Box<S>);

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
//!
//! # A refused change: recorded, then repaired by a relist
//!
//! A store may refuse a change (an index function fails on an object, a bounded queue is
//! closed). Skipping it would leave the mirror silently wrong until some later relist, so the
//! reflector follows one policy:
//!
//! 1. the error is counted (`store_errors`) and the sync state becomes
//!    [`SyncState::Failing`](crate::SyncState::Failing) with
//!    [`SyncFailureKind::StoreRefused`](crate::SyncFailureKind::StoreRefused), naming the
//!    version and the store's error;
//! 2. the events the source already has ready are applied (other keys stay current);
//! 3. the reflector lists again (`store_repairs`), "not older than" the last version, and
//!    `replace` sets every key, the refused one included, to the source's state;
//! 4. a `replace` the store accepts ends the failure (the state is synced again). A `replace`
//!    the store refuses too keeps the state failing, but does not loop: the store holds the
//!    other objects, and only the next refused event starts another repair.
//!
//! A store should therefore fail only the object at fault, keep its last good state for it,
//! and accept it again once it is valid.
//!
//! # Batches: where one version's changes end
//!
//! A source may change several objects at one version (an etcd transaction, an HTTP snapshot
//! diff). The reflector hands each version's changes to [`Store::apply_batch`] at once, so a
//! store can apply them as one step:
//!
//! * `apply_batch(version, changes)` applies `changes` in order; afterwards the store describes
//!   the collection at `version`. An empty `changes` says the collection reached `version`
//!   without a change the store should see (a bookmark); stores that record progress use it.
//! * The default applies each change with `add`, `update` or `delete`, goes on after a failure
//!   and reports the first one, so stores that don't care need nothing new. Stores whose
//!   readers must not see half a version ([`Cache`, `Indexer`] in `informer-stores`) apply the
//!   whole batch under one lock; a store that writes elsewhere (the etcd sink of
//!   `informer-etcd`) writes it as one transaction.
//! * The reflector never splits a version over two batches: it closes a batch when the next
//!   event has another version, at a bookmark, when the source has nothing more ready (the
//!   end of one server response), or when the watch ends or fails. Sources deliver a version's
//!   changes whole or not at all (see [`ListerWatcher`](crate::ListerWatcher)).
//! * Stacks of stores (tee, transform, filter) forward the batch whole.
//!
//! # Back-pressure: [`Store::poll_ready`]
//!
//! Every method is synchronous and must not block. A store that hands work to something
//! slower (a network writer) says it is full through `poll_ready`, like tower's
//! `Service::poll_ready`: the reflector waits for `Ready` before each batch, so it stops
//! reading the watch while the store is full, and the source's flow control (HTTP/2 windows)
//! carries the back-pressure to the server. The default is always ready.
//!
//! [`Cache`, `Indexer`]: https://docs.rs/informer-stores

use std::sync::Arc;
use std::task::{Context, Poll};

use crate::key::{KeyError, ObjectKey, Version};

/// One change of a [`Store::apply_batch`]: the watch event's object and what happened to it.
#[derive(Debug, PartialEq)]
pub enum Change<T> {
    /// An object was created.
    Added(Arc<T>),
    /// An object changed.
    Modified(Arc<T>),
    /// An object was deleted; this is its last known state.
    Deleted(Arc<T>),
}

impl<T> Clone for Change<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(o) => Self::Added(Arc::clone(o)),
            Self::Modified(o) => Self::Modified(Arc::clone(o)),
            Self::Deleted(o) => Self::Deleted(Arc::clone(o)),
        }
    }
}

impl<T> Change<T> {
    /// The object the change carries.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let change = informer_core::Change::Deleted(Arc::new(7));
    /// assert_eq!(**change.object(), 7);
    /// ```
    pub fn object(&self) -> &Arc<T> {
        match self {
            Self::Added(o) | Self::Modified(o) | Self::Deleted(o) => o,
        }
    }

    /// The same change with another object (a transform's output).
    pub fn map<U>(self, f: impl FnOnce(Arc<T>) -> Arc<U>) -> Change<U> {
        match self {
            Self::Added(o) => Change::Added(f(o)),
            Self::Modified(o) => Change::Modified(f(o)),
            Self::Deleted(o) => Change::Deleted(f(o)),
        }
    }

    /// The change's type as a short upper-case name (`ADDED`, `MODIFIED`, `DELETED`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Added(_) => "ADDED",
            Self::Modified(_) => "MODIFIED",
            Self::Deleted(_) => "DELETED",
        }
    }
}

/// Applies `changes` one by one to `store` with `add`, `update` and `delete`, going on after a
/// failure and returning the first one: the default [`Store::apply_batch`], for stores that
/// override it only in some cases.
pub fn apply_each<S: Store + ?Sized>(store: &S, changes: Vec<Change<S::Object>>) -> Result<(), StoreError> {
    let mut first = None;
    for change in changes {
        let result = match change {
            Change::Added(o) => store.add(o),
            Change::Modified(o) => store.update(o),
            Change::Deleted(o) => store.delete(o),
        };
        if let Err(err) = result {
            first.get_or_insert(err);
        }
    }
    first.map_or(Ok(()), Err)
}

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

    /// Applies the changes of one source version as one step; afterwards the store describes
    /// the collection at `version`. Empty `changes`: the collection reached `version` with no
    /// change for this store (a bookmark). See [batches](self#batches-where-one-versions-changes-end).
    ///
    /// The default calls `add`, `update` or `delete` per change ([`apply_each`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{Change, KeyFn, Store, Version};
    /// # use informer_core::{ObjectKey, StoreError};
    /// # use std::sync::Mutex;
    /// # #[derive(Default)] struct Log(Mutex<Vec<String>>);
    /// # impl Store for Log {
    /// #     type Object = String;
    /// #     fn add(&self, o: Arc<String>) -> Result<(), StoreError> { self.0.lock().unwrap().push(format!("+{o}")); Ok(()) }
    /// #     fn update(&self, o: Arc<String>) -> Result<(), StoreError> { self.add(o) }
    /// #     fn delete(&self, o: Arc<String>) -> Result<(), StoreError> { self.0.lock().unwrap().push(format!("-{o}")); Ok(()) }
    /// #     fn list(&self) -> Vec<Arc<String>> { vec![] }
    /// #     fn list_keys(&self) -> Vec<ObjectKey> { vec![] }
    /// #     fn get(&self, _: &String) -> Result<Option<Arc<String>>, StoreError> { Ok(None) }
    /// #     fn get_by_key(&self, _: &str) -> Option<Arc<String>> { None }
    /// #     fn replace(&self, _: Vec<Arc<String>>, _: Version) -> Result<(), StoreError> { Ok(()) }
    /// #     fn resync(&self) -> Result<(), StoreError> { Ok(()) }
    /// # }
    /// let log = Log::default();
    /// log.apply_batch(&Version::from("7"), vec![
    ///     Change::Added(Arc::new("a".to_string())),
    ///     Change::Deleted(Arc::new("b".to_string())),
    /// ]).unwrap();
    /// assert_eq!(*log.0.lock().unwrap(), ["+a", "-b"]);
    /// ```
    fn apply_batch(&self, version: &Version, changes: Vec<Change<Self::Object>>) -> Result<(), StoreError> {
        let _ = version;
        apply_each(self, changes)
    }

    /// `Ready` when the store takes the next batch without growing past its bound; `Pending`
    /// (after arranging for `cx` to be woken) while it is full. See
    /// [back-pressure](self#back-pressure-storepoll_ready). The default is always ready.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Ready(())
    }
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
            fn apply_batch(&self, version: &Version, changes: Vec<Change<Self::Object>>) -> Result<(), StoreError> {
                (**self).apply_batch(version, changes)
            }
            fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
                (**self).poll_ready(cx)
            }
        }
    )*};
}

// A reflector owns its store; sharing it with readers goes through `Arc`. `Box<dyn Store>`
// is the opt-in dynamic dispatch for stacks chosen at run time.
forward_store!(Arc<S>, Box<S>);

//! The informer's queue: changes merged per key ([`DeltaFifo`]) or kept in watch order across
//! keys ([`RealFifo`]), as [`Delivery`] says. Both pop the same [`Popped`] entries, so the pop
//! handler is the same; this enum forwards the reflector's store calls to the one chosen.

use std::sync::Arc;
use std::task::{Context, Poll};

use informer_core::{Change, KeyFn, ObjectKey, Store, StoreError, Version};

use crate::{DeltaFifo, DeltaFifoOptions, Popped, QueueClosed, QueueStats, RealFifo, RealFifoOptions};

/// The order in which an [`Informer`](super::Informer) applies and delivers changes.
///
/// ```
/// use informer_stores::{Delivery, InformerConfig};
/// let config = InformerConfig::default().with_delivery(Delivery::InOrder);
/// assert_eq!(config.delivery, Delivery::InOrder);
/// assert_eq!(InformerConfig::default().delivery, Delivery::PerKey);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// Per key ([`DeltaFifo`]): every change of one key since it was last popped comes out
    /// together, so a busy key takes one slot and the queue is bounded by the number of keys;
    /// changes to different keys may come out in another order than they happened. The
    /// default.
    #[default]
    PerKey,
    /// In watch order across keys, every change on its own ([`RealFifo`], client-go's
    /// `RealFIFO`): what a consumer needs when the order between objects matters (a pod
    /// deleted before its replacement is created). A slow consumer makes the queue grow by
    /// one entry per change; bound it with [`DeltaFifoOptions::capacity`].
    InOrder,
}

/// The queue between the informer's reflector and its pop loop.
pub(crate) enum Queue<T, S> {
    PerKey(DeltaFifo<T, Arc<S>>),
    InOrder(RealFifo<T, Arc<S>>),
}

/// Runs the same expression on whichever queue it is.
macro_rules! each {
    ($queue:expr, $q:ident => $body:expr) => {
        match $queue {
            Queue::PerKey($q) => $body,
            Queue::InOrder($q) => $body,
        }
    };
}

impl<T, S> Queue<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T> + 'static,
{
    /// The queue `delivery` asks for, its known objects being the informer's store. The FIFO
    /// options' name and capacity apply to both; a relist is always queued atomically.
    pub(crate) fn new(delivery: Delivery, key_fn: KeyFn<T>, store: Arc<S>, options: DeltaFifoOptions) -> Self {
        match delivery {
            Delivery::PerKey => Queue::PerKey(DeltaFifo::with_known_objects(key_fn, store, options)),
            Delivery::InOrder => {
                let options = RealFifoOptions::default().with_name(options.name).with_capacity(options.capacity);
                Queue::InOrder(RealFifo::with_known_objects(key_fn, store, options))
            }
        }
    }

    pub(crate) async fn pop<R>(&self, handler: impl FnOnce(Popped<T>) -> R) -> Result<R, QueueClosed> {
        each!(self, q => q.pop(handler).await)
    }

    pub(crate) fn has_synced(&self) -> bool {
        each!(self, q => q.has_synced())
    }

    pub(crate) async fn wait_synced(&self) -> bool {
        each!(self, q => q.wait_synced().await)
    }

    pub(crate) fn close(&self) {
        each!(self, q => q.close())
    }

    pub(crate) fn stats(&self) -> QueueStats {
        each!(self, q => q.stats())
    }
}

impl<T, S> Store for Queue<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T> + 'static,
{
    type Object = T;

    fn add(&self, object: Arc<T>) -> Result<(), StoreError> {
        each!(self, q => q.add(object))
    }

    fn update(&self, object: Arc<T>) -> Result<(), StoreError> {
        each!(self, q => q.update(object))
    }

    fn delete(&self, object: Arc<T>) -> Result<(), StoreError> {
        each!(self, q => q.delete(object))
    }

    fn list(&self) -> Vec<Arc<T>> {
        each!(self, q => q.list())
    }

    fn list_keys(&self) -> Vec<ObjectKey> {
        each!(self, q => q.list_keys())
    }

    fn get(&self, object: &T) -> Result<Option<Arc<T>>, StoreError> {
        each!(self, q => q.get(object))
    }

    fn get_by_key(&self, key: &str) -> Option<Arc<T>> {
        each!(self, q => q.get_by_key(key))
    }

    fn replace(&self, items: Vec<Arc<T>>, version: Version) -> Result<(), StoreError> {
        each!(self, q => q.replace(items, version))
    }

    fn resync(&self) -> Result<(), StoreError> {
        each!(self, q => q.resync())
    }

    fn apply_batch(&self, version: &Version, changes: Vec<Change<T>>) -> Result<(), StoreError> {
        each!(self, q => q.apply_batch(version, changes))
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        each!(self, q => q.poll_ready(cx))
    }
}

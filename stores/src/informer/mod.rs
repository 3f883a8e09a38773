//! # Informer: a local mirror that tells you what changed
//!
//! An [`Informer`] is client-go's `SharedIndexInformer` in Rust:
//!
//! ```text
//!  ListerWatcher ──► Reflector ──► DeltaFifo ──► pop loop ──► local store (e.g. an Indexer)
//!                                  (known objects =                │
//!                                   the local store)               └──► Event to every Subscription
//! ```
//!
//! A [`Reflector`] lists and watches the source into a [`DeltaFifo`](crate::DeltaFifo) whose
//! known-objects store is the informer's local store. The informer's pop loop applies each
//! key's deltas to the local store and then tells every subscriber: [`Event::Added`],
//! [`Event::Updated`] (`old`, `new`), [`Event::Deleted`]. Many subscribers can share one
//! informer, one list and one watch.
//!
//! * [`Delivery::InOrder`] puts a [`RealFifo`](crate::RealFifo) in the DeltaFifo's place:
//!   every change is applied and delivered on its own, in watch order across keys.
//! * A relist is queued as one entry and applied as one `replace` of the store, whichever the
//!   queue: readers and subscribers never see half of one.
//!
//! * A subscriber that joins late first receives the current state as `Added` events with
//!   `initial: true`, then every change after it (no gap, no overlap).
//! * A periodic resync ([`ReflectorConfig::resync_period`]) reaches subscribers as
//!   `Updated { resync: true }` for every object.
//! * A relist that finds objects gone reaches subscribers as `Deleted` with
//!   [`Deletion::FinalStateUnknown`](crate::Deletion::FinalStateUnknown).
//! * Each subscriber has its own buffer: a slow one never blocks the reflector or the other
//!   subscribers. Buffers are unbounded by default (like client-go's listeners); bound one
//!   with [`InformerHandle::subscribe_with`] and choose what a full one does ([`Overflow`]:
//!   wait for it, drop its backlog and resync it, or cut it off), or set
//!   [`InformerConfig::subscriber_buffer`] to cut off any plain subscriber that falls too far
//!   behind.
//!
//! # Example
//!
//! An informer over the in-memory source, with an [`Indexer`] as its store:
//!
//! ```
//! use informer_core::{CancellationToken, KeyFn};
//! use informer_memory::{MemoryObject, MemorySource};
//! use informer_stores::{Event, IndexFn, Indexer, Indexers, Informer, InformerConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = MemorySource::<String>::new();
//! source.put("web-0", "node-1".to_string());
//! let by_node = IndexFn::single(|o: &MemoryObject<String>| o.value().as_str());
//! let indexer = Indexer::with_indexers(KeyFn::keyed(), Indexers::new().with("node", by_node));
//! let informer = Informer::with_indexer(source.clone(), indexer, InformerConfig::default());
//! let handle = informer.handle();
//! let mut events = handle.subscribe();
//! let cancel = CancellationToken::new();
//! let task = tokio::spawn(informer.run(cancel.clone()));
//!
//! assert!(handle.wait_synced().await);
//! assert!(matches!(events.recv().await, Some(Event::Added { initial: true, .. })));
//! source.put("web-0", "node-2".to_string());
//! assert!(matches!(events.recv().await, Some(Event::Updated { resync: false, .. })));
//! assert_eq!(handle.store().by_index("node", "node-2").unwrap().len(), 1);
//! cancel.cancel();
//! task.await.unwrap().unwrap();
//! assert!(events.recv().await.is_none(), "the stream ends when the informer stops");
//! # }
//! ```

mod events;
mod process;
mod queue;
mod subscriber;

use std::sync::Arc;

use informer_core::{
    CancellationToken, KeyFn, ListerWatcher, MetricsSnapshot, Reflector, ReflectorConfig, ReflectorError,
    ReflectorHandle, Store,
};
use parking_lot::Mutex;
use tracing::warn;

pub use events::{Event, EventHandler};
pub use queue::Delivery;
use queue::Queue;
use subscriber::Hub;
pub use subscriber::{Overflow, SubscribeOptions, Subscription};

use crate::{Cache, DeltaFifoOptions, Indexer, QueueStats};

/// How an [`Informer`] runs.
#[derive(Debug, Clone)]
#[must_use]
pub struct InformerConfig {
    /// The reflector's configuration (paging, backoff, resync period, ...).
    pub reflector: ReflectorConfig,
    /// The order of delivery: per key (the default) or in watch order across keys.
    pub delivery: Delivery,
    /// The queue's options: its name and capacity (for either [`Delivery`]), and for
    /// [`Delivery::PerKey`] how a relist is queued. The default queues a relist atomically, as
    /// one entry: the store and the subscribers never see half of one. A
    /// [`Soft`](crate::Capacity::Soft) or [`Reject`](crate::Capacity::Reject) capacity makes the
    /// reflector stop reading the watch while the queue is full (back-pressure).
    pub fifo: DeltaFifoOptions,
    /// Events a subscriber of [`subscribe`](InformerHandle::subscribe) may leave unread before
    /// it is cut off; `None` (the default) for no limit. Other bounds and policies:
    /// [`subscribe_with`](InformerHandle::subscribe_with).
    pub subscriber_buffer: Option<usize>,
}

impl Default for InformerConfig {
    fn default() -> Self {
        Self {
            reflector: ReflectorConfig::default(),
            delivery: Delivery::PerKey,
            fifo: DeltaFifoOptions::default().with_name("Informer queue").with_atomic_replace(true),
            subscriber_buffer: None,
        }
    }
}

impl InformerConfig {
    /// Sets [`reflector`](Self::reflector).
    pub fn with_reflector(mut self, reflector: ReflectorConfig) -> Self {
        self.reflector = reflector;
        self
    }

    /// Sets [`delivery`](Self::delivery).
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Sets [`fifo`](Self::fifo).
    pub fn with_fifo(mut self, fifo: DeltaFifoOptions) -> Self {
        self.fifo = fifo;
        self
    }

    /// Sets [`subscriber_buffer`](Self::subscriber_buffer).
    pub fn with_subscriber_buffer(mut self, limit: Option<usize>) -> Self {
        self.subscriber_buffer = limit;
        self
    }
}

/// Why [`Informer::run`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InformerError {
    /// The reflector gave up.
    #[error("informer of {source_name}: {error}")]
    Reflector {
        /// The source's description.
        source_name: String,
        /// What the reflector reported.
        #[source]
        error: ReflectorError,
    },
    /// The reflector task panicked or was aborted.
    #[error("informer of {source_name}: reflector task failed: {reason}")]
    ReflectorTask {
        /// The source's description.
        source_name: String,
        /// The join error.
        reason: String,
    },
}

/// Counters of an informer, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct InformerMetrics {
    /// The reflector's counters.
    pub reflector: MetricsSnapshot,
    /// The delta FIFO's counters.
    pub queue: QueueStats,
    /// Subscribers connected now.
    pub subscribers: usize,
    /// Subscribers cut off for exceeding their buffer limit since the start
    /// ([`Overflow::Disconnect`]).
    pub lagged_subscribers: u64,
    /// Store errors while applying popped deltas.
    pub store_errors: u64,
}

/// The informer's queue (per key or in order), whose known objects are the local store.
type SharedQueue<T, S> = Arc<Queue<T, S>>;

/// State shared by the running informer and its handles.
struct Shared<T, S> {
    store: Arc<S>,
    fifo: SharedQueue<T, S>,
    reflector: ReflectorHandle,
    hub: Mutex<Hub<T>>,
    key_fn: KeyFn<T>,
    store_errors: std::sync::atomic::AtomicU64,
}

/// A reflector, a delta FIFO, a local store and subscribers; see the [module docs](self).
///
/// # Contract
///
/// 1. The local store ends up equal to the source's collection, like a reflector's store.
/// 2. Every change applied to the local store is then sent to every subscriber, in the order
///    applied: an object new to the store as `Added`, a known one as `Updated { old, new }`,
///    a deletion of an object the store holds as `Deleted` (a deletion of an object it does
///    not hold changes nothing and is not sent).
/// 3. Objects of the initial list arrive as `Added { initial: true }`.
/// 4. A subscriber that joins at any time first receives the store's current objects as
///    `Added { initial: true }`, then every later change.
/// 5. A resync arrives as `Updated { resync: true }` for every object held.
/// 6. A relist that no longer finds an object sends `Deleted(Deletion::FinalStateUnknown)`.
/// 7. `has_synced` is true once the reflector listed and every object of that first list has
///    been applied to the store and sent to the subscribers.
/// 8. Each subscriber has its own buffer (see [`Subscription`]); nothing a subscriber does
///    blocks the informer, unless it subscribed with [`Overflow::Block`].
/// 9. `run` returns when the token is cancelled (`Ok`) or the reflector gives up (`Err`);
///    then every subscription ends.
#[must_use = "an informer does nothing until `run` is awaited"]
pub struct Informer<L: ListerWatcher, S> {
    reflector: Reflector<L, SharedQueue<L::Object, S>>,
    shared: Arc<Shared<L::Object, S>>,
}

impl<L: ListerWatcher, S> std::fmt::Debug for Informer<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informer").field("reflector", &self.reflector).finish()
    }
}

/// A cheap, cloneable view of an informer: its store, readiness, metrics and subscriptions.
pub struct InformerHandle<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Clone for InformerHandle<T, S> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T, S> std::fmt::Debug for InformerHandle<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InformerHandle").field("source", &self.shared.reflector.source_name()).finish()
    }
}

impl<L, S> Informer<L, S>
where
    L: ListerWatcher + 'static,
    S: Store<Object = L::Object> + 'static,
{
    /// An informer that mirrors `source` into `store` (whose keys `key_fn` computes).
    pub fn new(source: L, key_fn: KeyFn<L::Object>, store: S, config: InformerConfig) -> Self {
        let name = config.reflector.name.clone().unwrap_or_else(|| source.describe());
        let store = Arc::new(store);
        let fifo = Arc::new(Queue::new(config.delivery, key_fn.clone(), Arc::clone(&store), config.fifo));
        let reflector = Reflector::new(source, Arc::clone(&fifo), config.reflector);
        let shared = Arc::new(Shared {
            store,
            fifo,
            reflector: reflector.handle(),
            hub: Mutex::new(Hub::new(name, config.subscriber_buffer)),
            key_fn,
            store_errors: Default::default(),
        });
        Self { reflector, shared }
    }

    /// A handle to read the store, subscribe and observe the informer while it runs.
    pub fn handle(&self) -> InformerHandle<L::Object, S> {
        InformerHandle { shared: Arc::clone(&self.shared) }
    }

    /// Runs the reflector and the pop loop until `cancel` fires or the reflector gives up.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), InformerError> {
        let shared = self.shared;
        let source_name = shared.reflector.source_name().to_string();
        let reflector_cancel = cancel.child_token();
        let mut reflector = tokio::spawn(self.reflector.run(reflector_cancel.clone()));
        let mut reflector_result = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                result = &mut reflector => {
                    reflector_result = Some(result);
                    break;
                }
                popped = async {
                    // `Overflow::Block` subscribers hold the pop until they have room.
                    std::future::poll_fn(|cx| shared.hub.lock().poll_room(cx)).await;
                    shared.fifo.pop(|popped| shared.process(popped)).await
                } => match popped {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        shared.store_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        warn!(source = %source_name, error = %err, "informer store rejected a change");
                    }
                    Err(_closed) => break,
                },
            }
        }
        // Stop the producer first, so it never writes to a closed queue.
        reflector_cancel.cancel();
        let result = match reflector_result {
            Some(result) => result,
            None => reflector.await,
        };
        shared.fifo.close();
        shared.hub.lock().close();
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(InformerError::Reflector { source_name, error }),
            Err(join) => Err(InformerError::ReflectorTask { source_name, reason: join.to_string() }),
        }
    }
}

impl<L> Informer<L, Indexer<L::Object>>
where
    L: ListerWatcher + 'static,
{
    /// An informer whose local store is `indexer` (keyed by the indexer's key function): the
    /// usual choice, as client-go's `SharedIndexInformer`.
    pub fn with_indexer(source: L, indexer: Indexer<L::Object>, config: InformerConfig) -> Self {
        let key_fn = indexer.key_fn().clone();
        Self::new(source, key_fn, indexer, config)
    }
}

impl<L> Informer<L, Cache<L::Object>>
where
    L: ListerWatcher + 'static,
{
    /// An informer whose local store is a plain [`Cache`].
    pub fn with_cache(source: L, key_fn: KeyFn<L::Object>, config: InformerConfig) -> Self {
        Self::new(source, key_fn.clone(), Cache::new(key_fn), config)
    }
}

impl<T, S> InformerHandle<T, S>
where
    T: Send + Sync + 'static,
    S: Store<Object = T> + 'static,
{
    /// True if both handles are of the same informer (the same reflector, store and
    /// subscribers), as an [`Informers`](crate::Informers) registry hands out.
    ///
    /// ```
    /// use informer_core::KeyFn;
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Informer, InformerConfig};
    /// let make = || Informer::with_cache(MemorySource::<u32>::new(), KeyFn::keyed(), InformerConfig::default());
    /// let (a, b) = (make(), make());
    /// assert!(a.handle().ptr_eq(&a.handle()));
    /// assert!(!a.handle().ptr_eq(&b.handle()));
    /// ```
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The local store, for reads (`get_by_key`, `list`, or an indexer's `by_index`).
    pub fn store(&self) -> &Arc<S> {
        &self.shared.store
    }

    /// A new subscription: the current objects as initial adds, then every change, buffered
    /// as [`InformerConfig::subscriber_buffer`] says (cut off when full).
    pub fn subscribe(&self) -> Subscription<T> {
        let options = self.shared.hub.lock().default_options();
        self.subscribe_with(options)
    }

    /// A new subscription buffered as `options` say: its bound, what happens when it is full
    /// ([`Overflow`]) and its name in the metrics. Like [`subscribe`](Self::subscribe), it
    /// first receives the current objects as initial adds (not counted against the bound).
    ///
    /// ```
    /// use informer_core::{CancellationToken, KeyFn};
    /// use informer_memory::MemorySource;
    /// use informer_stores::{Informer, InformerConfig, Overflow, SubscribeOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = MemorySource::<u32>::new();
    /// let informer = Informer::with_cache(source.clone(), KeyFn::keyed(), InformerConfig::default());
    /// let handle = informer.handle();
    /// let cancel = CancellationToken::new();
    /// let task = tokio::spawn(informer.run(cancel.clone()));
    /// assert!(handle.wait_synced().await);
    ///
    /// // At most 2 unread events; past that, drop them and resync the keys missed.
    /// let mut slow = handle.subscribe_with(SubscribeOptions::bounded(2, Overflow::DropAndResync));
    /// let mut watcher = handle.subscribe();
    /// for i in 0..5 {
    ///     source.put("counter", i);
    ///     watcher.recv().await.unwrap();
    /// }
    /// assert_eq!(slow.missed_keys(), 1, "five changes of one key, remembered once");
    /// // Every event of `counter` was dropped, so the resync hands it over as one add.
    /// match slow.recv().await.unwrap() {
    ///     informer_stores::Event::Added { object, .. } => assert_eq!(**object.value(), 4),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// cancel.cancel();
    /// task.await.unwrap().unwrap();
    /// # }
    /// ```
    pub fn subscribe_with(&self, options: SubscribeOptions) -> Subscription<T> {
        let replay = Arc::downgrade(&self.shared) as std::sync::Weak<dyn subscriber::Replay<T>>;
        let mut hub = self.shared.hub.lock();
        let snapshot = self.shared.store.list();
        hub.subscribe(options, snapshot, replay)
    }

    /// Subscribes now and returns a future that calls `handler` for every event until the
    /// informer stops or the subscription lags. Spawn it: `tokio::spawn(handle.handler_task(h))`.
    pub fn handler_task<H: EventHandler<T>>(&self, mut handler: H) -> impl Future<Output = H> + Send + 'static {
        let mut subscription = self.subscribe();
        async move {
            while let Some(event) = subscription.recv().await {
                match &event {
                    Event::Added { object, initial } => handler.on_add(object, *initial),
                    Event::Updated { old, new, .. } => handler.on_update(old, new),
                    Event::Deleted(deletion) => handler.on_delete(deletion),
                }
            }
            handler
        }
    }

    /// True once the first list has been applied and delivered (contract 7).
    pub fn has_synced(&self) -> bool {
        self.shared.reflector.has_synced() && self.shared.fifo.has_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced); `false` if the informer stopped first.
    pub async fn wait_synced(&self) -> bool {
        self.shared.reflector.wait_synced().await && self.shared.fifo.wait_synced().await
    }

    /// The reflector's handle (last synced version, counters).
    pub fn reflector(&self) -> &ReflectorHandle {
        &self.shared.reflector
    }

    /// The informer's counters now.
    pub fn metrics(&self) -> InformerMetrics {
        let hub = self.shared.hub.lock();
        InformerMetrics {
            reflector: self.shared.reflector.metrics(),
            queue: self.shared.fifo.stats(),
            subscribers: hub.len(),
            lagged_subscribers: hub.lagged(),
            store_errors: self.shared.store_errors.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;

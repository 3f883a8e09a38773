//! How an [`Informer`](super::Informer)'s subscribers are buffered: one queue each, bounded or
//! not, with a policy for a full one ([`Overflow`]).
//!
//! The queue is written here rather than taken from `tokio::sync::mpsc`: the
//! [`DropAndResync`](Overflow::DropAndResync) policy has the *sender* take the backlog out of
//! the queue and fold it, and every later event, into one entry per key, which no channel
//! offers; the [`Block`](Overflow::Block) policy needs the sender to wait for room while a pop
//! is not under way, which an `mpsc::Sender` ties to sending one message.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::Stream;
use futures::task::AtomicWaker;
use informer_core::{KeyFn, ObjectKey};
use metrics::{Counter, Gauge};
use parking_lot::Mutex;

use super::events::Event;
use crate::Deletion;
use crate::cache::FastMap;
use crate::telemetry;

/// What a bounded subscription does when more events than its buffer wait unread.
///
/// | policy | the informer | the subscriber | memory of a stalled subscriber |
/// | --- | --- | --- | --- |
/// | [`Block`](Self::Block) | waits before its next pop | receives every event | the bound, plus one pop's events |
/// | [`DropAndResync`](Self::DropAndResync) | goes on | a resync of the keys it missed | one entry per key missed |
/// | [`Disconnect`](Self::Disconnect) | goes on | the stream ends; subscribe again | the bound |
///
/// ```
/// use informer_stores::{Overflow, SubscribeOptions};
/// let options = SubscribeOptions::bounded(1_000, Overflow::DropAndResync).with_name("reconciler");
/// assert_eq!(options.buffer, Some(1_000));
/// assert_eq!(SubscribeOptions::default().overflow, Overflow::Disconnect);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Back-pressure: before each pop the informer waits until every `Block` subscriber has
    /// room. Limits: the informer's whole pop loop waits, so its local store, `has_synced` and
    /// every other subscriber wait too; one pop's events are delivered whole, so a buffer can
    /// exceed its bound by one entry's events (a key's deltas, or every object of an atomic
    /// relist). While the pop loop waits, the reflector keeps filling the delta FIFO (at most
    /// one entry per key); give the FIFO a [`Capacity`](crate::Capacity) bound and the
    /// reflector stops reading the watch when it is full, which carries the back-pressure to
    /// the server.
    Block,
    /// On overflow the queued events are dropped, and so is every later event until the
    /// subscriber reads again; what was dropped is remembered as one entry per key (the state
    /// the subscriber last received). Once it has read what is left, the subscriber receives a
    /// resync of exactly the keys it missed, from the local store as it is then: `Added` for
    /// an object new to it, `Updated` (`old` = what it last received; `resync: true` if that
    /// is still the current state) for one it knew, `Deleted(FinalStateUnknown)` for one now
    /// gone (followed by `Added` if the key was deleted and created again). After the resync
    /// its view equals the store again; the order of keys within a resync is unspecified.
    DropAndResync,
    /// On overflow the subscription is cut off: its stream ends after the events already
    /// buffered and [`Subscription::is_lagged`] turns true. Subscribe again to start over from
    /// the current state. The default.
    #[default]
    Disconnect,
}

/// How one subscription is buffered (see [`InformerHandle::subscribe_with`](super::InformerHandle::subscribe_with)).
///
/// ```
/// use informer_stores::{Overflow, SubscribeOptions};
/// let unbounded = SubscribeOptions::default();
/// assert_eq!(unbounded.buffer, None);
/// let blocking = SubscribeOptions::bounded(64, Overflow::Block);
/// assert_eq!((blocking.buffer, blocking.overflow), (Some(64), Overflow::Block));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct SubscribeOptions {
    /// Events that may wait unread before [`overflow`](Self::overflow) applies; `None` for no
    /// bound. The snapshot a late subscriber receives first does not count against it.
    pub buffer: Option<usize>,
    /// What happens when the buffer is full.
    pub overflow: Overflow,
    /// The `subscriber` label of this subscription's metrics
    /// (`informer_subscriber_depth`, `informer_subscriber_dropped_events_total`); unnamed
    /// subscriptions record nothing, so short-lived ones do not leave series behind.
    pub name: Option<String>,
}

impl SubscribeOptions {
    /// A buffer of `buffer` events with the policy `overflow`.
    pub fn bounded(buffer: usize, overflow: Overflow) -> Self {
        Self { buffer: Some(buffer), overflow, name: None }
    }

    /// Sets [`name`](Self::name).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// What a [`DropAndResync`](Overflow::DropAndResync) subscriber held of one key before the
/// first of its events that were dropped.
enum Missed<T> {
    /// Nothing: the first dropped event added the object (`initial`: an initial add).
    Nothing { initial: bool },
    /// This state, the `old` of the first dropped event (an update).
    Held(Arc<T>),
    /// The object the first dropped event deleted, in the deletion's state.
    Deleted(Option<Arc<T>>),
}

/// One subscription's queue, under its lock.
struct Queue<T> {
    events: VecDeque<Event<T>>,
    /// Events of the late-join snapshot still at the front (they do not count against the bound).
    snapshot_left: usize,
    /// Set while a `DropAndResync` subscriber is behind: the keys it missed.
    missed: Option<FastMap<ObjectKey, Missed<T>>>,
    /// The informer stopped.
    closed: bool,
    /// The subscription was dropped.
    gone: bool,
}

impl<T> Queue<T> {
    /// Events counted against the bound.
    fn depth(&self) -> usize {
        self.events.len() - self.snapshot_left
    }
}

/// What the informer and one subscription share.
pub(crate) struct Link<T> {
    queue: Mutex<Queue<T>>,
    /// The subscription waiting for an event.
    rx_waker: AtomicWaker,
    /// The informer waiting for room (`Block`).
    room_waker: AtomicWaker,
    buffer: Option<usize>,
    overflow: Overflow,
    /// Cut off by `Disconnect` (set under the queue lock).
    lagged: AtomicBool,
    depth: Gauge,
    dropped: Counter,
}

impl<T> Link<T> {
    fn full(&self, queue: &Queue<T>) -> bool {
        self.buffer.is_some_and(|bound| queue.depth() >= bound)
    }
}

/// Builds the resync of a `DropAndResync` subscriber from the informer's local store, under
/// the informer's dispatch lock (so no event is dispatched meanwhile).
pub(crate) trait Replay<T>: Send + Sync {
    /// Moves what `link`'s subscriber missed into its queue as events, if it missed anything.
    fn replay(&self, link: &Link<T>);
}

/// Appends the resync of `missed` to `events`, reading current states with `current`.
fn resync_events<T>(
    missed: FastMap<ObjectKey, Missed<T>>,
    current: impl Fn(&ObjectKey) -> Option<Arc<T>>,
    events: &mut VecDeque<Event<T>>,
) {
    for (key, missed) in missed {
        match (missed, current(&key)) {
            (Missed::Nothing { initial }, Some(object)) => events.push_back(Event::Added { object, initial }),
            (Missed::Nothing { .. }, None) => {}
            (Missed::Held(old), Some(new)) => {
                let resync = Arc::ptr_eq(&old, &new);
                events.push_back(Event::Updated { old, new, resync });
            }
            (Missed::Held(last), None) => {
                events.push_back(Event::Deleted(Deletion::FinalStateUnknown { key, last_known: Some(last) }))
            }
            (Missed::Deleted(last_known), current) => {
                // Deleted, and maybe created again: the deletion, then the object now there.
                events.push_back(Event::Deleted(Deletion::FinalStateUnknown { key, last_known }));
                if let Some(object) = current {
                    events.push_back(Event::Added { object, initial: false });
                }
            }
        }
    }
}

impl<T> Link<T> {
    /// Queues the resync of the keys missed, if any, reading their current states with
    /// `current`. The caller holds the informer's dispatch lock.
    pub(crate) fn resync_from(&self, current: impl Fn(&ObjectKey) -> Option<Arc<T>>) {
        let mut queue = self.queue.lock();
        if let Some(missed) = queue.missed.take() {
            resync_events(missed, current, &mut queue.events);
            self.depth.set(queue.events.len() as f64);
        }
    }
}

/// A stream of [`Event`]s for one subscriber of an informer.
///
/// Each subscription has its own buffer, so a slow subscriber never holds up the informer or
/// the other subscribers unless it asked to ([`Overflow::Block`]). Its bound and policy come
/// from [`SubscribeOptions`]; [`subscribe`](super::InformerHandle::subscribe) uses the
/// informer's [`subscriber_buffer`](super::InformerConfig::subscriber_buffer) with
/// [`Overflow::Disconnect`]. The stream ends when the informer stops, or when a
/// `Disconnect` subscriber is cut off ([`is_lagged`](Self::is_lagged)).
#[must_use = "a subscription buffers events until it is read or dropped"]
pub struct Subscription<T> {
    link: Arc<Link<T>>,
    replay: Weak<dyn Replay<T>>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("buffered", &self.buffered())
            .field("buffer", &self.link.buffer)
            .field("overflow", &self.link.overflow)
            .finish_non_exhaustive()
    }
}

impl<T> Subscription<T> {
    /// The next event; `None` once the informer stopped or this subscriber was cut off.
    pub async fn recv(&mut self) -> Option<Event<T>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next event if one is ready, without waiting (a pending resync is built now).
    pub fn try_recv(&mut self) -> Option<Event<T>> {
        loop {
            let mut queue = self.link.queue.lock();
            if let Some(event) = self.take(&mut queue) {
                return Some(event);
            }
            if queue.missed.is_none() || queue.closed {
                return None;
            }
            drop(queue);
            self.resync()?;
        }
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        loop {
            self.link.rx_waker.register(cx.waker());
            let mut queue = self.link.queue.lock();
            if let Some(event) = self.take(&mut queue) {
                return Poll::Ready(Some(event));
            }
            if queue.closed || self.link.lagged.load(Ordering::Relaxed) {
                return Poll::Ready(None);
            }
            if queue.missed.is_none() {
                return Poll::Pending;
            }
            drop(queue);
            if self.resync().is_none() {
                return Poll::Ready(None);
            }
        }
    }

    /// Pops the front event, telling a waiting informer when room appears.
    fn take(&self, queue: &mut Queue<T>) -> Option<Event<T>> {
        let event = queue.events.pop_front()?;
        queue.snapshot_left = queue.snapshot_left.saturating_sub(1);
        self.link.depth.set(queue.events.len() as f64);
        if self.link.overflow == Overflow::Block && !self.link.full(queue) {
            self.link.room_waker.wake();
        }
        Some(event)
    }

    /// Queues the resync of the keys missed; `None` if the informer is gone.
    fn resync(&self) -> Option<()> {
        let replay = self.replay.upgrade()?;
        replay.replay(&self.link);
        Some(())
    }

    /// Events buffered and not read yet (a pending resync counts once built).
    pub fn buffered(&self) -> usize {
        self.link.queue.lock().events.len()
    }

    /// Keys whose events were dropped and will be resynced ([`Overflow::DropAndResync`]).
    pub fn missed_keys(&self) -> usize {
        self.link.queue.lock().missed.as_ref().map_or(0, FastMap::len)
    }

    /// True when the informer cut this subscriber off ([`Overflow::Disconnect`]).
    pub fn is_lagged(&self) -> bool {
        self.link.lagged.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut queue = self.link.queue.lock();
        queue.gone = true;
        queue.events.clear();
        queue.missed = None;
        drop(queue);
        // An informer waiting for this subscriber's room must not wait for a reader that left.
        self.link.room_waker.wake();
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Event<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        self.poll_recv(cx)
    }
}

/// Every subscriber of one informer. The informer holds its lock while it updates the store
/// and dispatches, so a new subscriber's snapshot and the events after it never overlap.
pub(crate) struct Hub<T> {
    subscribers: Vec<Arc<Link<T>>>,
    /// The informer's name, the `name` label of subscriber metrics.
    name: String,
    /// The bound of [`subscribe`](super::InformerHandle::subscribe).
    default_buffer: Option<usize>,
    closed: bool,
    lagged: u64,
}

impl<T> Hub<T> {
    pub(crate) fn new(name: String, default_buffer: Option<usize>) -> Self {
        Self { subscribers: Vec::new(), name, default_buffer, closed: false, lagged: 0 }
    }

    /// The options of a plain `subscribe`.
    pub(crate) fn default_options(&self) -> SubscribeOptions {
        SubscribeOptions { buffer: self.default_buffer, overflow: Overflow::Disconnect, name: None }
    }

    /// A new subscription that first receives `snapshot` as initial adds.
    pub(crate) fn subscribe(
        &mut self,
        options: SubscribeOptions,
        snapshot: Vec<Arc<T>>,
        replay: Weak<dyn Replay<T>>,
    ) -> Subscription<T> {
        let (depth, dropped) = match &options.name {
            Some(subscriber) => (
                telemetry::subscriber_gauge(&self.name, subscriber),
                telemetry::subscriber_counter(&self.name, subscriber),
            ),
            None => (Gauge::noop(), Counter::noop()),
        };
        let snapshot_left = snapshot.len();
        let events = snapshot.into_iter().map(|object| Event::Added { object, initial: true }).collect();
        depth.set(snapshot_left as f64);
        let link = Arc::new(Link {
            queue: Mutex::new(Queue { events, snapshot_left, missed: None, closed: self.closed, gone: false }),
            rx_waker: AtomicWaker::new(),
            room_waker: AtomicWaker::new(),
            buffer: options.buffer,
            overflow: options.overflow,
            lagged: AtomicBool::new(false),
            depth,
            dropped,
        });
        if !self.closed {
            self.subscribers.push(Arc::clone(&link));
        }
        Subscription { link, replay }
    }

    /// Sends `event` to every subscriber, applying each one's overflow policy and dropping
    /// those gone or cut off. `key_fn` keys the events a `DropAndResync` subscriber misses.
    pub(crate) fn dispatch(&mut self, event: Event<T>, key_fn: &KeyFn<T>) {
        let before = self.subscribers.len();
        let mut lagged = 0;
        self.subscribers.retain(|link| {
            let kept = send(link, event.clone(), key_fn);
            if !kept && link.lagged.load(Ordering::Relaxed) {
                lagged += 1;
            }
            kept
        });
        self.lagged += lagged;
        if before != self.subscribers.len() {
            tracing::debug!(dropped = before - self.subscribers.len(), lagged, "informer subscribers removed");
        }
    }

    /// `Ready` when every [`Block`](Overflow::Block) subscriber has room for more events.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        for link in &self.subscribers {
            if link.overflow != Overflow::Block {
                continue;
            }
            let queue = link.queue.lock();
            if !queue.gone && link.full(&queue) {
                // Registered under the queue lock: a reader that makes room after this wakes us.
                link.room_waker.register(cx.waker());
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }

    /// Ends every subscription (their streams end after the buffered events).
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for link in self.subscribers.drain(..) {
            link.queue.lock().closed = true;
            link.rx_waker.wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub(crate) fn lagged(&self) -> u64 {
        self.lagged
    }
}

/// Queues `event` for one subscriber under its policy; false when it is gone or cut off.
fn send<T>(link: &Link<T>, event: Event<T>, key_fn: &KeyFn<T>) -> bool {
    let mut queue = link.queue.lock();
    if queue.gone {
        return false;
    }
    if let Some(missed) = &mut queue.missed {
        fold(missed, event, key_fn);
        link.dropped.increment(1);
        return true;
    }
    if link.full(&queue) {
        match link.overflow {
            Overflow::Disconnect => {
                link.lagged.store(true, Ordering::Relaxed);
                drop(queue);
                link.rx_waker.wake();
                return false;
            }
            Overflow::DropAndResync => {
                let backlog = std::mem::take(&mut queue.events);
                queue.snapshot_left = 0;
                let mut missed = FastMap::default();
                let dropped = backlog.len() as u64 + 1;
                for old in backlog {
                    fold(&mut missed, old, key_fn);
                }
                fold(&mut missed, event, key_fn);
                queue.missed = Some(missed);
                link.dropped.increment(dropped);
                link.depth.set(0.0);
                drop(queue);
                link.rx_waker.wake();
                return true;
            }
            // The informer waited for room before this pop: the pop's events go in whole.
            Overflow::Block => {}
        }
    }
    queue.events.push_back(event);
    link.depth.set(queue.events.len() as f64);
    drop(queue);
    link.rx_waker.wake();
    true
}

/// Remembers, for the key of a dropped `event`, the state its subscriber held before it (the
/// first dropped event of a key decides; later ones change nothing).
fn fold<T>(missed: &mut FastMap<ObjectKey, Missed<T>>, event: Event<T>, key_fn: &KeyFn<T>) {
    let (key, missed_state) = match event {
        Event::Added { object, initial } => match key_fn.key(&object) {
            Ok(key) => (key, Missed::Nothing { initial }),
            // The store refused an object without a key: there is nothing to resync.
            Err(_) => return,
        },
        Event::Updated { old, new, .. } => match key_fn.key(&new) {
            Ok(key) => (key, Missed::Held(old)),
            Err(_) => return,
        },
        Event::Deleted(Deletion::FinalStateUnknown { key, last_known }) => (key, Missed::Deleted(last_known)),
        Event::Deleted(Deletion::Known(object)) => match key_fn.key(&object) {
            Ok(key) => (key, Missed::Deleted(Some(object))),
            Err(_) => return,
        },
    };
    missed.entry(key).or_insert(missed_state);
}

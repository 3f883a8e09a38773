//! What subscribers of an [`Informer`](super::Informer) receive, and how they are buffered.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::Deletion;

/// One change seen by an informer's subscribers, after the local store was updated.
#[derive(Debug)]
pub enum Event<T> {
    /// An object appeared. `initial` is true for objects of the initial list and for the
    /// current-state snapshot a late subscriber receives first.
    Added {
        /// The new object.
        object: Arc<T>,
        /// Part of the initial list or of the late-join snapshot.
        initial: bool,
    },
    /// An object changed, or was re-delivered by a resync (`resync`, then `old` and `new` are
    /// usually the same object) or by a relist.
    Updated {
        /// The state held before.
        old: Arc<T>,
        /// The state held now.
        new: Arc<T>,
        /// True when the update comes from a periodic resync, not from the source.
        resync: bool,
    },
    /// An object was deleted (its final state may be unknown when a relist found it gone).
    Deleted(Deletion<T>),
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        match self {
            Event::Added { object, initial } => Event::Added { object: Arc::clone(object), initial: *initial },
            Event::Updated { old, new, resync } => {
                Event::Updated { old: Arc::clone(old), new: Arc::clone(new), resync: *resync }
            }
            Event::Deleted(d) => Event::Deleted(d.clone()),
        }
    }
}

/// Callbacks for an informer's events (client-go's `ResourceEventHandler`). Every method has
/// an empty default; implement the ones you need and run the handler with
/// [`InformerHandle::handler_task`](super::InformerHandle::handler_task).
pub trait EventHandler<T>: Send + 'static {
    /// An object was added; `initial` is true for the initial list / late-join snapshot.
    fn on_add(&mut self, object: &Arc<T>, initial: bool) {
        let _ = (object, initial);
    }
    /// An object changed (or was resynced: then `old` and `new` are usually equal).
    fn on_update(&mut self, old: &Arc<T>, new: &Arc<T>) {
        let _ = (old, new);
    }
    /// An object was deleted.
    fn on_delete(&mut self, deletion: &Deletion<T>) {
        let _ = deletion;
    }
}

/// A stream of [`Event`]s for one subscriber of an informer.
///
/// Each subscription has its own buffer, so a slow subscriber never holds up the informer or
/// the other subscribers. If the informer was configured with a
/// [`subscriber_buffer`](super::InformerConfig::subscriber_buffer) limit and more events than
/// that wait unread, the subscription is cut off: the stream ends after the events already
/// buffered and [`is_lagged`](Self::is_lagged) turns true. Subscribe again to start over
/// from the current state. The stream also ends when the informer stops.
#[derive(Debug)]
#[must_use = "a subscription buffers events until it is read or dropped"]
pub struct Subscription<T> {
    rx: mpsc::UnboundedReceiver<Event<T>>,
    buffered: Arc<AtomicUsize>,
    lagged: Arc<AtomicBool>,
}

impl<T> Subscription<T> {
    /// The next event; `None` once the informer stopped or this subscriber lagged.
    pub async fn recv(&mut self) -> Option<Event<T>> {
        let event = self.rx.recv().await;
        if event.is_some() {
            self.buffered.fetch_sub(1, Ordering::Relaxed);
        }
        event
    }

    /// The next event if one is buffered, without waiting.
    pub fn try_recv(&mut self) -> Option<Event<T>> {
        let event = self.rx.try_recv().ok();
        if event.is_some() {
            self.buffered.fetch_sub(1, Ordering::Relaxed);
        }
        event
    }

    /// Events buffered and not read yet.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// True when the informer cut this subscriber off for exceeding its buffer limit.
    pub fn is_lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Event<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let poll = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &poll {
            self.buffered.fetch_sub(1, Ordering::Relaxed);
        }
        poll
    }
}

/// The sending side of one subscription.
struct Subscriber<T> {
    tx: mpsc::UnboundedSender<Event<T>>,
    buffered: Arc<AtomicUsize>,
    lagged: Arc<AtomicBool>,
}

impl<T> Subscriber<T> {
    /// Queues `event`; false when the subscriber is gone or over `limit` (then cut off).
    fn send(&self, event: Event<T>, limit: Option<usize>) -> bool {
        if limit.is_some_and(|limit| self.buffered.load(Ordering::Relaxed) >= limit) {
            self.lagged.store(true, Ordering::Relaxed);
            return false;
        }
        self.buffered.fetch_add(1, Ordering::Relaxed);
        self.tx.send(event).is_ok()
    }
}

/// Every subscriber of one informer. The informer holds its lock while it updates the store
/// and dispatches, so a new subscriber's snapshot and the events after it never overlap.
pub(crate) struct Hub<T> {
    subscribers: Vec<Subscriber<T>>,
    limit: Option<usize>,
    closed: bool,
    lagged: u64,
}

impl<T> Hub<T> {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self { subscribers: Vec::new(), limit, closed: false, lagged: 0 }
    }

    /// A new subscription that first receives `snapshot` as initial adds.
    pub(crate) fn subscribe(&mut self, snapshot: impl IntoIterator<Item = Arc<T>>) -> Subscription<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        let subscriber =
            Subscriber { tx, buffered: Arc::new(AtomicUsize::new(0)), lagged: Arc::new(AtomicBool::new(false)) };
        let subscription =
            Subscription { rx, buffered: Arc::clone(&subscriber.buffered), lagged: Arc::clone(&subscriber.lagged) };
        if !self.closed {
            // The snapshot is not limited: it is what the subscriber asked for.
            for object in snapshot {
                subscriber.send(Event::Added { object, initial: true }, None);
            }
            self.subscribers.push(subscriber);
        }
        subscription
    }

    /// Sends `event` to every subscriber, dropping those gone or over their limit.
    pub(crate) fn dispatch(&mut self, event: Event<T>) {
        let limit = self.limit;
        let before = self.subscribers.len();
        let mut lagged = 0;
        self.subscribers.retain(|s| {
            let kept = s.send(event.clone(), limit);
            if !kept && s.lagged.load(Ordering::Relaxed) {
                lagged += 1;
            }
            kept
        });
        self.lagged += lagged;
        if before != self.subscribers.len() {
            tracing::debug!(dropped = before - self.subscribers.len(), lagged, "informer subscribers removed");
        }
    }

    /// Ends every subscription (their streams end after the buffered events).
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.subscribers.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub(crate) fn lagged(&self) -> u64 {
        self.lagged
    }
}

//! Wake-ups shared by the queues: async waiters (`tokio::sync::Notify`) and blocking threads
//! (`parking_lot::Condvar`) wait on the same state; producers waiting for room
//! ([`Store::poll_ready`](informer_core::Store::poll_ready)) wait on [`RoomWaiters`].
//!
//! Waiters register (under the queue's lock) before they sleep, so a producer that finds no
//! registered waiter (under the same lock) skips the wake-up entirely: the common case of a
//! busy queue costs one atomic load per change, not a notification.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

use super::Capacity;

/// Wakes async and blocking waiters of one queue.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    notify: Notify,
    condvar: Condvar,
    /// Async and blocking waiters registered now.
    waiting: AtomicUsize,
}

/// An async waiter's registration; unregisters on drop (also when the wait is cancelled).
struct Registration<'a>(&'a Wakers);

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Wakers {
    /// One more item is available: wake one waiter of each kind, if any wait (a surplus
    /// wake-up only makes a waiter look again). Call it with the queue's lock held.
    pub(crate) fn wake_one(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_one();
            self.condvar.notify_one();
        }
    }

    /// The state changed for everyone (closed): wake every waiter.
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
        self.condvar.notify_all();
    }

    /// Registers an async waiter (call with the queue's lock held).
    fn register(&self) -> Registration<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Registration(self)
    }

    /// Blocks the current thread until woken (the guard is released meanwhile).
    fn wait_blocking<S>(&self, guard: &mut MutexGuard<'_, S>) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.condvar.wait(guard);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits until `next`, run under `state`'s lock each time the queue may have changed,
    /// returns something (an entry, or the queue's closed error), and returns it: the pop loop
    /// of every queue. Cancel-safe: the wait takes nothing from the queue.
    pub(crate) async fn wait_for<S, R>(
        &self,
        state: &Mutex<S>,
        mut next: impl FnMut(&mut MutexGuard<'_, S>) -> Option<R>,
    ) -> R {
        loop {
            // Enabled before the lock is taken: a wake-up between the check and the wait is kept.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _registration = {
                let mut guard = state.lock();
                if let Some(found) = next(&mut guard) {
                    return found;
                }
                self.register()
            };
            notified.await;
        }
    }

    /// [`wait_for`](Self::wait_for), blocking the current thread.
    pub(crate) fn wait_for_blocking<S, R>(
        &self,
        state: &Mutex<S>,
        mut next: impl FnMut(&mut MutexGuard<'_, S>) -> Option<R>,
    ) -> R {
        let mut guard = state.lock();
        loop {
            if let Some(found) = next(&mut guard) {
                return found;
            }
            self.wait_blocking(&mut guard);
        }
    }
}

/// Tasks waiting in [`Store::poll_ready`](informer_core::Store::poll_ready) for a bounded
/// queue to drop below its capacity. Kept inside the queue's state, so registering and
/// waking happen under the queue's lock and a pop cannot slip between a full check and the
/// registration.
#[derive(Debug, Default)]
pub(crate) struct RoomWaiters(Vec<Waker>);

impl RoomWaiters {
    /// Registers `waker` (once: a task that polls again replaces nothing).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    /// Wakes and forgets every registered task.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }

    /// Wakes every registered task if a queue holding `queued` entries is below `capacity`'s
    /// limit (after a pop or a replace made room).
    pub(crate) fn wake_if_room(&mut self, capacity: Capacity, queued: usize) {
        if capacity.limit().is_some_and(|limit| queued < limit) {
            self.wake_all();
        }
    }
}

/// `poll_ready` of a queue holding `queued` entries under `capacity`: `Pending` (with `cx`
/// registered in `waiters`) while a bounded queue holds `n` or more entries and is open.
pub(crate) fn poll_room(
    capacity: Capacity,
    queued: usize,
    closed: bool,
    waiters: &mut RoomWaiters,
    cx: &mut Context<'_>,
) -> Poll<()> {
    match capacity.limit() {
        Some(limit) if queued >= limit && !closed => {
            waiters.register(cx.waker());
            Poll::Pending
        }
        _ => Poll::Ready(()),
    }
}

/// Whether a queue's first list was handled, for `wait_synced`: set once synced, or once closed
/// before that (then `wait_synced` answers false).
#[derive(Debug)]
pub(crate) struct SyncSignal(watch::Sender<SyncPhase>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncPhase {
    NotSynced,
    Synced,
    ClosedBeforeSync,
}

impl SyncSignal {
    pub(crate) fn new() -> Self {
        Self(watch::channel(SyncPhase::NotSynced).0)
    }

    /// The queue is synced (its waiters wake once).
    pub(crate) fn synced(&self) {
        self.0.send_if_modified(|p| {
            let changed = *p != SyncPhase::Synced;
            *p = SyncPhase::Synced;
            changed
        });
    }

    /// The queue closed: waiters that are still waiting get `false`.
    pub(crate) fn closed(&self) {
        self.0.send_if_modified(|p| {
            let changed = *p == SyncPhase::NotSynced;
            if changed {
                *p = SyncPhase::ClosedBeforeSync;
            }
            changed
        });
    }

    /// Waits until synced (`true`) or closed before that (`false`).
    pub(crate) async fn wait(&self) -> bool {
        let mut rx = self.0.subscribe();
        match rx.wait_for(|p| *p != SyncPhase::NotSynced).await {
            Ok(phase) => *phase == SyncPhase::Synced,
            Err(_) => false,
        }
    }
}

/// A waker that counts its wake-ups, for the queues' `poll_ready` tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct CountingWaker(AtomicUsize);

#[cfg(test)]
impl CountingWaker {
    /// A waker and its counter.
    pub(crate) fn new() -> (std::sync::Arc<Self>, Waker) {
        let counter = std::sync::Arc::new(Self::default());
        (std::sync::Arc::clone(&counter), Waker::from(counter))
    }

    /// Wake-ups so far.
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

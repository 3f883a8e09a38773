//! Wake-ups shared by the queues: async waiters (`tokio::sync::Notify`) and blocking threads
//! (`parking_lot::Condvar`) wait on the same state.

use parking_lot::{Condvar, MutexGuard};
use tokio::sync::Notify;

/// Wakes async and blocking waiters of one queue.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    notify: Notify,
    condvar: Condvar,
}

impl Wakers {
    /// One more item is available: wake one waiter of each kind (a surplus wake-up only makes
    /// a waiter look again).
    pub(crate) fn wake_one(&self) {
        self.notify.notify_one();
        self.condvar.notify_one();
    }

    /// The state changed for everyone (closed): wake every waiter.
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
        self.condvar.notify_all();
    }

    /// The async side; callers `enable()` a `notified()` future before checking the state.
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }

    /// Blocks the current thread until woken (the guard is released meanwhile).
    pub(crate) fn wait_blocking<S>(&self, guard: &mut MutexGuard<'_, S>) {
        self.condvar.wait(guard);
    }
}

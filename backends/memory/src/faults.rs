//! Fault injection for tests: the hooks a [`MemorySource`](crate::MemorySource) offers to
//! simulate what real servers do to their clients.

use std::sync::Arc;

use crate::source::Inner;

/// Fault hooks of one [`MemorySource`](crate::MemorySource), from
/// [`MemorySource::faults`](crate::MemorySource::faults).
///
/// ```
/// use informer_memory::MemorySource;
/// let source = MemorySource::<u8>::new();
/// source.faults().fail_next_calls(2);
/// assert_eq!(source.faults().pending_failures(), 2);
/// ```
pub struct Faults<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

/// How an open watch is ended by a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchKill {
    /// The stream ends cleanly (server closed it: timeout, restart).
    Close,
    /// The stream yields a transient error (connection reset).
    Break,
    /// The stream yields an expired error (history gone).
    Expire,
}

impl<T: Send + Sync + 'static> Faults<T> {
    /// Ends every open watch cleanly, as a server timeout or restart does. Clients resume.
    pub fn drop_watches(&self) {
        self.inner.kill_watches(WatchKill::Close);
    }

    /// Ends every open watch with a transient error, as a reset connection does.
    pub fn break_watches(&self) {
        self.inner.kill_watches(WatchKill::Break);
    }

    /// Forgets the whole history (a compaction at the current revision) and ends every open
    /// watch with an *expired* error, as Kubernetes does with `410 Gone` to watchers whose
    /// version fell out of its window. Clients must relist.
    pub fn expire_history(&self) {
        self.inner.compact_all();
        self.inner.kill_watches(WatchKill::Expire);
    }

    /// Makes the next `n` list, watch and streaming-list calls fail with a transient error.
    pub fn fail_next_calls(&self, n: u32) {
        self.inner.state.lock().fail_next = n;
    }

    /// How many injected failures are still to come.
    pub fn pending_failures(&self) -> u32 {
        self.inner.state.lock().fail_next
    }
}

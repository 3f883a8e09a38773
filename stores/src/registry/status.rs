//! What an [`Informers`](super::Informers) registry reports: refused requests
//! ([`RegistryError`]) and where each informer stands ([`InformerStatus`], [`NotSynced`]).

use std::fmt;

use informer_core::SyncState;

use super::SourceKey;

/// Why an [`Informers`](super::Informers) registry refused a request. Each variant names the
/// key.
///
/// ```
/// use informer_stores::{RegistryError, SourceKey};
/// let err = RegistryError::TypeMismatch {
///     key: SourceKey::new("pods", ""),
///     registered: "Informer<Pod, Indexer<Pod>>".into(),
///     requested: "Informer<Node, Cache<Node>>".into(),
/// };
/// assert!(err.to_string().contains("pods") && err.to_string().contains("Informer<Node"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The key is registered with another object or store type than the one asked for.
    #[error("informer `{key}` is registered as {registered}, not {requested}")]
    TypeMismatch {
        /// The key asked for.
        key: SourceKey,
        /// The types it is registered with: `Informer<object, store>`.
        registered: String,
        /// The types asked for: `Informer<object, store>`.
        requested: String,
    },
    /// The registry was shut down: it starts no more informers.
    #[error("informer `{key}`: the registry was shut down")]
    ShutDown {
        /// The key asked for.
        key: SourceKey,
    },
    /// [`Informers::start`](super::Informers::start) was called outside a tokio runtime.
    #[error("cannot start informers: not inside a tokio runtime ({reason})")]
    NoRuntime {
        /// What tokio said.
        reason: String,
    },
}

/// Where one informer of a registry stands.
///
/// ```
/// use informer_core::SyncState;
/// use informer_stores::{InformerStatus, SourceKey};
/// let status = InformerStatus { key: SourceKey::new("pods", ""), started: true, synced: false,
///     sync_state: SyncState::NotSynced };
/// assert_eq!(status.to_string(), "`pods` (not synced)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformerStatus {
    /// The informer's key.
    pub key: SourceKey,
    /// True once the registry spawned it ([`Informers::start`](super::Informers::start)).
    pub started: bool,
    /// True once its first list is in its store and delivered
    /// ([`InformerHandle::has_synced`](crate::InformerHandle::has_synced)).
    pub synced: bool,
    /// Its reflector's sync state: why it is not synced, if something fails.
    pub sync_state: SyncState,
}

impl fmt::Display for InformerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.started {
            return write!(f, "`{}` (not started)", self.key);
        }
        match (&self.sync_state, self.synced) {
            (SyncState::Synced, false) => write!(f, "`{}` (listed, delivering the first list)", self.key),
            (state, _) => write!(f, "`{}` ({state})", self.key),
        }
    }
}

/// [`Informers::wait_all_synced_timeout`](super::Informers::wait_all_synced_timeout) gave up:
/// these informers had not synced, and why.
///
/// ```
/// use informer_core::SyncState;
/// use informer_stores::{InformerStatus, NotSynced, SourceKey};
/// let laggard = InformerStatus { key: SourceKey::new("nodes", ""), started: true, synced: false,
///     sync_state: SyncState::NotSynced };
/// let err = NotSynced { unsynced: vec![laggard], stopped: false };
/// assert_eq!(err.to_string(), "1 informer not synced: `nodes` (not synced)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotSynced {
    /// The informers that had not synced, in key order.
    pub unsynced: Vec<InformerStatus>,
    /// True if the registry was shut down while waiting.
    pub stopped: bool,
}

impl fmt::Display for NotSynced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.unsynced.len();
        write!(f, "{n} informer{} not synced", if n == 1 { "" } else { "s" })?;
        if self.stopped {
            f.write_str(" (the registry was shut down)")?;
        }
        for (i, status) in self.unsynced.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(f, "{status}")?;
        }
        Ok(())
    }
}

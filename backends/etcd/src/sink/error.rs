//! [`SinkError`]: why a sink could not start or stopped.

/// Why an [`EtcdSink`](super::EtcdSink) could not start or stopped. Every message names the destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The configuration cannot work (a state key inside the prefix, too few ops per txn).
    #[error("etcd sink {destination}: {reason}")]
    Config {
        /// The destination.
        destination: String,
        /// What is wrong.
        reason: String,
    },
    /// The destination could not be reached or read at start.
    #[error("etcd sink {destination}: {reason}")]
    Unavailable {
        /// The destination.
        destination: String,
        /// etcd's answer.
        reason: String,
    },
    /// The state key holds something that is not this mirror's state; it is not overwritten.
    #[error("etcd sink {destination}: state key {key:?} holds a foreign value ({reason}); choose another state key")]
    ForeignState {
        /// The destination.
        destination: String,
        /// The state key.
        key: String,
        /// Why it is not a state record.
        reason: String,
    },
    /// The destination refused a write (authentication, permission, limits).
    #[error("etcd sink {destination}: the destination refused a write ({what}): {reason}")]
    Refused {
        /// The destination.
        destination: String,
        /// What was being written.
        what: String,
        /// etcd's answer.
        reason: String,
    },
    /// Someone else changed the state key: two writers share the destination.
    #[error(
        "etcd sink {destination}: state key {key:?} was changed by another writer (expected mod_revision {expected}); stopped"
    )]
    Fenced {
        /// The destination.
        destination: String,
        /// The state key.
        key: String,
        /// The mod_revision this sink wrote last.
        expected: i64,
    },
}

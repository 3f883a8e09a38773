//! What a coordination service must offer the [`ShardOwner`](crate::ShardOwner): a member's
//! lease, the live members, and one owner record per shard that only a live lease can hold.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::stream::BoxStream;

/// The fencing token of one ownership of a shard: it changes every time the shard changes
/// hands (etcd: the owner key's create revision; Kubernetes: the Lease's resourceVersion at
/// acquisition). Writes made on behalf of a shard can be guarded by it, so that a former owner
/// that was cut off cannot overwrite its successor's work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence(pub String);

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The member's lease is gone (expired or revoked): everything it owned may already be
    /// someone else's.
    #[error("the lease of member {member} in {service} is lost: {reason}")]
    Lost {
        /// The member whose lease is gone.
        member: String,
        /// The coordination service, e.g. `etcd 127.0.0.1:2379 /informer/shards/scheduler/`.
        service: String,
        /// What the service said.
        reason: String,
    },
    /// The service could not be reached or answered an error; the operation may be retried.
    #[error("{service}: {operation} failed: {reason}")]
    Unavailable {
        /// The coordination service.
        service: String,
        /// What was attempted, e.g. `renewing lease 7587…`.
        operation: String,
        /// The underlying error.
        reason: String,
    },
    /// The request can never succeed as asked (e.g. a member or group name the service cannot
    /// store); retrying does not help, a configuration change does.
    #[error("{service}: {reason}")]
    Invalid {
        /// The coordination service.
        service: String,
        /// What is wrong, naming the value.
        reason: String,
    },
}

impl LeaseError {
    /// True for [`LeaseError::Lost`].
    ///
    /// ```
    /// use informer_shards::LeaseError;
    /// let lost = LeaseError::Lost { member: "a".into(), service: "etcd".into(), reason: "expired".into() };
    /// assert!(lost.is_lost());
    /// ```
    pub fn is_lost(&self) -> bool {
        matches!(self, LeaseError::Lost { .. })
    }

    /// True for [`LeaseError::Invalid`]: retrying will not help.
    ///
    /// ```
    /// use informer_shards::LeaseError;
    /// let invalid = LeaseError::Invalid { service: "kubernetes".into(), reason: "bad name".into() };
    /// assert!(invalid.is_invalid() && !invalid.is_lost());
    /// ```
    pub fn is_invalid(&self) -> bool {
        matches!(self, LeaseError::Invalid { .. })
    }
}

/// A coordination service that can hold shard ownership: etcd (`EtcdLeases`, feature `etcd`)
/// or Kubernetes Lease objects (`KubeLeases`, feature `kube`).
///
/// The contract:
/// * [`join`](Self::join) creates a lease with the given TTL for `member` and records the member
///   as live while the lease lives. The service expires the lease on its own clock when it is
///   not renewed.
/// * [`renew`](Self::renew) extends the lease and answers the TTL granted, counted from no
///   earlier than the moment `renew` was called; [`LeaseError::Lost`] when the lease is gone.
/// * [`try_acquire`](Self::try_acquire) makes the member the owner of `shard` if nobody owns it
///   and answers its [`Fence`]; `None` if another member owns it. Ownership is tied to the
///   member's lease: it ends when the lease expires, without any call.
/// * [`join`](Self::join) answers [`LeaseError::Invalid`] for a member name the service cannot
///   store: the owner gives up instead of retrying.
/// * [`release`](Self::release) ends an ownership, only if `fence` is still the current one.
/// * [`changes`](Self::changes) wakes the owner when members or owners changed (it may also
///   wake spuriously; the owner re-reads). An ended stream is not an error: the owner polls.
pub trait LeaseService: Send + Sync + 'static {
    /// A member's lease, from [`join`](Self::join) until [`leave`](Self::leave) or its loss.
    type Session: Send + Sync + 'static;

    /// Joins the group as `member` with a lease of `ttl`.
    fn join(&self, member: &str, ttl: Duration) -> impl Future<Output = Result<Self::Session, LeaseError>> + Send;

    /// Renews the lease; answers the TTL granted.
    fn renew(&self, session: &Self::Session) -> impl Future<Output = Result<Duration, LeaseError>> + Send;

    /// The members whose leases live, sorted.
    fn members(&self) -> impl Future<Output = Result<Vec<String>, LeaseError>> + Send;

    /// Takes `shard` if it has no owner.
    fn try_acquire(
        &self,
        session: &Self::Session,
        shard: u32,
    ) -> impl Future<Output = Result<Option<Fence>, LeaseError>> + Send;

    /// Gives `shard` up, if `fence` is still its current ownership.
    fn release(
        &self,
        session: &Self::Session,
        shard: u32,
        fence: &Fence,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Ends the lease at once (a clean shutdown): the member's shards are free immediately.
    fn leave(&self, session: Self::Session) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Wake-ups when members or owners change.
    fn changes(&self) -> impl Future<Output = Result<BoxStream<'static, ()>, LeaseError>> + Send;

    /// The service for logs and errors, without credentials.
    fn describe(&self) -> String;
}

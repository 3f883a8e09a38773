//! Shard ownership in etcd: see [`EtcdLeases`].

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use informer_etcd::etcd_client::{
    Client, Compare, CompareOp, GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn, TxnOp, WatchOptions,
};
use tokio::sync::Mutex;

use crate::service::{Fence, LeaseError, LeaseService};

/// Shard ownership in etcd, with etcd's own leases.
///
/// Under a prefix, e.g. `/informer/shards/scheduler/`:
///
/// * `members/<member>`: one key per live member, attached to the member's lease;
/// * `owners/<shard>` (shard number, 5 digits): the member that owns the shard, attached to the
///   same lease, created only if absent (a transaction comparing its create revision with 0).
///
/// When a member's lease expires, etcd deletes both at once: its shards are free, and the
/// others see it in their watch of the prefix. The [`Fence`] of an ownership is the owner key's
/// create revision, which etcd never hands out twice: [`EtcdLeases::fence_compare`] guards a
/// write so that it only happens while that ownership lasts.
///
/// ```no_run
/// use informer_shards::{EtcdLeases, ShardConfig, ShardOwner};
/// use informer_etcd::etcd_client::Client;
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect(["127.0.0.1:2379"], None).await?;
/// let leases = EtcdLeases::new(client, "/informer/shards/scheduler/");
/// let owner = ShardOwner::new(leases, ShardConfig::new("scheduler", "replica-1", 8))?;
/// owner
///     .run(CancellationToken::new(), |assignment| async move {
///         // mirror and work on shard `assignment.shard` until `assignment.cancel` fires
///         assignment.cancel.cancelled().await;
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdLeases {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for EtcdLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdLeases").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// A member's lease in etcd and its keep-alive stream.
pub struct EtcdSession {
    member: String,
    lease: i64,
    keeper: Mutex<Option<(LeaseKeeper, LeaseKeepAliveStream)>>,
}

impl std::fmt::Debug for EtcdSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSession").field("member", &self.member).field("lease", &self.lease).finish()
    }
}

impl EtcdSession {
    /// The etcd lease id.
    pub fn lease_id(&self) -> i64 {
        self.lease
    }
}

impl EtcdLeases {
    /// Ownership records under `prefix` (a `/` is added if it does not end with one).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = informer_etcd::etcd_client::Client::connect(["127.0.0.1:2379"], None).await?;
    /// let leases = informer_shards::EtcdLeases::new(client, "/informer/shards/scheduler");
    /// assert_eq!(leases.owner_key(3), "/informer/shards/scheduler/owners/00003");
    /// # Ok(()) }
    /// ```
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self { client, prefix }
    }

    /// The key whose value names the owner of `shard`.
    pub fn owner_key(&self, shard: u32) -> String {
        format!("{}owners/{shard:05}", self.prefix)
    }

    fn member_key(&self, member: &str) -> String {
        format!("{}members/{member}", self.prefix)
    }

    /// A transaction condition that holds only while `fence` is the current ownership of
    /// `shard`: put it in the `when` of a write made on the shard's behalf.
    ///
    /// ```no_run
    /// # async fn demo(leases: informer_shards::EtcdLeases, fence: informer_shards::Fence,
    /// #               client: informer_etcd::etcd_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use informer_etcd::etcd_client::{Txn, TxnOp};
    /// let guard = leases.fence_compare(3, &fence)?;
    /// let done = client.kv_client().txn(Txn::new().when([guard]).and_then([TxnOp::put("/bindings/a", "node-1", None)])).await?;
    /// if !done.succeeded() { /* the shard changed hands: drop the work */ }
    /// # Ok(()) }
    /// ```
    pub fn fence_compare(&self, shard: u32, fence: &Fence) -> Result<Compare, LeaseError> {
        let revision: i64 = fence.0.parse().map_err(|_| LeaseError::Unavailable {
            service: self.describe(),
            operation: format!("guarding a write of shard {shard}"),
            reason: format!("fence {fence:?} is not an etcd revision"),
        })?;
        Ok(Compare::create_revision(self.owner_key(shard), CompareOp::Equal, revision))
    }

    fn unavailable(&self, operation: impl Into<String>, error: impl std::fmt::Display) -> LeaseError {
        LeaseError::Unavailable { service: self.describe(), operation: operation.into(), reason: error.to_string() }
    }

    fn lost(&self, session: &EtcdSession, reason: impl Into<String>) -> LeaseError {
        LeaseError::Lost { member: session.member.clone(), service: self.describe(), reason: reason.into() }
    }
}

impl LeaseService for EtcdLeases {
    type Session = EtcdSession;

    async fn join(&self, member: &str, ttl: Duration) -> Result<EtcdSession, LeaseError> {
        let seconds = ttl.as_secs().max(1) as i64;
        let grant = self
            .client
            .lease_client()
            .grant(seconds, None)
            .await
            .map_err(|e| self.unavailable(format!("granting a {seconds} s lease to {member}"), e))?;
        let key = self.member_key(member);
        let txn = Txn::new().when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)]).and_then([TxnOp::put(
            key.clone(),
            member,
            Some(PutOptions::new().with_lease(grant.id())),
        )]);
        let joined = self.client.kv_client().txn(txn).await.map_err(|e| self.unavailable(format!("writing {key}"), e));
        match joined {
            Ok(answer) if answer.succeeded() => {
                Ok(EtcdSession { member: member.to_string(), lease: grant.id(), keeper: Mutex::new(None) })
            }
            other => {
                let _ = self.client.lease_client().revoke(grant.id()).await;
                Err(other.err().unwrap_or_else(|| {
                    self.unavailable(
                        format!("joining as {member}"),
                        format!("{key} exists: another process has this member name, or its previous lease has not expired yet"),
                    )
                }))
            }
        }
    }

    async fn renew(&self, session: &EtcdSession) -> Result<Duration, LeaseError> {
        let mut guard = session.keeper.lock().await;
        if guard.is_none() {
            let pair = self
                .client
                .lease_client()
                .keep_alive(session.lease)
                .await
                .map_err(|e| self.unavailable(format!("opening keep-alive of lease {:x}", session.lease), e))?;
            *guard = Some(pair);
        }
        let Some((keeper, stream)) = guard.as_mut() else { unreachable!("set above") };
        let operation = format!("renewing lease {:x}", session.lease);
        if let Err(e) = keeper.keep_alive().await {
            *guard = None;
            return Err(self.unavailable(operation, e));
        }
        match stream.message().await {
            Ok(Some(answer)) if answer.ttl() > 0 => Ok(Duration::from_secs(answer.ttl() as u64)),
            Ok(Some(_)) => Err(self.lost(session, format!("lease {:x} expired", session.lease))),
            Ok(None) => {
                *guard = None;
                Err(self.unavailable(operation, "the keep-alive stream ended"))
            }
            Err(e) => {
                *guard = None;
                Err(self.unavailable(operation, e))
            }
        }
    }

    async fn members(&self) -> Result<Vec<String>, LeaseError> {
        let prefix = format!("{}members/", self.prefix);
        let answer = self
            .client
            .kv_client()
            .get(prefix.clone(), Some(GetOptions::new().with_prefix().with_keys_only()))
            .await
            .map_err(|e| self.unavailable(format!("listing {prefix}"), e))?;
        let mut members: Vec<String> =
            answer.kvs().iter().map(|kv| String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned()).collect();
        members.sort();
        Ok(members)
    }

    async fn try_acquire(&self, session: &EtcdSession, shard: u32) -> Result<Option<Fence>, LeaseError> {
        let key = self.owner_key(shard);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                session.member.as_str(),
                Some(PutOptions::new().with_lease(session.lease)),
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        let answer =
            self.client.kv_client().txn(txn).await.map_err(|e| self.unavailable(format!("acquiring {key}"), e))?;
        if answer.succeeded() {
            let revision = answer.header().map(|h| h.revision()).unwrap_or_default();
            return Ok(Some(Fence(revision.to_string())));
        }
        // Held: by this very lease (an acquisition whose answer was lost) or by another member.
        let held = answer.op_responses().into_iter().find_map(|op| match op {
            informer_etcd::etcd_client::TxnOpResponse::Get(get) => get.kvs().first().cloned(),
            _ => None,
        });
        Ok(held.filter(|kv| kv.lease() == session.lease).map(|kv| Fence(kv.create_revision().to_string())))
    }

    async fn release(&self, _session: &EtcdSession, shard: u32, fence: &Fence) -> Result<(), LeaseError> {
        let key = self.owner_key(shard);
        let txn = Txn::new().when([self.fence_compare(shard, fence)?]).and_then([TxnOp::delete(key.clone(), None)]);
        self.client.kv_client().txn(txn).await.map_err(|e| self.unavailable(format!("releasing {key}"), e))?;
        Ok(())
    }

    async fn leave(&self, session: EtcdSession) -> Result<(), LeaseError> {
        self.client
            .lease_client()
            .revoke(session.lease)
            .await
            .map_err(|e| self.unavailable(format!("revoking lease {:x} of {}", session.lease, session.member), e))?;
        Ok(())
    }

    async fn changes(&self) -> Result<BoxStream<'static, ()>, LeaseError> {
        let stream = self
            .client
            .watch_client()
            .watch(self.prefix.clone(), Some(WatchOptions::new().with_prefix()))
            .await
            .map_err(|e| self.unavailable(format!("watching {}", self.prefix), e))?;
        Ok(stream.take_while(|answer| std::future::ready(answer.is_ok())).map(|_| ()).boxed())
    }

    fn describe(&self) -> String {
        format!("etcd {}", self.prefix)
    }
}

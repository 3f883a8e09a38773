//! # Shards of one collection, owned by many processes through leases
//!
//! A collection too large or too busy for one process is split into `S` shards by a hash of
//! each object's key ([`informer_core::ShardRange`]; Kubernetes can filter on the server with
//! `shardSelector`, other sources filter on the client with [`informer_core::Sharded`]). `N`
//! processes split the shards between them. The coordination comes from a system the
//! deployment already trusts, never from something invented here: etcd leases
//! (`EtcdLeases`, feature `etcd`, on by default) or, by the same [`LeaseService`] contract,
//! Kubernetes Lease objects (`KubeLeases`, feature `kube`), whose expiry each member judges on
//! its own clock.
//!
//! ```text
//!  member a ─┐                              ┌─ owners/00000 = a (lease of a)
//!  member b ─┼─► LeaseService (etcd) ◄──────┼─ owners/00001 = b (lease of b)
//!  member c ─┘   members/{a,b,c}: leases    └─ ...
//!
//!  each member: ShardOwner ──► Assignment { shard, fence, cancel } ──► your work
//!                                                 (e.g. an informer on that shard's range)
//! ```
//!
//! * **Assignment**: every member computes the same split from the live members
//!   ([`assigned_shards`]): shard `i` to the `i mod n`-th member in name order.
//! * **Ownership**: a member takes a shard only if no one holds its owner record, which lives
//!   as long as the member's lease. A member that dies loses its shards when its lease expires
//!   (the TTL), and the others take them over.
//! * **Rebalancing**: when a member joins or leaves, each member gives up the shards no longer
//!   assigned to it (after their work stopped) and takes the newly assigned ones once free.
//! * **No shard in two places**: work on a shard starts only after its owner record was
//!   created, and stops before it is released. A member that cannot renew its lease stops all
//!   its work [`ShardConfig::margin`] before the lease could expire: before anyone else can take
//!   the shards. Writes on a shard's behalf can be fenced too (`EtcdLeases::fence_compare`,
//!   `KubeLeases::check_fence`).
//! * **Telemetry**: `informer_shards_owned` (gauge), `informer_shard_acquired_total`,
//!   `informer_shard_released_total`, `informer_shard_lease_lost_total` (counters), all with
//!   labels `group` and `member`; `tracing` logs each acquisition, release and lease loss.
//!
//! ```no_run
//! use informer_shards::{EtcdLeases, ShardConfig, ShardOwner};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = informer_etcd::etcd_client::Client::connect(["127.0.0.1:2379"], None).await?;
//! let owner = ShardOwner::new(
//!     EtcdLeases::new(client, "/informer/shards/scheduler/"),
//!     ShardConfig::new("scheduler", "replica-1", 16),
//! )?;
//! owner
//!     .run(CancellationToken::new(), |assignment| async move {
//!         let range = assignment.range(); // the shard's slice of the hash space
//!         println!("working on shard {} ({range})", assignment.shard);
//!         assignment.cancel.cancelled().await; // stop when told
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

mod assign;
#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "kube")]
mod kube;
mod owner;
mod service;

pub use assign::assigned_shards;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdLeases, EtcdSession};
#[cfg(feature = "kube")]
pub use kube::{GROUP_LABEL, KubeLeases, KubeSession, ROLE_LABEL, SESSION_ANNOTATION};
pub use owner::{Assignment, ShardConfig, ShardConfigError, ShardOwner};
pub use service::{Fence, LeaseError, LeaseService};

//! [`ShardOwner`]: joins a group, takes the shards assigned to this member, runs their work,
//! gives shards up when the group changes, and stops everything before its lease can expire.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::assign::assigned_shards;
use crate::service::{Fence, LeaseError, LeaseService};

/// Settings of a [`ShardOwner`].
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// The group's name, for logs and metrics (e.g. `scheduler`).
    pub group: String,
    /// This member's name, unique in the group (e.g. the pod or host name).
    pub member: String,
    /// How many shards the collection is split into (the same in every member).
    pub shards: u32,
    /// The lease's time to live: how long a member that stopped renewing keeps its shards.
    pub ttl: Duration,
    /// How often the lease is renewed (default `ttl / 3`).
    pub renew_every: Duration,
    /// How long before the lease could expire the member stops its work if it could not renew
    /// (default `ttl / 3`): a shard's work ends before anyone else can take the shard.
    pub margin: Duration,
    /// Re-read members and owners at least this often, besides the service's change
    /// notifications (default 1 s).
    pub poll: Duration,
}

impl ShardConfig {
    /// A member of `group` owning part of `shards` shards, with a 10 s lease.
    ///
    /// ```
    /// let config = informer_shards::ShardConfig::new("scheduler", "replica-1", 8);
    /// assert_eq!(config.ttl.as_secs(), 10);
    /// ```
    pub fn new(group: impl Into<String>, member: impl Into<String>, shards: u32) -> Self {
        Self {
            group: group.into(),
            member: member.into(),
            shards,
            ttl: Duration::from_secs(10),
            renew_every: Duration::from_millis(3_333),
            margin: Duration::from_millis(3_333),
            poll: Duration::from_secs(1),
        }
    }

    /// Sets the lease TTL, and renewal and margin to a third of it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = informer_shards::ShardConfig::new("g", "m", 4).with_ttl(Duration::from_secs(3));
    /// assert_eq!(config.renew_every, Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self.renew_every = ttl / 3;
        self.margin = ttl / 3;
        self
    }

    /// Checks the settings: at least one shard, a member name without `/`, a TTL of at least
    /// 2 s, and `renew_every + margin` below the TTL.
    ///
    /// ```
    /// let config = informer_shards::ShardConfig::new("scheduler", "a/b", 4);
    /// assert!(config.validate().unwrap_err().to_string().contains("without '/'"));
    /// ```
    pub fn validate(&self) -> Result<(), ShardConfigError> {
        if self.shards == 0 {
            return Err(ShardConfigError(format!("group {}: shards must be at least 1", self.group)));
        }
        if self.member.is_empty() || self.member.contains('/') {
            return Err(ShardConfigError(format!(
                "group {}: member name {:?} must be non-empty and without '/'",
                self.group, self.member
            )));
        }
        if self.ttl < Duration::from_secs(2) {
            return Err(ShardConfigError(format!(
                "group {}: a lease TTL of {:?} is too short (etcd counts whole seconds; at least 2 s)",
                self.group, self.ttl
            )));
        }
        if self.renew_every + self.margin >= self.ttl || self.renew_every.is_zero() {
            return Err(ShardConfigError(format!(
                "group {}: renew_every ({:?}) + margin ({:?}) must be less than the TTL ({:?})",
                self.group, self.renew_every, self.margin, self.ttl
            )));
        }
        Ok(())
    }
}

/// A [`ShardConfig`] that cannot work, with what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid shard configuration: {0}")]
pub struct ShardConfigError(String);

/// One shard given to this member: run its work until `cancel` fires.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The shard's number, `0..shards`.
    pub shard: u32,
    /// How many shards there are.
    pub shards: u32,
    /// This ownership's fencing token (see [`Fence`]).
    pub fence: Fence,
    /// Fires when the shard must be given up (rebalance, lease in danger, shutdown). The work
    /// must end promptly: the owner aborts it after [`ShardConfig::margin`] / 2.
    pub cancel: CancellationToken,
}

impl Assignment {
    /// The shard's part of the 64-bit hash space: the shard-th of `shards` equal ranges.
    ///
    /// ```
    /// use informer_shards::{Assignment, Fence};
    /// let a = Assignment { shard: 1, shards: 2, fence: Fence("7".into()), cancel: Default::default() };
    /// assert_eq!(a.range().start(), 1 << 63);
    /// ```
    pub fn range(&self) -> informer_core::ShardRange {
        informer_core::ShardRange::FULL
            .split(u64::from(self.shards))
            .ok()
            .and_then(|ranges| ranges.into_iter().nth(self.shard as usize))
            .expect("shards >= 1 and shard < shards, checked by ShardOwner::new")
    }
}

struct Running {
    fence: Fence,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for Running {
    /// A dropped [`ShardOwner::run`] future (its task aborted) must not leave work running on
    /// shards it can no longer renew.
    fn drop(&mut self) {
        self.cancel.cancel();
        self.task.abort();
    }
}

/// Owns a share of a group's shards through a [`LeaseService`]. See the [crate docs](crate).
pub struct ShardOwner<S: LeaseService> {
    service: Arc<S>,
    config: ShardConfig,
    owned: watch::Sender<BTreeSet<u32>>,
}

impl<S: LeaseService> std::fmt::Debug for ShardOwner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardOwner")
            .field("service", &self.service.describe())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: LeaseService> ShardOwner<S> {
    /// An owner for `config.member`; checks the configuration.
    ///
    /// ```no_run
    /// # async fn demo(client: informer_etcd::etcd_client::Client) {
    /// use informer_shards::{EtcdLeases, ShardConfig, ShardOwner};
    /// let owner = ShardOwner::new(EtcdLeases::new(client, "/shards/app/"), ShardConfig::new("app", "a", 0));
    /// assert!(owner.unwrap_err().to_string().contains("shards must be at least 1"));
    /// # }
    /// ```
    pub fn new(service: S, config: ShardConfig) -> Result<Self, ShardConfigError> {
        config.validate()?;
        Ok(Self { service: Arc::new(service), config, owned: watch::channel(BTreeSet::new()).0 })
    }

    /// The shards whose work runs now, updated as they change.
    ///
    /// ```no_run
    /// # async fn demo(owner: informer_shards::ShardOwner<informer_shards::EtcdLeases>) {
    /// let mut owned = owner.owned();
    /// owned.changed().await.ok();
    /// println!("now running {:?}", *owned.borrow());
    /// # }
    /// ```
    pub fn owned(&self) -> watch::Receiver<BTreeSet<u32>> {
        self.owned.subscribe()
    }

    /// Runs until `cancel` fires: joins, then keeps this member's shards. For every shard it
    /// acquires it spawns `work(assignment)`; it cancels the assignment and waits for the work
    /// to end before it gives the shard up. On `cancel` it stops all work, releases every shard
    /// and ends its lease, so the others take over at once.
    ///
    /// If the lease cannot be renewed until [`ShardConfig::margin`] before it could expire, all
    /// work is stopped (aborted if it does not end within half the margin), the loss is logged
    /// and counted (`informer_shard_lease_lost_total`), and the member joins again.
    ///
    /// Ends with an error only when the service refuses this member for good
    /// ([`LeaseError::Invalid`], e.g. a member name it cannot store).
    pub async fn run<W, F>(self, cancel: CancellationToken, mut work: W) -> Result<(), LeaseError>
    where
        W: FnMut(Assignment) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let labels = [("group", self.config.group.clone()), ("member", self.config.member.clone())];
        let lost_total = metrics::counter!("informer_shard_lease_lost_total", &labels);
        let mut backoff = Duration::from_millis(100);
        loop {
            let asked = Instant::now();
            let session = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                joined = self.service.join(&self.config.member, self.config.ttl) => joined,
            };
            let session = match session {
                Ok(session) => session,
                Err(e) if e.is_invalid() => return Err(e),
                Err(e) => {
                    warn!(group = %self.config.group, member = %self.config.member, error = %e, "cannot join; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.config.ttl / 2);
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            info!(group = %self.config.group, member = %self.config.member, service = %self.service.describe(), "joined");
            let mut session_run = SessionRun {
                owner: &self,
                session,
                deadline: asked + self.config.ttl - self.config.margin,
                running: BTreeMap::new(),
            };
            let ended = session_run.run(&cancel, &mut work).await;
            let SessionRun { session, mut running, .. } = session_run;
            match ended {
                Ok(()) => {
                    self.stop_all(&mut running, Some(&session)).await;
                    if let Err(e) = self.service.leave(session).await {
                        warn!(group = %self.config.group, member = %self.config.member, error = %e, "leaving");
                    }
                    return Ok(());
                }
                Err(lost) => {
                    // Stop before anyone else may take the shards: the deadline is a margin
                    // before the lease can expire on the service's side.
                    self.stop_all(&mut running, None).await;
                    lost_total.increment(1);
                    error!(group = %self.config.group, member = %self.config.member, error = %lost,
                        "lease lost: stopped the work of every shard; joining again");
                    let _ = tokio::time::timeout(self.config.margin, self.service.leave(session)).await;
                }
            }
        }
    }

    /// Cancels every shard's work and waits for it (aborting what is still running after half
    /// the margin); with a session, releases each shard after its work ended.
    async fn stop_all(&self, running: &mut BTreeMap<u32, Running>, session: Option<&S::Session>) {
        for r in running.values() {
            r.cancel.cancel();
        }
        for (shard, r) in std::mem::take(running) {
            self.stop_one(shard, r, session).await;
        }
        self.publish(running);
    }

    async fn stop_one(&self, shard: u32, mut r: Running, session: Option<&S::Session>) {
        r.cancel.cancel();
        if tokio::time::timeout(self.config.margin / 2, &mut r.task).await.is_err() {
            warn!(group = %self.config.group, member = %self.config.member, shard, "work did not stop in time; aborted");
            r.task.abort();
            let _ = (&mut r.task).await;
        }
        metrics::counter!("informer_shard_released_total", "group" => self.config.group.clone(), "member" => self.config.member.clone())
            .increment(1);
        if let Some(session) = session
            && let Err(e) = self.service.release(session, shard, &r.fence).await
        {
            // The lease still bounds the ownership: the shard frees itself when it expires.
            warn!(group = %self.config.group, member = %self.config.member, shard, error = %e, "releasing");
        }
        info!(group = %self.config.group, member = %self.config.member, shard, fence = %r.fence, "shard given up");
    }

    fn publish(&self, running: &BTreeMap<u32, Running>) {
        let shards: BTreeSet<u32> = running.keys().copied().collect();
        metrics::gauge!("informer_shards_owned", "group" => self.config.group.clone(), "member" => self.config.member.clone())
            .set(shards.len() as f64);
        self.owned.send_replace(shards);
    }
}

/// One lease's life: renew, reconcile, until cancelled (`Ok`) or lost (`Err`).
struct SessionRun<'a, S: LeaseService> {
    owner: &'a ShardOwner<S>,
    session: S::Session,
    deadline: Instant,
    running: BTreeMap<u32, Running>,
}

impl<S: LeaseService> SessionRun<'_, S> {
    async fn run<W, F>(&mut self, cancel: &CancellationToken, work: &mut W) -> Result<(), LeaseError>
    where
        W: FnMut(Assignment) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let config = &self.owner.config;
        let mut next_renew = Instant::now() + config.renew_every;
        let mut changes: Option<BoxStream<'static, ()>> = None;
        loop {
            if changes.is_none() {
                changes = self.owner.service.changes().await.ok();
            }
            match tokio::time::timeout_at(self.deadline, self.reconcile(work)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_lost() => return Err(e),
                Ok(Err(e)) => warn!(group = %config.group, member = %config.member, error = %e, "reading the group"),
                Err(_) => return Err(self.expired()),
            }
            let wake = async {
                match changes.as_mut() {
                    Some(stream) => stream.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep_until(self.deadline) => return Err(self.expired()),
                _ = tokio::time::sleep_until(next_renew) => {
                    let asked = Instant::now();
                    match tokio::time::timeout_at(self.deadline, self.owner.service.renew(&self.session)).await {
                        Ok(Ok(ttl)) => {
                            self.deadline = asked + ttl.saturating_sub(config.margin);
                            next_renew = asked + config.renew_every;
                        }
                        Ok(Err(e)) if e.is_lost() => return Err(e),
                        Ok(Err(e)) => {
                            warn!(group = %config.group, member = %config.member, error = %e, "renewing the lease; retrying");
                            next_renew = Instant::now() + (config.renew_every / 4).max(Duration::from_millis(100));
                        }
                        Err(_) => return Err(self.expired()),
                    }
                }
                alive = wake => if !alive { changes = None },
                _ = tokio::time::sleep(config.poll) => {}
            }
        }
    }

    fn expired(&self) -> LeaseError {
        LeaseError::Lost {
            member: self.owner.config.member.clone(),
            service: self.owner.service.describe(),
            reason: format!(
                "not renewed in time (TTL {:?}, margin {:?})",
                self.owner.config.ttl, self.owner.config.margin
            ),
        }
    }

    /// Gives up the shards no longer assigned here, takes the assigned ones that are free.
    async fn reconcile<W, F>(&mut self, work: &mut W) -> Result<(), LeaseError>
    where
        W: FnMut(Assignment) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let owner = self.owner;
        let config = &owner.config;
        let members = owner.service.members().await?;
        if !members.contains(&config.member) {
            return Err(LeaseError::Lost {
                member: config.member.clone(),
                service: owner.service.describe(),
                reason: "this member is no longer listed (its lease ended)".into(),
            });
        }
        let wanted = assigned_shards(config.shards, &members, &config.member);
        let surplus: Vec<u32> = self.running.keys().filter(|s| !wanted.contains(s)).copied().collect();
        for shard in surplus {
            if let Some(r) = self.running.remove(&shard) {
                owner.stop_one(shard, r, Some(&self.session)).await;
            }
        }
        let mut changed = false;
        for shard in wanted {
            if self.running.contains_key(&shard) {
                continue;
            }
            if let Some(fence) = owner.service.try_acquire(&self.session, shard).await? {
                let cancel = CancellationToken::new();
                let assignment =
                    Assignment { shard, shards: config.shards, fence: fence.clone(), cancel: cancel.clone() };
                info!(group = %config.group, member = %config.member, shard, fence = %fence, "shard acquired");
                metrics::counter!("informer_shard_acquired_total", "group" => config.group.clone(), "member" => config.member.clone())
                    .increment(1);
                let task = tokio::spawn(work(assignment));
                self.running.insert(shard, Running { fence, cancel, task });
                changed = true;
            }
        }
        if changed || !self.running.is_empty() || owner.owned.borrow().len() != self.running.len() {
            owner.publish(&self.running);
        }
        Ok(())
    }
}

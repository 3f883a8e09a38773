//! Shard ownership through Kubernetes `coordination.k8s.io/v1` Lease objects: see
//! [`KubeLeases`].
//!
//! Kubernetes never expires a Lease by itself: a Lease is a record that its holder rewrites.
//! Like client-go's leader election, whether a holder is still alive is judged by each
//! *observer*, on its own clock: a Lease is expired once this process has seen the same
//! resourceVersion for `leaseDurationSeconds`, counted from the moment it first saw that
//! version ([`observe`]). What an observer concludes becomes true for everyone through one
//! write guarded by that very resourceVersion (a *mark*), so a renewal racing with it cannot
//! also succeed.

mod observe;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use informer_kube::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use informer_kube::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use informer_kube::k8s_openapi::jiff::Timestamp;
use informer_kube::kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchParams,
};
use informer_kube::kube::{Client, Error as KubeError};
use serde_json::{Value, json};

use crate::service::{Fence, LeaseError, LeaseService};
use observe::Observations;

/// The label naming the group a Lease belongs to.
///
/// ```
/// assert_eq!(informer_shards::GROUP_LABEL, "shards.informer.dev/group");
/// ```
pub const GROUP_LABEL: &str = "shards.informer.dev/group";

/// The label saying what a Lease is: `member` or `shard`.
///
/// ```
/// let selector = format!("{}=shard", informer_shards::ROLE_LABEL);
/// assert_eq!(selector, "shards.informer.dev/role=shard");
/// ```
pub const ROLE_LABEL: &str = "shards.informer.dev/role";

/// The annotation of a shard Lease naming the member session that holds it (`uid/transitions`
/// of the holder's member Lease, see [`KubeSession::id`]).
///
/// ```
/// assert_eq!(informer_shards::SESSION_ANNOTATION, "shards.informer.dev/session");
/// ```
pub const SESSION_ANNOTATION: &str = "shards.informer.dev/session";

/// How long a Lease without `leaseDurationSeconds` (not written by [`KubeLeases`]) is given.
const FALLBACK_DURATION: Duration = Duration::from_secs(60);

/// Shard ownership through Kubernetes Lease objects (`coordination.k8s.io/v1`) in one
/// namespace.
///
/// For a group `scheduler` it keeps, labelled [`GROUP_LABEL`]` = scheduler` and
/// [`ROLE_LABEL`]` = member | shard`:
///
/// * **`scheduler-member-{member}`**, one per member: `holderIdentity` = the member,
///   `leaseDurationSeconds` = its TTL, `renewTime` rewritten by [`renew`](LeaseService::renew)
///   under a resourceVersion precondition. Its *session* is `uid/leaseTransitions`
///   ([`KubeSession::id`]): a new object or a takeover starts a new one.
/// * **`scheduler-shard-{n:05}`**, one per shard: `holderIdentity` = the owning member,
///   annotation [`SESSION_ANNOTATION`] = the owner's session, `leaseTransitions` counting
///   changes of hands, `acquireTime` the last one. The [`Fence`] of an ownership is the
///   resourceVersion written by the acquisition.
///
/// # Expiry, judged by observers
///
/// Nothing on the server expires. This process judges a member Lease expired when it has seen
/// the same resourceVersion for the Lease's `leaseDurationSeconds` **on its own monotonic
/// clock**, counted from the moment it first saw that version (client-go's `observedTime`
/// rule). A fresh observer therefore waits a full duration before it calls anyone dead. It then
/// *marks* the Lease expired, clearing `holderIdentity` with the resourceVersion it judged as
/// precondition: if the holder renewed meanwhile the mark fails and nothing happens; if the mark
/// succeeds, every later renewal of that session fails with [`LeaseError::Lost`]. A marked
/// Lease, or one taken over by [`join`](LeaseService::join) (which writes under the same kind
/// of precondition), ends its session for every observer at once.
///
/// A member Lease that vanished (deleted by hand, or re-created under a new uid) gives no such
/// mark: the shards of its session are taken only after the observer saw it gone for the shard
/// Lease's `leaseDurationSeconds`. [`leave`](LeaseService::leave) releases the session's shards
/// before it deletes the member Lease, so a clean stop frees them at once.
///
/// # Why ownership follows the member Lease, not the shard Lease
///
/// Shard Leases are written only when a shard changes hands: a member renews one object, not
/// one per shard, and the fence (the shard Lease's resourceVersion) stays the same for the
/// whole ownership. A shard Lease alone therefore says *who* was given the shard, never
/// whether that holder still lives; [`try_acquire`](LeaseService::try_acquire) asks the
/// holder's member Lease, and takes the shard only when that session ended (marked, taken
/// over, or seen gone for a full duration), when the shard has no holder, or when this session
/// already holds it.
///
/// # Safety argument
///
/// Assumption: the clocks of the processes run at roughly the same *rate* (drift over one TTL
/// smaller than [`ShardConfig::margin`](crate::ShardConfig::margin)); their readings need not
/// agree, nothing is synchronised.
///
/// * The [`ShardOwner`](crate::ShardOwner) stops all work at `t_r + TTL - margin` on its clock,
///   where `t_r` is when it sent its last *successful* renewal.
/// * That renewal wrote version `V`, after `t_r`. An observer first sees `V` no earlier than
///   that write, so at `t_0 ≥ t_r`, and judges the member expired at `t_0 + TTL` at the
///   earliest. Its mark is guarded by `V`: it succeeds only if no later renewal succeeded, and
///   after it none can. Shards change hands only after the mark, so after `t_r + TTL`, a
///   margin after the holder stopped.
/// * A member Lease seen gone: the session's renewals fail since it vanished, so its last
///   success precedes the first sight of its absence, and the observer waits a full duration
///   from that sight.
///
/// # Fencing
///
/// Kubernetes has no transaction across objects, so a write elsewhere cannot be made
/// conditional on the shard Lease. [`KubeLeases::check_fence`] tells whether an ownership is
/// still current (a consistent read); the time rule above covers the moment between the check
/// and the write. Fences of one shard grow: since Kubernetes 1.35 resourceVersions compare as
/// numbers (KEP-5504), so a downstream system may refuse writes carrying an older fence.
///
/// ```no_run
/// use informer_shards::{KubeLeases, ShardConfig, ShardOwner};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = informer_kube::default_client().await?;
/// let leases = KubeLeases::new(client, "kube-system", "scheduler")?;
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
pub struct KubeLeases {
    client: Client,
    namespace: String,
    group: String,
    observed: Arc<Mutex<Observations>>,
}

impl std::fmt::Debug for KubeLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLeases")
            .field("namespace", &self.namespace)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// A member's session: its member Lease as [`join`](LeaseService::join) wrote it, and the
/// resourceVersion of its last successful write.
pub struct KubeSession {
    member: String,
    lease: String,
    uid: String,
    transitions: i32,
    seconds: i32,
    version: Mutex<String>,
}

impl std::fmt::Debug for KubeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSession")
            .field("member", &self.member)
            .field("lease", &self.lease)
            .field("id", &self.id())
            .finish()
    }
}

impl KubeSession {
    /// The member's name.
    ///
    /// ```no_run
    /// # async fn demo(leases: informer_shards::KubeLeases) -> Result<(), informer_shards::LeaseError> {
    /// use informer_shards::LeaseService;
    /// let session = leases.join("replica-1", std::time::Duration::from_secs(10)).await?;
    /// assert_eq!(session.member(), "replica-1");
    /// # Ok(()) }
    /// ```
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The name of the member Lease.
    ///
    /// ```no_run
    /// # async fn demo(leases: informer_shards::KubeLeases) -> Result<(), informer_shards::LeaseError> {
    /// use informer_shards::LeaseService;
    /// let session = leases.join("replica-1", std::time::Duration::from_secs(10)).await?;
    /// assert_eq!(session.lease_name(), leases.member_lease_name("replica-1"));
    /// # Ok(()) }
    /// ```
    pub fn lease_name(&self) -> &str {
        &self.lease
    }

    /// The session's identity, `uid/leaseTransitions` of its member Lease: a new object, or a
    /// takeover of an expired one, makes a new session. Shard Leases carry it in
    /// [`SESSION_ANNOTATION`].
    ///
    /// ```no_run
    /// # async fn demo(leases: informer_shards::KubeLeases) -> Result<(), informer_shards::LeaseError> {
    /// use informer_shards::LeaseService;
    /// let session = leases.join("replica-1", std::time::Duration::from_secs(10)).await?;
    /// println!("session {}", session.id()); // e.g. 3f2c…/0
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> String {
        format!("{}/{}", self.uid, self.transitions)
    }

    fn version(&self) -> String {
        lock(&self.version).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked: each update is one store.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How a write guarded by a resourceVersion ended.
enum Guarded {
    Written(Box<Lease>),
    Conflict,
    NotFound,
}

impl KubeLeases {
    /// Shard ownership for `group` through Leases in `namespace`. The group names the Leases
    /// and labels them, so it must be a DNS label of at most 50 characters: lowercase letters,
    /// digits and `-`, starting and ending with a letter or digit.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = informer_kube::default_client().await?;
    /// let bad = informer_shards::KubeLeases::new(client.clone(), "default", "Scheduler");
    /// assert!(bad.unwrap_err().to_string().contains("group \"Scheduler\""));
    /// let leases = informer_shards::KubeLeases::new(client, "default", "scheduler")?;
    /// assert_eq!(leases.shard_lease_name(3), "scheduler-shard-00003");
    /// # Ok(()) }
    /// ```
    pub fn new(client: Client, namespace: impl Into<String>, group: impl Into<String>) -> Result<Self, LeaseError> {
        let (namespace, group) = (namespace.into(), group.into());
        let service = format!("kubernetes Leases {namespace}/{group}-*");
        if namespace.is_empty() {
            return Err(LeaseError::Invalid { service, reason: "the namespace must not be empty".into() });
        }
        if group.len() > 50 || !is_dns_name(&group, false) {
            return Err(LeaseError::Invalid {
                service,
                reason: format!(
                    "group {group:?} must be 1 to 50 lowercase letters, digits and '-', starting and ending \
                     with a letter or digit (it names the Leases and is a label value)"
                ),
            });
        }
        Ok(Self { client, namespace, group, observed: Arc::default() })
    }

    /// The namespace of the Leases.
    ///
    /// ```no_run
    /// # fn demo(leases: informer_shards::KubeLeases) {
    /// println!("Leases in {}", leases.namespace());
    /// # }
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The group's name.
    ///
    /// ```no_run
    /// # fn demo(leases: informer_shards::KubeLeases) {
    /// println!("group {}", leases.group());
    /// # }
    /// ```
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The name of `member`'s Lease: `{group}-member-{member}`.
    ///
    /// ```no_run
    /// # fn demo(leases: informer_shards::KubeLeases) {
    /// assert_eq!(leases.member_lease_name("replica-1"), format!("{}-member-replica-1", leases.group()));
    /// # }
    /// ```
    pub fn member_lease_name(&self, member: &str) -> String {
        format!("{}-member-{member}", self.group)
    }

    /// The name of `shard`'s Lease: `{group}-shard-{shard:05}`.
    ///
    /// ```no_run
    /// # fn demo(leases: informer_shards::KubeLeases) {
    /// assert_eq!(leases.shard_lease_name(7), format!("{}-shard-00007", leases.group()));
    /// # }
    /// ```
    pub fn shard_lease_name(&self, shard: u32) -> String {
        format!("{}-shard-{shard:05}", self.group)
    }

    /// The label selector of the group's Leases (`role` is `member` or `shard`).
    ///
    /// ```no_run
    /// # fn demo(leases: informer_shards::KubeLeases) {
    /// println!("kubectl get leases -l {}", leases.selector(None));
    /// # }
    /// ```
    pub fn selector(&self, role: Option<&str>) -> String {
        match role {
            Some(role) => format!("{GROUP_LABEL}={},{ROLE_LABEL}={role}", self.group),
            None => format!("{GROUP_LABEL}={}", self.group),
        }
    }

    /// True while `fence` is the current ownership of `shard`: its Lease still has the
    /// resourceVersion the acquisition wrote, and a holder. Read consistently (a quorum read),
    /// so a `true` answer was true at some moment during the call; check before a write made
    /// on the shard's behalf, and rely on the owner's deadline for the moment in between (see
    /// [Fencing](KubeLeases#fencing)).
    ///
    /// ```no_run
    /// # async fn demo(leases: informer_shards::KubeLeases, assignment: informer_shards::Assignment)
    /// # -> Result<(), informer_shards::LeaseError> {
    /// if leases.check_fence(assignment.shard, &assignment.fence).await? {
    ///     // still ours: write the results of this shard
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_fence(&self, shard: u32, fence: &Fence) -> Result<bool, LeaseError> {
        let name = self.shard_lease_name(shard);
        let lease = self.get(&name, &format!("checking fence {fence} of shard {shard}")).await?;
        Ok(lease.is_some_and(|lease| version_of(&lease) == fence.0 && holder_of(&lease).is_some()))
    }

    fn api(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn lease_ref(&self, name: &str) -> String {
        format!("Lease {}/{name}", self.namespace)
    }

    fn unavailable(&self, operation: impl Into<String>, error: impl std::fmt::Display) -> LeaseError {
        LeaseError::Unavailable { service: self.describe(), operation: operation.into(), reason: error.to_string() }
    }

    fn lost(&self, session: &KubeSession, reason: impl Into<String>) -> LeaseError {
        LeaseError::Lost { member: session.member.clone(), service: self.describe(), reason: reason.into() }
    }

    fn observed(&self) -> MutexGuard<'_, Observations> {
        lock(&self.observed)
    }

    /// A consistent read of one Lease; `None` when it does not exist.
    async fn get(&self, name: &str, operation: &str) -> Result<Option<Lease>, LeaseError> {
        self.api()
            .get_opt(name)
            .await
            .map_err(|e| self.unavailable(format!("{operation}: reading {}", self.lease_ref(name)), e))
    }

    /// A JSON merge patch of Lease `name` guarded by `version`
    /// (`metadata.resourceVersion` in a patch is a precondition).
    async fn patch_guarded(
        &self,
        name: &str,
        version: &str,
        mut patch: Value,
        operation: &str,
    ) -> Result<Guarded, LeaseError> {
        patch["metadata"]["resourceVersion"] = json!(version);
        match self.api().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(lease) => Ok(Guarded::Written(Box::new(lease))),
            Err(KubeError::Api(status)) if status.is_conflict() => Ok(Guarded::Conflict),
            Err(KubeError::Api(status)) if status.is_not_found() => Ok(Guarded::NotFound),
            Err(e) => Err(self.unavailable(format!("{operation}: writing {}", self.lease_ref(name)), e)),
        }
    }

    fn new_lease(&self, name: &str, role: &str, spec: LeaseSpec, annotations: BTreeMap<String, String>) -> Lease {
        let labels =
            BTreeMap::from([(GROUP_LABEL.to_string(), self.group.clone()), (ROLE_LABEL.to_string(), role.to_string())]);
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        }
    }

    fn check_member(&self, member: &str) -> Result<(), LeaseError> {
        let name = self.member_lease_name(member);
        if name.len() > 253 || !is_dns_name(member, true) {
            return Err(LeaseError::Invalid {
                service: self.describe(),
                reason: format!(
                    "member {member:?} cannot name a Lease ({name:?}): use lowercase letters, digits, '-' and '.', \
                     starting and ending with a letter or digit, at most {} characters",
                    253 - (name.len() - member.len())
                ),
            });
        }
        Ok(())
    }

    /// Clears the holder of member Lease `name` if it still has `version`: the judgment "expired"
    /// made true for everyone. True if this call marked it.
    async fn mark_expired(&self, name: &str, version: &str) -> Result<bool, LeaseError> {
        let patch = json!({"spec": {"holderIdentity": null}});
        let marked = self.patch_guarded(name, version, patch, "marking an expired member").await?;
        if let Guarded::Written(_) = &marked {
            tracing::warn!(lease = %self.lease_ref(name), version, "member Lease not renewed for its duration: marked expired");
        }
        Ok(matches!(marked, Guarded::Written(_)))
    }

    /// Whether the session `session` of `holder`, holding shard Lease `shard`, has ended for
    /// sure (see the type's docs); marks its member Lease expired if this observer judges so.
    async fn holder_ended(&self, shard: &Lease, holder: &str, session: &str) -> Result<bool, LeaseError> {
        let name = self.member_lease_name(holder);
        let member = self.get(&name, &format!("checking {holder}, holder of {}", name_of(shard))).await?;
        let now = Instant::now();
        if let Some(member) = &member {
            let current = session_of(member);
            if current == session {
                if holder_of(member).is_none() {
                    return Ok(true); // marked expired by an observer, under a precondition
                }
                let version = version_of(member);
                if self.observed().unchanged_for(&name, &version, now) < duration_of(member) {
                    return Ok(false);
                }
                return self.mark_expired(&name, &version).await;
            }
            if let (Some((uid, held)), Some((current_uid, taken))) = (split_session(session), split_session(&current))
                && uid == current_uid
                && taken > held
            {
                return Ok(true); // taken over by a join, which writes under a precondition
            }
        }
        // Gone, or re-created under another uid: nothing fenced the old session's end.
        let gone = self.observed().gone_for(name_of(shard), session, now);
        Ok(gone >= duration_of(shard))
    }

    /// Writes `shard`'s Lease to name this session its holder, under `version` (or creates it
    /// when `version` is `None`). `None` when someone else wrote first.
    async fn take(
        &self,
        session: &KubeSession,
        shard: u32,
        version: Option<&str>,
        transitions: i32,
    ) -> Result<Option<Fence>, LeaseError> {
        let name = self.shard_lease_name(shard);
        let operation = format!("acquiring shard {shard} for {}", session.member);
        let now = MicroTime(Timestamp::now());
        let written = match version {
            None => {
                let spec = LeaseSpec {
                    holder_identity: Some(session.member.clone()),
                    lease_duration_seconds: Some(session.seconds),
                    lease_transitions: Some(transitions),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                };
                let annotations = BTreeMap::from([(SESSION_ANNOTATION.to_string(), session.id())]);
                let lease = self.new_lease(&name, "shard", spec, annotations);
                match self.api().create(&PostParams::default(), &lease).await {
                    Ok(lease) => Guarded::Written(Box::new(lease)),
                    Err(KubeError::Api(status)) if status.is_already_exists() => Guarded::Conflict,
                    Err(e) => {
                        return Err(self.unavailable(format!("{operation}: creating {}", self.lease_ref(&name)), e));
                    }
                }
            }
            Some(version) => {
                let patch = json!({
                    "metadata": {"annotations": {SESSION_ANNOTATION: session.id()}},
                    "spec": {
                        "holderIdentity": session.member,
                        "leaseDurationSeconds": session.seconds,
                        "leaseTransitions": transitions,
                        "acquireTime": now,
                        "renewTime": now,
                    },
                });
                self.patch_guarded(&name, version, patch, &operation).await?
            }
        };
        match written {
            Guarded::Written(lease) => {
                self.observed().forget_gone(&name);
                Ok(Some(Fence(version_of(&lease))))
            }
            Guarded::Conflict | Guarded::NotFound => Ok(None),
        }
    }

    /// Clears the holder of shard Lease `name` if it still has `version`.
    async fn clear_shard(&self, name: &str, version: &str, operation: &str) -> Result<(), LeaseError> {
        let patch = json!({
            "metadata": {"annotations": {SESSION_ANNOTATION: null}},
            "spec": {"holderIdentity": null},
        });
        // A conflict or a missing Lease: the ownership already ended, nothing to give up.
        self.patch_guarded(name, version, patch, operation).await.map(|_| ())
    }
}

impl LeaseService for KubeLeases {
    type Session = KubeSession;

    /// Creates the member Lease, or takes it over if it has no holder or this process saw it
    /// unchanged for its duration. A member Lease renewed by a live process (the same member
    /// name elsewhere) is refused with an error naming it.
    async fn join(&self, member: &str, ttl: Duration) -> Result<KubeSession, LeaseError> {
        self.check_member(member)?;
        let name = self.member_lease_name(member);
        let seconds = i32::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(i32::MAX).max(1);
        let operation = format!("joining as {member}");
        let now = MicroTime(Timestamp::now());
        let written = match self.get(&name, &operation).await? {
            None => {
                let spec = LeaseSpec {
                    holder_identity: Some(member.to_string()),
                    lease_duration_seconds: Some(seconds),
                    lease_transitions: Some(0),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                };
                let lease = self.new_lease(&name, "member", spec, BTreeMap::new());
                match self.api().create(&PostParams::default(), &lease).await {
                    Ok(lease) => lease,
                    Err(KubeError::Api(status)) if status.is_already_exists() => {
                        return Err(self.unavailable(
                            operation,
                            format!("{} was created by another process at the same moment: another process has this member name", self.lease_ref(&name)),
                        ));
                    }
                    Err(e) => {
                        return Err(self.unavailable(format!("{operation}: creating {}", self.lease_ref(&name)), e));
                    }
                }
            }
            Some(lease) => {
                let version = version_of(&lease);
                if let Some(holder) = holder_of(&lease) {
                    let (unchanged, duration) =
                        (self.observed().unchanged_for(&name, &version, Instant::now()), duration_of(&lease));
                    if unchanged < duration {
                        return Err(self.unavailable(
                            operation,
                            format!(
                                "{} is held by {holder}, unchanged for {unchanged:.1?} of its {duration:?} as seen here: \
                                 another process has this member name, or its previous session has not expired yet",
                                self.lease_ref(&name)
                            ),
                        ));
                    }
                }
                let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0).saturating_add(1);
                let patch = json!({"spec": {
                    "holderIdentity": member,
                    "leaseDurationSeconds": seconds,
                    "leaseTransitions": transitions,
                    "acquireTime": now,
                    "renewTime": now,
                }});
                match self.patch_guarded(&name, &version, patch, &operation).await? {
                    Guarded::Written(lease) => *lease,
                    Guarded::Conflict | Guarded::NotFound => {
                        return Err(self.unavailable(
                            operation,
                            format!("{} changed while it was taken over: another process has this member name, or it renewed", self.lease_ref(&name)),
                        ));
                    }
                }
            }
        };
        let version = version_of(&written);
        self.observed().unchanged_for(&name, &version, Instant::now());
        Ok(KubeSession {
            member: member.to_string(),
            lease: name,
            uid: written.metadata.uid.clone().unwrap_or_default(),
            transitions: written.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0),
            seconds,
            version: Mutex::new(version),
        })
    }

    /// Rewrites `renewTime` under the session's last resourceVersion. [`LeaseError::Lost`] when
    /// the member Lease was deleted, marked expired or taken over.
    async fn renew(&self, session: &KubeSession) -> Result<Duration, LeaseError> {
        let operation = format!("renewing {}", self.lease_ref(&session.lease));
        let mut version = session.version();
        // One retry: a conflict from a write that left this session in place (e.g. a label
        // edit) only needs the new resourceVersion.
        for _ in 0..2 {
            let patch = json!({"spec": {"renewTime": MicroTime(Timestamp::now())}});
            match self.patch_guarded(&session.lease, &version, patch, &operation).await? {
                Guarded::Written(lease) => {
                    let written = version_of(&lease);
                    self.observed().unchanged_for(&session.lease, &written, Instant::now());
                    *lock(&session.version) = written;
                    return Ok(Duration::from_secs(session.seconds as u64));
                }
                Guarded::NotFound => {
                    return Err(self.lost(session, format!("{} was deleted", self.lease_ref(&session.lease))));
                }
                Guarded::Conflict => {}
            }
            let Some(now) = self.get(&session.lease, &operation).await? else {
                return Err(self.lost(session, format!("{} was deleted", self.lease_ref(&session.lease))));
            };
            let holder = holder_of(&now).map(str::to_string);
            if holder.as_deref() != Some(session.member.as_str()) || session_of(&now) != session.id() {
                return Err(self.lost(
                    session,
                    format!(
                        "{} was marked expired or taken over (holder {}, session {})",
                        self.lease_ref(&session.lease),
                        holder.as_deref().unwrap_or("none"),
                        session_of(&now)
                    ),
                ));
            }
            version = version_of(&now);
        }
        Err(self.unavailable(operation, "the Lease kept changing under this session; retrying later"))
    }

    /// The members whose Leases have a holder and were not seen unchanged for their duration
    /// (those are marked expired on the way).
    async fn members(&self) -> Result<Vec<String>, LeaseError> {
        let selector = self.selector(Some("member"));
        let list = self
            .api()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.unavailable(format!("listing Leases {}/-l {selector}", self.namespace), e))?;
        let now = Instant::now();
        let prefix = self.member_lease_name("");
        let mut members = Vec::new();
        let mut expired = Vec::new();
        {
            let mut observed = self.observed();
            for lease in &list.items {
                let (name, version) = (name_of(lease), version_of(lease));
                let Some(member) = name.strip_prefix(&prefix) else { continue };
                if holder_of(lease).is_none() {
                    continue; // marked expired
                }
                if observed.unchanged_for(name, &version, now) >= duration_of(lease) {
                    expired.push((name.to_string(), version));
                } else {
                    members.push(member.to_string());
                }
            }
            observed.forget_unlisted(&prefix, &|name| list.items.iter().any(|lease| name_of(lease) == name));
        }
        for (name, version) in expired {
            // Marking makes this judgment everyone's at once; the member is out either way.
            if let Err(e) = self.mark_expired(&name, &version).await {
                tracing::warn!(lease = %self.lease_ref(&name), error = %e, "marking an expired member");
            }
        }
        members.sort();
        Ok(members)
    }

    async fn try_acquire(&self, session: &KubeSession, shard: u32) -> Result<Option<Fence>, LeaseError> {
        let name = self.shard_lease_name(shard);
        let Some(lease) = self.get(&name, &format!("acquiring shard {shard} for {}", session.member)).await? else {
            return self.take(session, shard, None, 0).await;
        };
        let version = version_of(&lease);
        let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0).saturating_add(1);
        let Some(holder) = holder_of(&lease) else {
            return self.take(session, shard, Some(&version), transitions).await;
        };
        let held_by =
            lease.metadata.annotations.as_ref().and_then(|a| a.get(SESSION_ANNOTATION)).cloned().unwrap_or_default();
        if holder == session.member && held_by == session.id() {
            return Ok(Some(Fence(version))); // an acquisition whose answer was lost
        }
        if self.holder_ended(&lease, holder, &held_by).await? {
            tracing::info!(lease = %self.lease_ref(&name), from = holder, to = %session.member, "taking over a shard whose holder's session ended");
            return self.take(session, shard, Some(&version), transitions).await;
        }
        Ok(None)
    }

    async fn release(&self, session: &KubeSession, shard: u32, fence: &Fence) -> Result<(), LeaseError> {
        let name = self.shard_lease_name(shard);
        self.clear_shard(&name, &fence.0, &format!("releasing shard {shard} of {}", session.member)).await
    }

    /// Releases the shards this session holds, then deletes the member Lease under the
    /// session's resourceVersion (also when an observer marked it expired; a Lease taken over
    /// by another session is left alone).
    async fn leave(&self, session: KubeSession) -> Result<(), LeaseError> {
        let operation = format!("leaving as {}", session.member);
        let selector = self.selector(Some("shard"));
        let shards = self.api().list(&ListParams::default().labels(&selector)).await.map_err(|e| {
            self.unavailable(format!("{operation}: listing Leases {}/-l {selector}", self.namespace), e)
        })?;
        let id = session.id();
        for lease in &shards.items {
            let held_by = lease.metadata.annotations.as_ref().and_then(|a| a.get(SESSION_ANNOTATION));
            if holder_of(lease) == Some(session.member.as_str()) && held_by == Some(&id) {
                self.clear_shard(name_of(lease), &version_of(lease), &operation).await?;
            }
        }
        let mut version = session.version();
        loop {
            let params = DeleteParams {
                preconditions: Some(Preconditions { resource_version: Some(version), uid: None }),
                ..DeleteParams::default()
            };
            match self.api().delete(&session.lease, &params).await {
                Ok(_) => break,
                Err(KubeError::Api(status)) if status.is_not_found() => break,
                Err(KubeError::Api(status)) if status.is_conflict() => {
                    match self.get(&session.lease, &operation).await? {
                        // Still this session's (perhaps marked expired): delete it all the same.
                        Some(now) if session_of(&now) == id => version = version_of(&now),
                        _ => break, // taken over or re-created: another session's now
                    }
                }
                Err(e) => {
                    return Err(
                        self.unavailable(format!("{operation}: deleting {}", self.lease_ref(&session.lease)), e)
                    );
                }
            }
        }
        self.observed().forget(&session.lease);
        Ok(())
    }

    /// A watch of the group's Leases; it ends when the watch does (the owner polls meanwhile
    /// and asks again).
    async fn changes(&self) -> Result<BoxStream<'static, ()>, LeaseError> {
        let selector = self.selector(None);
        let stream = self
            .api()
            .watch(&WatchParams::default().labels(&selector).timeout(290), "0")
            .await
            .map_err(|e| self.unavailable(format!("watching Leases {}/-l {selector}", self.namespace), e))?;
        Ok(stream.take_while(|event| std::future::ready(event.is_ok())).map(|_| ()).boxed())
    }

    fn describe(&self) -> String {
        format!("kubernetes Leases {}/{}-*", self.namespace, self.group)
    }
}

fn name_of(lease: &Lease) -> &str {
    lease.metadata.name.as_deref().unwrap_or_default()
}

fn version_of(lease: &Lease) -> String {
    lease.metadata.resource_version.clone().unwrap_or_default()
}

fn holder_of(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).filter(|h| !h.is_empty())
}

/// `uid/leaseTransitions` of a member Lease.
fn session_of(lease: &Lease) -> String {
    let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0);
    format!("{}/{transitions}", lease.metadata.uid.as_deref().unwrap_or_default())
}

fn split_session(session: &str) -> Option<(&str, i32)> {
    let (uid, transitions) = session.rsplit_once('/')?;
    Some((uid, transitions.parse().ok()?))
}

fn duration_of(lease: &Lease) -> Duration {
    match lease.spec.as_ref().and_then(|s| s.lease_duration_seconds) {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds as u64),
        _ => FALLBACK_DURATION,
    }
}

/// A DNS label (`dots: false`) or subdomain (`dots: true`) in Kubernetes' sense: lowercase
/// letters, digits, `-` (and `.`), starting and ending with a letter or digit.
fn is_dns_name(name: &str, dots: bool) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.chars().all(|c| alnum(c) || c == '-' || (dots && c == '.'))
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(is_dns_name("replica-1", false));
        assert!(is_dns_name("pod.node-2", true));
        assert!(!is_dns_name("pod.node-2", false));
        for bad in ["", "-a", "a-", "Replica", "a_b", "a/b", "ü"] {
            assert!(!is_dns_name(bad, true), "{bad:?}");
        }
    }

    #[test]
    fn sessions_split_into_uid_and_transitions() {
        assert_eq!(split_session("3f2c-11/4"), Some(("3f2c-11", 4)));
        assert_eq!(split_session(""), None);
        assert_eq!(split_session("uid/x"), None);
    }

    #[test]
    fn a_lease_without_duration_gets_the_fallback() {
        let lease = Lease { metadata: ObjectMeta::default(), spec: None };
        assert_eq!(duration_of(&lease), FALLBACK_DURATION);
        let lease = Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec { lease_duration_seconds: Some(3), ..LeaseSpec::default() }),
        };
        assert_eq!(duration_of(&lease), Duration::from_secs(3));
    }
}

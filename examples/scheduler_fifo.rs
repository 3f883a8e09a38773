//! A toy scheduler: a `DeltaFifo` feeds a rate-limited `WorkQueue` drained by N workers that
//! bind pending pods to nodes — the scheduler use case of client-go's `tools/cache`.
//!
//! ```sh
//! cargo run --example scheduler_fifo            # 4 workers, 2 000 pods
//! cargo run --example scheduler_fifo -- 8 5000  # 8 workers, 5 000 pods
//! ```
//!
//! The way through:
//!
//! ```text
//!  MemorySource ──► Reflector ──► DeltaFifo ──► pump ──► WorkQueue ──► N workers
//!  (pods)                                       │                       │ bind pod → node
//!       ▲                                       └─► pending-pods view   │ (write back)
//!       └───────────────────────────────────────────────────────────────┘
//! ```
//!
//! * The pump pops every key's accumulated deltas from the FIFO, keeps a view of pending pods,
//!   and queues the key. A key changed several times while queued is queued **once** (dedup).
//! * A worker binds the pod to the least-loaded node by writing it back to the source; the
//!   write comes back through the FIFO as an update of a now-running pod and needs no work.
//! * Binding fails now and then (a simulated conflict): the key goes back with per-key
//!   exponential backoff (`add_rate_limited`) and is retried; success calls `forget`.
//! * A key is never handed to two workers at once.
//!
//! At the end every pod in the source is bound, exactly once per pod.
//!
//! ## Many processes, one pod collection: `shard` mode
//!
//! ```sh
//! cargo run --example scheduler_fifo -- shard 127.0.0.1:2379 replica-1 [SHARDS=8] [TTL_SECS=3]
//! ```
//!
//! Pods are etcd keys under `/pods/` (value `pending`, or `bound NODE MEMBER` once scheduled).
//! Several processes, each with its own member name, split the pods into `SHARDS` shards
//! through etcd leases ([`informer::shards`]): each process runs a sharded reflector (client-side
//! hash of the key, [`informer::Sharded`]) → `DeltaFifo` → `WorkQueue` → 2 workers for each shard
//! it owns. A binding is one etcd transaction fenced twice: by the shard's ownership (its owner
//! key's create revision) and by the pod's own mod revision, so a process that lost a shard can
//! never overwrite what its successor did. A process that dies loses its shards when its lease
//! expires (TTL), and the others take them over. Each process prints one line per step on
//! stdout: `ACQUIRED shard fence`, `RELEASED shard`, `START key member unix_nanos`,
//! `END key member unix_nanos outcome` (`bound`, `refused`, `failed`).
//!
//! ## The same on Kubernetes: `kube-shard` mode
//!
//! ```sh
//! KUBECONFIG=... cargo run --example scheduler_fifo -- kube-shard NAMESPACE replica-1 [SHARDS=8] [TTL_SECS=3]
//! ```
//!
//! Pods without `spec.nodeName` in NAMESPACE are pending. Ownership goes through
//! `coordination.k8s.io/v1` Lease objects ([`informer::shards::KubeLeases`]); each shard's
//! reflector asks the API server for its part only (`shardSelector` on `metadata.uid`, the
//! alpha gate `ShardedListAndWatch`). A binding is a `pods/binding` request, which the server
//! refuses for a pod already bound; Kubernetes has no transaction across objects, so the fence
//! is checked by a read of the shard's Lease just before (a narrower guard than etcd's).
//! Nodes are named `MEMBER-node-N`, so a pod's node says which process bound it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use informer::memory::demo::DemoPod;
use informer::memory::{MemoryObject, MemorySource};
use informer::{CancellationToken, Delta, DeltaFifo, KeyFn, Popped, Reflector, ReflectorConfig, WorkQueue};

type Pod = MemoryObject<DemoPod>;

/// What a scheduling run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Pods created pending.
    pub pods: usize,
    /// Successful bindings.
    pub bound: usize,
    /// Failed binding attempts that were retried.
    pub retries: usize,
    /// Keys the pump queued (each pop of the FIFO queues its key).
    pub queued: usize,
    /// Keys the work queue handed out.
    pub handed_out: usize,
    /// Pods per node after scheduling.
    pub per_node: BTreeMap<String, usize>,
    /// Keys handed to two workers at once (must be 0).
    pub overlapping: usize,
}

fn pending_pod(i: usize) -> DemoPod {
    DemoPod {
        namespace: "default".into(),
        name: format!("job-{i:05}"),
        node: String::new(),
        phase: "Pending".into(),
        labels: BTreeMap::from([("app".into(), "batch".into())]),
        generation: 1,
    }
}

/// Schedules `pods` pending pods with `workers` workers onto `nodes` nodes.
pub async fn run(workers: usize, pods: usize, nodes: usize, failure_rate: f64) -> Report {
    let source = MemorySource::<DemoPod>::new();
    let fifo = Arc::new(DeltaFifo::new(KeyFn::keyed()));
    let reflector = Reflector::new(source.clone(), Arc::clone(&fifo), ReflectorConfig::default());
    let stop = CancellationToken::new();
    let reflector_task = tokio::spawn(reflector.run(stop.clone()));

    let queue: WorkQueue<String> = WorkQueue::new();
    let pending: Arc<Mutex<HashMap<String, Arc<Pod>>>> = Arc::default();
    let report = Arc::new(Mutex::new(Report { pods, ..Report::default() }));

    // The pump: FIFO deltas → the pending-pods view → the work queue.
    let pump = {
        let (fifo, queue, pending, report) =
            (Arc::clone(&fifo), queue.clone(), Arc::clone(&pending), Arc::clone(&report));
        tokio::spawn(async move {
            while let Ok(Some(key)) = fifo
                .pop(|popped| {
                    let Popped::Deltas(deltas) = popped else { return None };
                    let key = deltas.key.to_string();
                    let mut view = pending.lock().unwrap();
                    match deltas.newest() {
                        Some(Delta::Deleted(_)) | None => {
                            view.remove(&key);
                        }
                        Some(delta) => {
                            if let Some(pod) = delta.object() {
                                if pod.value().phase == "Pending" {
                                    view.insert(key.clone(), Arc::clone(pod));
                                } else {
                                    view.remove(&key);
                                }
                            }
                        }
                    }
                    Some(key)
                })
                .await
            {
                report.lock().unwrap().queued += 1;
                queue.add(key);
            }
        })
    };

    // The workers.
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let load: Arc<Mutex<BTreeMap<String, usize>>> =
        Arc::new(Mutex::new((0..nodes).map(|n| (format!("node-{n:02}"), 0)).collect()));
    let worker_tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (queue, pending, report, in_flight, load, source) = (
                queue.clone(),
                Arc::clone(&pending),
                Arc::clone(&report),
                Arc::clone(&in_flight),
                Arc::clone(&load),
                source.clone(),
            );
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(w as u64);
                while let Some(key) = queue.get().await {
                    report.lock().unwrap().handed_out += 1;
                    if !in_flight.lock().unwrap().insert(key.clone()) {
                        report.lock().unwrap().overlapping += 1;
                    }
                    let pod = pending.lock().unwrap().get(&key).cloned();
                    if let Some(pod) = pod {
                        tokio::time::sleep(Duration::from_micros(200)).await; // "scoring"
                        if rng.f64() < failure_rate {
                            report.lock().unwrap().retries += 1;
                            in_flight.lock().unwrap().remove(&key);
                            queue.add_rate_limited(key.clone());
                            queue.done(&key);
                            continue;
                        }
                        let node = {
                            let mut load = load.lock().unwrap();
                            let (node, count) = load.iter_mut().min_by_key(|(_, c)| **c).expect("nodes");
                            *count += 1;
                            node.clone()
                        };
                        let mut bound = (**pod.value()).clone();
                        bound.node = node;
                        bound.phase = "Running".into();
                        source.put(key.as_str(), bound);
                        pending.lock().unwrap().remove(&key);
                        report.lock().unwrap().bound += 1;
                        queue.forget(&key);
                    }
                    in_flight.lock().unwrap().remove(&key);
                    queue.done(&key);
                }
            })
        })
        .collect();

    // Pods arrive in bursts; some change while they wait (a second delta for a queued key).
    for i in 0..pods {
        source.put(format!("default/job-{i:05}"), pending_pod(i));
        if i % 10 == 0 {
            let mut changed = pending_pod(i);
            changed.generation = 2;
            source.put(format!("default/job-{i:05}"), changed);
        }
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // Done when every pod is bound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while source.snapshot().values().any(|p| p.value().phase == "Pending") {
        assert!(tokio::time::Instant::now() < deadline, "scheduling did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    queue.shut_down_with_drain().await;
    for task in worker_tasks {
        task.await.expect("worker");
    }
    stop.cancel();
    fifo.close();
    pump.await.expect("pump");
    reflector_task.await.expect("reflector").expect("reflector stops cleanly");

    let mut report = report.lock().unwrap().clone();
    for pod in source.snapshot().values() {
        *report.per_node.entry(pod.value().node.clone()).or_default() += 1;
    }
    report
}

/// What both sharded modes share: a member's run (one line per shard acquired and released)
/// and one shard's pipeline, sharded reflector → `DeltaFifo` → `WorkQueue` → 2 workers. A
/// [`Binder`](shared::Binder) is what differs between etcd and Kubernetes.
pub mod shared {
    use std::collections::HashMap;
    use std::future::Future;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use informer::shards::{Assignment, LeaseService, ShardOwner};
    use informer::{
        CancellationToken, Delta, DeltaFifo, KeyFn, ListerWatcher, Popped, Reflector, ReflectorConfig, WorkQueue,
    };

    /// Where lines go: stdout, or a buffer in tests.
    pub type Out = Arc<Mutex<dyn Write + Send>>;
    /// What a mode's setup or a shard's work can fail with.
    pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

    fn now_nanos() -> u128 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
    }

    fn say(out: &Out, line: String) {
        let mut out = out.lock().unwrap();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// How one backend schedules a pod of one shard.
    pub trait Binder<T>: Clone + Send + Sync + 'static {
        /// True while the pod waits for a node.
        fn pending(&self, pod: &T) -> bool;
        /// Binds the pod (by worker `worker`): `bound`, `refused` (the fence or the pod
        /// changed) or `failed` (retried later).
        fn bind(&self, key: &str, pod: Arc<T>, worker: usize) -> impl Future<Output = &'static str> + Send;
    }

    /// Runs `owner` until `stop` fires; `work` runs each acquired shard until it is given up.
    pub async fn run_member<S, W, F>(
        owner: ShardOwner<S>,
        stop: CancellationToken,
        out: Out,
        work: W,
    ) -> Result<(), BoxError>
    where
        S: LeaseService,
        W: Fn(Assignment) -> F + Send + 'static,
        F: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        owner
            .run(stop, move |assignment| {
                let out = Arc::clone(&out);
                let (shard, fence) = (assignment.shard, assignment.fence.clone());
                let work = work(assignment);
                async move {
                    say(&out, format!("ACQUIRED {shard} {fence}"));
                    if let Err(e) = work.await {
                        tracing::error!(shard, error = %e, "shard work failed");
                    }
                    say(&out, format!("RELEASED {shard}"));
                }
            })
            .await?;
        Ok(())
    }

    /// One shard: `source` (already limited to the shard) → DeltaFifo → WorkQueue → 2 workers
    /// binding with `binder`, until `cancel` fires.
    pub async fn schedule_shard<L, B>(
        source: L,
        key_fn: KeyFn<L::Object>,
        cancel: &CancellationToken,
        member: String,
        binder: B,
        out: Out,
    ) -> Result<(), BoxError>
    where
        L: ListerWatcher,
        B: Binder<L::Object>,
    {
        let fifo = Arc::new(DeltaFifo::new(key_fn));
        let stop = cancel.child_token();
        let reflector = Reflector::new(source, Arc::clone(&fifo), ReflectorConfig::default());
        let reflector_task = tokio::spawn(reflector.run(stop.clone()));
        let queue: WorkQueue<String> = WorkQueue::new();
        let pending: Arc<Mutex<HashMap<String, Arc<L::Object>>>> = Arc::default();

        let pump = {
            let (fifo, queue, pending, binder) =
                (Arc::clone(&fifo), queue.clone(), Arc::clone(&pending), binder.clone());
            tokio::spawn(async move {
                while let Ok(Some(key)) = fifo
                    .pop(|popped| {
                        let Popped::Deltas(deltas) = popped else { return None };
                        let key = deltas.key.to_string();
                        let mut view = pending.lock().unwrap();
                        let newest = deltas
                            .newest()
                            .and_then(|d| if matches!(d, Delta::Deleted(_)) { None } else { d.object() });
                        match newest {
                            Some(pod) if binder.pending(pod) => {
                                view.insert(key.clone(), Arc::clone(pod));
                            }
                            _ => {
                                view.remove(&key);
                            }
                        }
                        Some(key)
                    })
                    .await
                {
                    queue.add(key);
                }
            })
        };

        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (queue, pending, member, binder, out) =
                    (queue.clone(), Arc::clone(&pending), member.clone(), binder.clone(), Arc::clone(&out));
                tokio::spawn(async move {
                    while let Some(key) = queue.get().await {
                        let pod = pending.lock().unwrap().get(&key).cloned();
                        if let Some(pod) = pod {
                            say(&out, format!("START {key} {member} {}", now_nanos()));
                            tokio::time::sleep(Duration::from_millis(2)).await; // "scoring"
                            let outcome = binder.bind(&key, pod, w).await;
                            say(&out, format!("END {key} {member} {} {outcome}", now_nanos()));
                            if outcome == "failed" {
                                queue.add_rate_limited(key.clone());
                            } else {
                                pending.lock().unwrap().remove(&key);
                                queue.forget(&key);
                            }
                        }
                        queue.done(&key);
                    }
                })
            })
            .collect();

        stop.cancelled().await;
        queue.shut_down();
        for worker in workers {
            let _ = worker.await;
        }
        fifo.close();
        let _ = pump.await;
        reflector_task.await??;
        Ok(())
    }
}

/// `shard` mode: one member of a group of schedulers sharing the pods under `/pods/` of the
/// etcd at `endpoint`. Runs until `stop` fires; every line it prints goes to `out`.
pub mod sharded {
    use std::sync::Arc;
    use std::time::Duration;

    use informer::etcd::etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
    use informer::etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, TextCodec};
    use informer::shards::{EtcdLeases, Fence, ShardConfig, ShardOwner};
    use informer::{CancellationToken, KeyFn, ShardSelector, Sharded};

    pub use super::shared::Out;
    use super::shared::{Binder, BoxError, run_member, schedule_shard};

    type Kv = EtcdKeyValue<String>;

    /// Binds with one etcd transaction, fenced by the shard's owner key and the pod's revision.
    #[derive(Clone)]
    struct EtcdBinder {
        client: Client,
        leases: EtcdLeases,
        shard: u32,
        fence: Fence,
        member: String,
    }

    impl Binder<Kv> for EtcdBinder {
        fn pending(&self, pod: &Kv) -> bool {
            pod.value == "pending"
        }

        async fn bind(&self, _key: &str, pod: Arc<Kv>, worker: usize) -> &'static str {
            let node = format!("node-{:02}", (pod.mod_revision as usize + worker) % 8);
            let guard = self.leases.fence_compare(self.shard, &self.fence).expect("an etcd fence");
            let txn = Txn::new()
                .when([guard, Compare::mod_revision(pod.raw_key.clone(), CompareOp::Equal, pod.mod_revision)])
                .and_then([TxnOp::put(pod.raw_key.clone(), format!("bound {node} {}", self.member), None)]);
            match self.client.kv_client().txn(txn).await {
                Ok(answer) if answer.succeeded() => "bound",
                Ok(_) => "refused",
                Err(_) => "failed",
            }
        }
    }

    /// Runs `member` of the group until `stop` fires, then releases its shards and leaves.
    pub async fn member(
        endpoint: String,
        member: String,
        shards: u32,
        ttl: Duration,
        stop: CancellationToken,
        out: Out,
    ) -> Result<(), BoxError> {
        let client = Client::connect([endpoint.as_str()], None).await?;
        let leases = EtcdLeases::new(client.clone(), "/informer/shards/scheduler/");
        let owner =
            ShardOwner::new(leases.clone(), ShardConfig::new("scheduler", member.clone(), shards).with_ttl(ttl))?;
        let lines = Arc::clone(&out);
        run_member(owner, stop, out, move |assignment| {
            let binder = EtcdBinder {
                client: client.clone(),
                leases: leases.clone(),
                shard: assignment.shard,
                fence: assignment.fence.clone(),
                member: member.clone(),
            };
            let (endpoint, member, out) = (endpoint.clone(), member.clone(), Arc::clone(&lines));
            async move {
                let config = EtcdConfig::new([endpoint], KeyRange::prefix("/pods/"));
                let source = EtcdSource::connect(config, TextCodec).await?;
                let sharded = Sharded::by_key(source, ShardSelector::new([assignment.range()])?, KeyFn::keyed());
                schedule_shard(sharded, KeyFn::<Kv>::keyed(), &assignment.cancel, member, binder, out).await
            }
        })
        .await
    }
}

/// `kube-shard` mode: the same scheduler over the pods of one namespace of a Kubernetes API
/// server, shards owned through Lease objects and filtered by the server.
pub mod kube_sharded {
    use std::sync::Arc;
    use std::time::Duration;

    use informer::kube::k8s_openapi::api::core::v1::Pod;
    use informer::kube::kube::api::{Api, PostParams};
    use informer::kube::kube::{Client, ResourceExt};
    use informer::kube::{KubeSource, ShardField, key_fn};
    use informer::shards::{Fence, KubeLeases, ShardConfig, ShardOwner};
    use informer::{CancellationToken, ShardSelector};

    use super::shared::{Binder, BoxError, Out, run_member, schedule_shard};

    /// Binds through `pods/binding` after checking the shard's fence (Kubernetes has no
    /// transaction across objects).
    #[derive(Clone)]
    struct KubeBinder {
        pods: Api<Pod>,
        leases: KubeLeases,
        shard: u32,
        fence: Fence,
        member: String,
    }

    impl Binder<Pod> for KubeBinder {
        fn pending(&self, pod: &Pod) -> bool {
            pod.spec.as_ref().is_some_and(|s| s.node_name.is_none())
        }

        async fn bind(&self, key: &str, pod: Arc<Pod>, worker: usize) -> &'static str {
            let node = format!("{}-node-{}", self.member, (key.len() + worker) % 8);
            match self.leases.check_fence(self.shard, &self.fence).await {
                Ok(true) => bind(&self.pods, &pod.name_any(), &node).await,
                Ok(false) => "refused",
                Err(_) => "failed",
            }
        }
    }

    /// Runs `member` of the group over the pods of `namespace` until `stop` fires.
    pub async fn member(
        client: Client,
        namespace: String,
        member: String,
        shards: u32,
        ttl: Duration,
        stop: CancellationToken,
        out: Out,
    ) -> Result<(), BoxError> {
        let leases = KubeLeases::new(client.clone(), namespace.clone(), "scheduler")?;
        let owner =
            ShardOwner::new(leases.clone(), ShardConfig::new("scheduler", member.clone(), shards).with_ttl(ttl))?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let lines = Arc::clone(&out);
        run_member(owner, stop, out, move |assignment| {
            let binder = KubeBinder {
                pods: pods.clone(),
                leases: leases.clone(),
                shard: assignment.shard,
                fence: assignment.fence.clone(),
                member: member.clone(),
            };
            let source = KubeSource::<Pod>::namespaced(client.clone(), &namespace)
                .with_shard_selector(ShardSelector::from(assignment.range()), ShardField::Uid);
            let (member, out) = (member.clone(), Arc::clone(&lines));
            async move { schedule_shard(source, key_fn::<Pod>(), &assignment.cancel, member, binder, out).await }
        })
        .await
    }

    /// `POST pods/NAME/binding`: `bound`, `refused` (409: bound already, or gone) or `failed`.
    async fn bind(pods: &Api<Pod>, name: &str, node: &str) -> &'static str {
        let binding = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        match pods.create_subresource::<_, serde_json::Value>("binding", name, &PostParams::default(), &binding).await {
            Ok(_) => "bound",
            Err(informer::kube::kube::Error::Api(status)) if status.code == 409 || status.code == 404 => "refused",
            Err(_) => "failed",
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if let Some(mode) = args.next_if(|a| a == "shard" || a == "kube-shard") {
        let kube = mode == "kube-shard";
        let usage = if kube {
            "usage: scheduler_fifo kube-shard NAMESPACE MEMBER [SHARDS] [TTL_SECS] (KUBECONFIG names the cluster)"
        } else {
            "usage: scheduler_fifo shard ENDPOINT MEMBER [SHARDS] [TTL_SECS]"
        };
        let target = args.next().expect(usage);
        let member = args.next().expect(usage);
        let shards = args.next().map(|a| a.parse().expect("SHARDS: a number")).unwrap_or(8);
        let ttl = Duration::from_secs(args.next().map(|a| a.parse().expect("TTL_SECS: a number")).unwrap_or(3));
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            on_signal.cancel();
        });
        let out: shared::Out = Arc::new(Mutex::new(std::io::stdout()));
        let ran = if kube {
            let client = match informer::kube::default_client().await {
                Ok(client) => client,
                Err(e) => {
                    eprintln!("scheduler_fifo {mode}: {e}");
                    std::process::exit(2);
                }
            };
            kube_sharded::member(client, target, member, shards, ttl, stop, out).await
        } else {
            sharded::member(target, member, shards, ttl, stop, out).await
        };
        if let Err(e) = ran {
            eprintln!("scheduler_fifo {mode}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let workers = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let pods = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let report = run(workers, pods, 8, 0.1).await;
    println!(
        "{workers} workers scheduled {} pods: {} bindings, {} retried conflicts",
        report.pods, report.bound, report.retries
    );
    println!(
        "FIFO pops queued {} keys; the work queue handed out {} (dedup merged changes of queued keys)",
        report.queued, report.handed_out
    );
    println!("pods per node: {:?}", report.per_node);
    println!("keys processed by two workers at once: {}", report.overlapping);
}

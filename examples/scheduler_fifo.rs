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

/// `shard` mode: one member of a group of schedulers sharing the pods under `/pods/` of the
/// etcd at `endpoint`. Runs until `stop` fires; every line it prints goes to `out`.
pub mod sharded {
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use informer::etcd::etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
    use informer::etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, TextCodec};
    use informer::shards::{Assignment, EtcdLeases, ShardConfig, ShardOwner};
    use informer::{
        CancellationToken, Delta, DeltaFifo, KeyFn, Popped, Reflector, ReflectorConfig, ShardSelector, Sharded,
        WorkQueue,
    };

    type Kv = EtcdKeyValue<String>;
    /// Where lines go: stdout, or a buffer in tests.
    pub type Out = Arc<Mutex<dyn Write + Send>>;

    pub(crate) fn now_nanos() -> u128 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
    }

    pub(crate) fn say(out: &Out, line: String) {
        let mut out = out.lock().unwrap();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Runs `member` of the group until `stop` fires, then releases its shards and leaves.
    pub async fn member(
        endpoint: String,
        member: String,
        shards: u32,
        ttl: Duration,
        stop: CancellationToken,
        out: Out,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let client = Client::connect([endpoint.as_str()], None).await?;
        let leases = EtcdLeases::new(client.clone(), "/informer/shards/scheduler/");
        let owner =
            ShardOwner::new(leases.clone(), ShardConfig::new("scheduler", member.clone(), shards).with_ttl(ttl))?;
        owner
            .run(stop, move |assignment| {
                let (endpoint, member, client, leases, out) =
                    (endpoint.clone(), member.clone(), client.clone(), leases.clone(), Arc::clone(&out));
                async move {
                    say(&out, format!("ACQUIRED {} {}", assignment.shard, assignment.fence));
                    let shard = assignment.shard;
                    if let Err(e) = schedule_shard(assignment, endpoint, member, client, leases, Arc::clone(&out)).await
                    {
                        tracing::error!(shard, error = %e, "shard work failed");
                    }
                    say(&out, format!("RELEASED {shard}"));
                }
            })
            .await?;
        Ok(())
    }

    /// One shard: sharded reflector → DeltaFifo → WorkQueue → 2 workers, until the assignment
    /// is cancelled.
    async fn schedule_shard(
        assignment: Assignment,
        endpoint: String,
        member: String,
        client: Client,
        leases: EtcdLeases,
        out: Out,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let source = EtcdSource::connect(EtcdConfig::new([endpoint], KeyRange::prefix("/pods/")), TextCodec).await?;
        let sharded = Sharded::by_key(source, ShardSelector::new([assignment.range()])?, KeyFn::keyed());
        let fifo = Arc::new(DeltaFifo::new(KeyFn::<Kv>::keyed()));
        let stop = assignment.cancel.child_token();
        let reflector = Reflector::new(sharded, Arc::clone(&fifo), ReflectorConfig::default());
        let reflector_task = tokio::spawn(reflector.run(stop.clone()));
        let queue: WorkQueue<String> = WorkQueue::new();
        let pending: Arc<Mutex<HashMap<String, Arc<Kv>>>> = Arc::default();

        let pump = {
            let (fifo, queue, pending) = (Arc::clone(&fifo), queue.clone(), Arc::clone(&pending));
            tokio::spawn(async move {
                while let Ok(Some(key)) = fifo
                    .pop(|popped| {
                        let Popped::Deltas(deltas) = popped else { return None };
                        let key = deltas.key.to_string();
                        let mut view = pending.lock().unwrap();
                        match deltas
                            .newest()
                            .and_then(|d| if matches!(d, Delta::Deleted(_)) { None } else { d.object() })
                        {
                            Some(pod) if pod.value == "pending" => {
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
                let (queue, pending, member, mut kv, leases, out, fence) = (
                    queue.clone(),
                    Arc::clone(&pending),
                    member.clone(),
                    client.kv_client(),
                    leases.clone(),
                    Arc::clone(&out),
                    assignment.fence.clone(),
                );
                let shard = assignment.shard;
                tokio::spawn(async move {
                    while let Some(key) = queue.get().await {
                        let pod = pending.lock().unwrap().get(&key).cloned();
                        if let Some(pod) = pod {
                            say(&out, format!("START {key} {member} {}", now_nanos()));
                            tokio::time::sleep(Duration::from_millis(2)).await; // "scoring"
                            let node = format!("node-{:02}", (pod.mod_revision as usize + w) % 8);
                            let guard = leases.fence_compare(shard, &fence).expect("an etcd fence");
                            let txn = Txn::new()
                                .when([
                                    guard,
                                    Compare::mod_revision(pod.raw_key.clone(), CompareOp::Equal, pod.mod_revision),
                                ])
                                .and_then([TxnOp::put(pod.raw_key.clone(), format!("bound {node} {member}"), None)]);
                            let outcome = match kv.txn(txn).await {
                                Ok(answer) if answer.succeeded() => "bound",
                                Ok(_) => "refused",
                                Err(_) => "failed",
                            };
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

/// `kube-shard` mode: the same scheduler over the pods of one namespace of a Kubernetes API
/// server, shards owned through Lease objects and filtered by the server.
pub mod kube_sharded {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use informer::kube::k8s_openapi::api::core::v1::Pod;
    use informer::kube::kube::api::{Api, PostParams};
    use informer::kube::kube::{Client, ResourceExt};
    use informer::kube::{KubeSource, ShardField, key_fn};
    use informer::shards::{Assignment, KubeLeases, ShardConfig, ShardOwner};
    use informer::{CancellationToken, Delta, DeltaFifo, Popped, Reflector, ReflectorConfig, ShardSelector, WorkQueue};

    use super::sharded::{Out, now_nanos, say};

    /// Runs `member` of the group over the pods of `namespace` until `stop` fires.
    pub async fn member(
        client: Client,
        namespace: String,
        member: String,
        shards: u32,
        ttl: Duration,
        stop: CancellationToken,
        out: Out,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let leases = KubeLeases::new(client.clone(), namespace.clone(), "scheduler")?;
        let owner =
            ShardOwner::new(leases.clone(), ShardConfig::new("scheduler", member.clone(), shards).with_ttl(ttl))?;
        owner
            .run(stop, move |assignment| {
                let (client, namespace, member, leases, out) =
                    (client.clone(), namespace.clone(), member.clone(), leases.clone(), Arc::clone(&out));
                async move {
                    say(&out, format!("ACQUIRED {} {}", assignment.shard, assignment.fence));
                    let shard = assignment.shard;
                    if let Err(e) =
                        schedule_shard(assignment, client, namespace, member, leases, Arc::clone(&out)).await
                    {
                        tracing::error!(shard, error = %e, "shard work failed");
                    }
                    say(&out, format!("RELEASED {shard}"));
                }
            })
            .await?;
        Ok(())
    }

    async fn schedule_shard(
        assignment: Assignment,
        client: Client,
        namespace: String,
        member: String,
        leases: KubeLeases,
        out: Out,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let source = KubeSource::<Pod>::namespaced(client.clone(), &namespace)
            .with_shard_selector(ShardSelector::from(assignment.range()), ShardField::Uid);
        let fifo = Arc::new(DeltaFifo::new(key_fn::<Pod>()));
        let stop = assignment.cancel.child_token();
        let reflector = Reflector::new(source, Arc::clone(&fifo), ReflectorConfig::default());
        let reflector_task = tokio::spawn(reflector.run(stop.clone()));
        let queue: WorkQueue<String> = WorkQueue::new();
        let pending: Arc<Mutex<HashMap<String, Arc<Pod>>>> = Arc::default();

        let pump = {
            let (fifo, queue, pending) = (Arc::clone(&fifo), queue.clone(), Arc::clone(&pending));
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
                            Some(pod) if pod.spec.as_ref().is_some_and(|s| s.node_name.is_none()) => {
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

        let pods: Api<Pod> = Api::namespaced(client, &namespace);
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (queue, pending, member, pods, leases, out, fence) = (
                    queue.clone(),
                    Arc::clone(&pending),
                    member.clone(),
                    pods.clone(),
                    leases.clone(),
                    Arc::clone(&out),
                    assignment.fence.clone(),
                );
                let shard = assignment.shard;
                tokio::spawn(async move {
                    while let Some(key) = queue.get().await {
                        let pod = pending.lock().unwrap().get(&key).cloned();
                        if let Some(pod) = pod {
                            say(&out, format!("START {key} {member} {}", now_nanos()));
                            tokio::time::sleep(Duration::from_millis(2)).await; // "scoring"
                            let node = format!("{member}-node-{}", (key.len() + w) % 8);
                            let outcome = match leases.check_fence(shard, &fence).await {
                                Ok(true) => bind(&pods, &pod.name_any(), &node).await,
                                Ok(false) => "refused",
                                Err(_) => "failed",
                            };
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
    if args.peek().map(String::as_str) == Some("kube-shard") {
        args.next();
        let usage =
            "usage: scheduler_fifo kube-shard NAMESPACE MEMBER [SHARDS] [TTL_SECS] (KUBECONFIG names the cluster)";
        let namespace = args.next().expect(usage);
        let member = args.next().expect(usage);
        let shards = args.next().map(|a| a.parse().expect("SHARDS: a number")).unwrap_or(8);
        let ttl = Duration::from_secs(args.next().map(|a| a.parse().expect("TTL_SECS: a number")).unwrap_or(3));
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
        let client = match informer::kube::default_client().await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("scheduler_fifo kube-shard: {e}");
                std::process::exit(2);
            }
        };
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            on_signal.cancel();
        });
        let out: sharded::Out = Arc::new(Mutex::new(std::io::stdout()));
        if let Err(e) = kube_sharded::member(client, namespace, member, shards, ttl, stop, out).await {
            eprintln!("scheduler_fifo kube-shard: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.peek().map(String::as_str) == Some("shard") {
        args.next();
        let usage = "usage: scheduler_fifo shard ENDPOINT MEMBER [SHARDS] [TTL_SECS]";
        let endpoint = args.next().expect(usage);
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
        let out: sharded::Out = Arc::new(Mutex::new(std::io::stdout()));
        if let Err(e) = sharded::member(endpoint, member, shards, ttl, stop, out).await {
            eprintln!("scheduler_fifo shard: {e}");
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

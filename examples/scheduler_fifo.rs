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

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_pod_is_bound_once_with_retries_and_no_key_shared_by_two_workers() {
        let report = run(4, 600, 6, 0.2).await;
        assert_eq!(report.bound, 600, "every pod bound exactly once: {report:?}");
        assert!(report.retries > 0, "some bindings failed and were retried");
        assert_eq!(report.overlapping, 0);
        assert_eq!(report.per_node.values().sum::<usize>(), 600);
        assert!(!report.per_node.contains_key(""), "no pod left unbound");
        let (min, max) = (report.per_node.values().min().unwrap(), report.per_node.values().max().unwrap());
        assert!(max - min <= 1, "least-loaded placement spreads pods evenly: {:?}", report.per_node);
    }
}

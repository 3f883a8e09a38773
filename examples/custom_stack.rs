//! One reflector feeding a custom stack of stores:
//!
//! ```text
//!                        ┌─► Transform(strip managedFields) ─► Cache     (every pod, lighter)
//!  pods ──► Reflector ──►├─► Filter(tier=frontend)           ─► Indexer  (frontend pods, by node)
//!                        └─► Undelta                         ─► push(whole state) on every change
//! ```
//!
//! ```sh
//! cargo run --example custom_stack              # kubeconfig or in-cluster
//! ```
//!
//! Stacks compose by type (`Tee<Tee<Transform<Cache>, Filter<Indexer>>, Undelta>`): no dynamic
//! dispatch on the write path, and one list + one watch serve all three consumers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use informer::kube::k8s_openapi::api::core::v1::Pod;
use informer::kube::kube::Client;
use informer::kube::{KubeSource, key_fn};
use informer::{
    Cache, CancellationToken, Filter, IndexFn, Indexer, Indexers, Reflector, ReflectorConfig, Store, StoreExt, Tee,
    Transform, Undelta,
};

/// The stack's shape, spelled out by its type: `StoreExt` builds it fluently.
type Stack<S, P, U> = Tee<Tee<Transform<Arc<Cache<Pod>>, S>, Filter<Arc<Indexer<Pod>>, P>>, Undelta<Pod, U>>;

/// What the stack holds after a run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Pods in the stripped cache.
    pub all: usize,
    /// Pods in the cache that still carry managedFields (must be 0).
    pub with_managed_fields: usize,
    /// Frontend pods per node, from the filtered indexer.
    pub frontend_per_node: Vec<(String, usize)>,
    /// Pushes the undelta store made, and the size of the last one.
    pub pushes: usize,
    /// Objects in the undelta's last push.
    pub last_push_len: usize,
}

fn strip(pod: Arc<Pod>) -> Arc<Pod> {
    if pod.metadata.managed_fields.is_none() {
        return pod;
    }
    let mut pod = Arc::unwrap_or_clone(pod);
    pod.metadata.managed_fields = None;
    Arc::new(pod)
}

fn is_frontend(pod: &Pod) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get("tier")).is_some_and(|tier| tier == "frontend")
}

/// Mirrors all pods through the stack for `watch_for` after the initial sync.
pub async fn run(client: Client, watch_for: Duration) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
    let all = Arc::new(Cache::new(key_fn::<Pod>()));
    let by_node = IndexFn::single(|p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or(""));
    let frontend = Arc::new(Indexer::with_indexers(key_fn::<Pod>(), Indexers::new().with("node", by_node)));
    let pushes = Arc::new(AtomicUsize::new(0));
    let last_push = Arc::new(Mutex::new(0usize));
    let undelta = {
        let (pushes, last_push) = (Arc::clone(&pushes), Arc::clone(&last_push));
        Undelta::new(key_fn::<Pod>(), move |state: Vec<Arc<Pod>>| {
            pushes.fetch_add(1, Ordering::Relaxed);
            *last_push.lock().unwrap() = state.len();
        })
    };
    let stack: Stack<_, _, _> =
        Arc::clone(&all).transformed(strip).tee(Arc::clone(&frontend).filtered(is_frontend)).tee(undelta);

    let reflector = Reflector::new(KubeSource::<Pod>::all(client), stack, ReflectorConfig::default());
    let handle = reflector.handle();
    let stop = CancellationToken::new();
    let task = tokio::spawn(reflector.run(stop.clone()));
    if !handle.wait_synced().await {
        return Err(task.await?.err().map_or_else(|| "reflector stopped".into(), Into::into));
    }
    tokio::time::sleep(watch_for).await;
    stop.cancel();
    task.await??;

    let mut frontend_per_node: Vec<(String, usize)> = frontend
        .list_index_values("node")?
        .into_iter()
        .map(|node| {
            let n = frontend.index_keys("node", &node).map(|k| k.len()).unwrap_or(0);
            (node, n)
        })
        .collect();
    frontend_per_node.sort();
    let last_push_len = *last_push.lock().unwrap();
    Ok(Outcome {
        all: all.len(),
        with_managed_fields: all.list().iter().filter(|p| p.metadata.managed_fields.is_some()).count(),
        frontend_per_node,
        pushes: pushes.load(Ordering::Relaxed),
        last_push_len,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = informer::kube::default_client().await?;
    let outcome = run(client, Duration::ZERO).await?;
    println!("{} pods cached without managedFields; undelta pushed {} times", outcome.all, outcome.pushes);
    for (node, n) in &outcome.frontend_per_node {
        println!("frontend pods on {node}: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_tests::kube_api::KubeApiServer;
    use informer_tests::kube_api::pods::PodGenerator;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_reflector_feeds_a_stripped_cache_a_filtered_indexer_and_an_undelta() {
        let server = KubeApiServer::start().await.unwrap();
        let pods = PodGenerator::new(5).with_nodes(3);
        let mut frontend = std::collections::BTreeMap::<String, usize>::new();
        let total = 200;
        for i in 0..total {
            let pod = pods.pod(i);
            assert!(pod["metadata"]["managedFields"].is_array(), "the generated pods carry managedFields");
            if pod["metadata"]["labels"]["tier"] == "frontend" {
                *frontend.entry(pod["spec"]["nodeName"].as_str().unwrap_or("").to_string()).or_default() += 1;
            }
            server.create(pod).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        let client = informer::kube::client_from_kubeconfig(&kubeconfig, None).await.unwrap();
        let outcome = run(client, Duration::from_millis(50)).await.unwrap();

        assert_eq!(outcome.all, total);
        assert_eq!(outcome.with_managed_fields, 0, "the transform stripped every pod");
        assert_eq!(
            outcome.frontend_per_node,
            frontend.into_iter().collect::<Vec<_>>(),
            "the filter kept exactly the frontend pods"
        );
        assert!(!outcome.frontend_per_node.is_empty(), "the generator makes some frontend pods");
        assert!(outcome.pushes >= 1);
        assert_eq!(outcome.last_push_len, total, "the undelta pushed the whole state");
    }
}

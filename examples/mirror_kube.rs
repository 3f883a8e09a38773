//! Mirror the pods of a Kubernetes cluster into an indexer with a by-node index, and print
//! how many pods run on each node.
//!
//! ```sh
//! cargo run --example mirror_kube                 # all namespaces, kubeconfig or in-cluster
//! cargo run --example mirror_kube -- kube-system  # one namespace
//! ```
//!
//! The pods' `managedFields` are stripped before they reach the store (a third of a pod's
//! size, rarely read). After the initial sync the indexer answers "which pods run on node X"
//! from memory, without asking the API server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use informer::kube::k8s_openapi::api::core::v1::Pod;
use informer::kube::kube::Client;
use informer::kube::{KubeSource, key_fn};
use informer::{CancellationToken, IndexFn, Indexer, Indexers, Reflector, ReflectorConfig};

/// Unscheduled pods are indexed under this node name.
pub const UNSCHEDULED: &str = "<unscheduled>";

/// Mirrors pods (one namespace or all), waits for the initial sync, keeps watching for
/// `watch_for`, and returns the pod keys per node.
pub async fn pods_per_node(
    client: Client,
    namespace: Option<&str>,
    watch_for: Duration,
) -> Result<BTreeMap<String, Vec<String>>, Box<dyn std::error::Error + Send + Sync>> {
    let source = match namespace {
        Some(ns) => KubeSource::<Pod>::namespaced(client, ns),
        None => KubeSource::<Pod>::all(client),
    }
    .strip_managed_fields();
    let by_node =
        IndexFn::single(|pod: &Pod| pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or(UNSCHEDULED));
    let indexer = Arc::new(Indexer::with_indexers(key_fn::<Pod>(), Indexers::new().with("node", by_node)));
    let reflector = Reflector::new(source, Arc::clone(&indexer), ReflectorConfig::default());
    let handle = reflector.handle();
    let stop = CancellationToken::new();
    let task = tokio::spawn(reflector.run(stop.clone()));
    if !handle.wait_synced().await {
        return Err(task.await?.err().map_or_else(|| "reflector stopped".into(), Into::into));
    }
    tokio::time::sleep(watch_for).await;
    let mut per_node = BTreeMap::new();
    for node in indexer.list_index_values("node")? {
        let mut keys: Vec<String> = indexer.index_keys("node", &node)?.iter().map(|k| k.to_string()).collect();
        keys.sort();
        per_node.insert(node, keys);
    }
    stop.cancel();
    task.await??;
    Ok(per_node)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let namespace = std::env::args().nth(1);
    let client = informer::kube::default_client().await?;
    let per_node = pods_per_node(client, namespace.as_deref(), Duration::ZERO).await?;
    for (node, pods) in &per_node {
        println!("{node}: {} pods", pods.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_tests::kube_api::KubeApiServer;
    use informer_tests::kube_api::pods::PodGenerator;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_pods_per_node_from_the_mirror() {
        let server = KubeApiServer::start().await.unwrap();
        let pods = PodGenerator::new(11).with_nodes(5);
        let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in 0..300 {
            let pod = pods.pod(i);
            let node = pod["spec"]["nodeName"].as_str().unwrap_or(UNSCHEDULED).to_string();
            let key = format!(
                "{}/{}",
                pod["metadata"]["namespace"].as_str().unwrap(),
                pod["metadata"]["name"].as_str().unwrap()
            );
            expected.entry(node).or_default().push(key);
            server.create(pod).unwrap();
        }
        for keys in expected.values_mut() {
            keys.sort();
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        let client = informer::kube::client_from_kubeconfig(&kubeconfig, None).await.unwrap();
        let per_node = pods_per_node(client, None, Duration::from_millis(100)).await.unwrap();
        assert_eq!(per_node, expected);
        assert_eq!(per_node.len(), 5);
    }
}

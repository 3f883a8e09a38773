//! Shared helpers of the tests against the local Kubernetes API server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use informer_core::{BackoffConfig, ReflectorConfig};
use informer_kube::kube::Client;
use informer_tests::MapStore;
use informer_tests::kube_api::{KubeApiServer, PodGenerator};

/// A server and a `kube::Client` built from a kubeconfig file pointing at it.
pub struct Setup {
    pub server: KubeApiServer,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn setup() -> Setup {
    setup_with(informer_tests::kube_api::ServerOptions::default()).await
}

pub async fn setup_with(options: informer_tests::kube_api::ServerOptions) -> Setup {
    let server = KubeApiServer::start_with(options).await.expect("local API server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).expect("kubeconfig written");
    let client = informer_kube::client_from_kubeconfig(&path, None).await.expect("client from kubeconfig");
    Setup { server, client, _dir: dir }
}

/// Small backoff, no minimum watch duration, seeded jitter; list then watch, the initial list
/// these tests count requests of (the streaming tests choose streaming themselves).
pub fn fast_config() -> ReflectorConfig {
    ReflectorConfig::default()
        .with_initial_list(informer_core::InitialList::ListThenWatch)
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(5)).with_max(Duration::from_millis(50)),
        )
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(11))
}

// Not every test binary uses it.
#[allow(unused_imports)]
pub use informer_tests::reflect::start;

/// Waits until `check` holds, or panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Creates pods `0..n` of `generator`.
pub fn create_pods(server: &KubeApiServer, generator: &PodGenerator, n: usize) {
    server.create_pods(generator, 0..n).expect("pods created");
}

/// The store's keys with each object's resourceVersion.
pub fn store_versions<T: Send + Sync + 'static>(
    store: &MapStore<T>,
    version_of: impl Fn(&T) -> String,
) -> BTreeMap<String, String> {
    store.snapshot().into_iter().map(|(k, o)| (k.to_string(), version_of(&o))).collect()
}

/// A typed object's resourceVersion.
pub fn rv<K: informer_kube::kube::Resource>(object: &K) -> String {
    object.meta().resource_version.clone().unwrap_or_default()
}

//! Helpers of the tests against the real kube-apiserver (`informer_tests::control_plane`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use informer_core::{BackoffConfig, ReflectorConfig};
use informer_kube::kube::Client;
use informer_kube::kube::api::{Api, DeleteParams, ListParams};
use informer_tests::MapStore;
use informer_tests::control_plane::{ControlPlane, User};
use informer_tests::kube_api::PodGenerator;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

const SEED: u64 = 1_37;

fn generator() -> PodGenerator {
    PodGenerator::new(SEED).with_nodes(10)
}

/// An admin client of the shared control plane and a fresh namespace for one test.
pub async fn admin(prefix: &str) -> (Client, String) {
    admin_of(ControlPlane::shared(), prefix).await
}

/// An admin client of `cp` and a fresh namespace.
pub async fn admin_of(cp: &ControlPlane, prefix: &str) -> (Client, String) {
    let client = cp.client(User::Admin).await.expect("admin client");
    let ns = cp.create_namespace(&client, prefix).await.expect("namespace created");
    (client, ns)
}

/// The name of generated pod `i`.
pub fn name(i: usize) -> String {
    generator().pod(i)["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

/// Generated pod `i` (from `shared/data/pod.json`) as a create request for namespace `ns`.
pub fn pod_json(ns: &str, i: usize) -> Value {
    informer_tests::control_plane::pod_manifest(&generator(), i, ns)
}

/// [`pod_json`] as a typed `Pod`.
pub fn pod(ns: &str, i: usize) -> Pod {
    serde_json::from_value(pod_json(ns, i)).expect("generated pods decode")
}

/// Creates pods `range` in `ns`, 32 requests at a time.
pub async fn create_pods(client: &Client, ns: &str, range: Range<usize>) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(range)
        .map(|i| {
            let api = api.clone();
            async move { api.create(&Default::default(), &pod(ns, i)).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("pods created");
}

/// Deletes a pod at once (grace period 0: there is no kubelet to confirm it).
pub async fn delete_now(api: &Api<Pod>, name: &str) {
    api.delete(name, &DeleteParams::default().grace_period(0)).await.expect("pod deleted");
}

/// `namespace/name` → resourceVersion of every pod in `ns`, from a fresh consistent list.
pub async fn server_pods(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("pods listed")
        .items
        .into_iter()
        .map(|p| {
            (format!("{ns}/{}", p.metadata.name.unwrap_or_default()), p.metadata.resource_version.unwrap_or_default())
        })
        .collect()
}

/// `key` → resourceVersion of every pod in the store.
pub fn store_pods(store: &MapStore<Pod>) -> BTreeMap<String, String> {
    store
        .snapshot()
        .into_iter()
        .map(|(k, p)| (k.to_string(), p.metadata.resource_version.clone().unwrap_or_default()))
        .collect()
}

/// The CustomResourceDefinitions API.
pub fn crds(client: &Client) -> Api<CustomResourceDefinition> {
    Api::all(client.clone())
}

/// Short backoff, no minimum watch duration, seeded jitter: a reflector that reacts quickly.
pub fn real_config() -> ReflectorConfig {
    ReflectorConfig::default()
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(20)).with_max(Duration::from_millis(500)),
        )
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(SEED))
}

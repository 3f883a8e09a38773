//! Server-side sharding (KEP-5866) end to end: two `KubeSource`s with the two halves of
//! `ShardRange::FULL.split(2)` on `object.metadata.uid` mirror one namespace of pods through
//! creates, updates and deletes, against the local API server and against the real
//! kube-apiserver 1.37 with `ShardedListAndWatch` on. Between them the two stores hold exactly
//! the server's pods, no pod is in both, each pod is in the half its uid hashes to, and every
//! list the server answers under a shard selector echoes it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{converge, fast_config, seed};
use informer_core::shard::{ShardRange, ShardSelector, fnv1a64};
use informer_core::{InitialList, ReflectorConfig};
use informer_kube::k8s_openapi::api::core::v1::Pod;
use informer_kube::kube::Client;
use informer_kube::kube::api::{Api, DeleteParams, Patch, PatchParams};
use informer_kube::{KubeSource, ShardField, key_fn, shard_selector_expression};
use informer_tests::MapStore;
use informer_tests::control_plane::{
    ControlPlane, ControlPlaneOptions, User, pod_manifest, resource_versions, store_versions,
};
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use informer_tests::reflect::{self, Running};
use serde_json::{Value, json};

const PODS: usize = 60;

fn halves() -> Vec<ShardSelector> {
    ShardRange::FULL.split(2).unwrap().into_iter().map(ShardSelector::from).collect()
}

/// One reflector per half; the first starts with a streaming list, the second with a paged list.
fn start_shards(client: &Client, ns: &str, seed: u64) -> Vec<Running<Pod>> {
    let configs: [ReflectorConfig; 2] = [
        fast_config(7, seed).with_initial_list(InitialList::Streaming),
        fast_config(7, seed).with_initial_list(InitialList::ListThenWatch),
    ];
    halves()
        .into_iter()
        .zip(configs)
        .map(|(half, config)| {
            let source = KubeSource::<Pod>::namespaced(client.clone(), ns).with_shard_selector(half, ShardField::Uid);
            reflect::start(source, key_fn::<Pod>(), config)
        })
        .collect()
}

/// The union of the shards' stores (key → resourceVersion); a key in both stores gets the
/// version `in both shards`, which no server state has. Panics if a pod is in the wrong half.
///
/// A key can be in both for a moment: a pod deleted and created again under the same name is
/// a new object with a new uid, maybe in the other half, which may see the creation before
/// this half sees the deletion.
fn union_of(shards: &[Running<Pod>]) -> BTreeMap<String, String> {
    let mut union = BTreeMap::new();
    for (store, half) in shards.iter().map(|s| &s.store).zip(halves()) {
        for (key, pod) in store.snapshot() {
            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
            assert!(half.contains(fnv1a64(uid.as_bytes())), "{key} (uid {uid}) is not in shard {half}");
        }
        for (key, version) in store_versions(store) {
            if union.insert(key.clone(), version).is_some() {
                union.insert(key, "in both shards".to_string());
            }
        }
    }
    union
}

/// Once converged: no pod in both stores.
fn assert_disjoint(shards: &[Running<Pod>]) {
    let (first, second) = (shards[0].store.snapshot(), shards[1].store.snapshot());
    let both: Vec<_> = first.keys().filter(|k| second.contains_key(*k)).collect();
    assert!(both.is_empty(), "in both shards: {both:?}");
}

/// Lists each half directly and checks the echo (`metadata.shardInfo.selector`) and that the
/// items are what that half's store holds.
async fn check_echoes(client: &Client, collection: &str, stores: &[&MapStore<Pod>]) {
    for (half, store) in halves().into_iter().zip(stores) {
        let expression = shard_selector_expression(&half, ShardField::Uid);
        let query: String = form_urlencoded(&expression);
        let request = http::Request::get(format!("{collection}?shardSelector={query}")).body(Vec::new()).unwrap();
        let list: Value = client.request(request).await.expect("a sharded list");
        assert_eq!(list["metadata"]["shardInfo"]["selector"], expression.as_str(), "the echo of {half}");
        let names: Vec<String> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| {
                format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap())
            })
            .collect();
        let stored: Vec<String> = store.snapshot().into_keys().map(|k| k.to_string()).collect();
        assert_eq!(names, stored, "the server's list of {half} and its store");
    }
}

fn form_urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn names(generator: &PodGenerator) -> Vec<String> {
    (0..PODS).map(|i| generator.pod(i)["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_side_shards_hold_the_local_api_servers_pods_between_them() {
    let seed = seed("shards-local");
    let server = KubeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let client = informer_kube::client_from_kubeconfig(&path, None).await.unwrap();
    let ns = "shop";
    let generator = PodGenerator::new(seed);
    let pod_names = names(&generator);
    for i in 0..PODS / 2 {
        server.create(pod_manifest(&generator, i, ns)).unwrap();
    }
    let shards = start_shards(&client, ns, seed);
    let server_pods = || {
        let pods: BTreeMap<String, String> =
            server.keys_and_versions("Pod").into_iter().filter(|(k, _)| k.starts_with("shop/")).collect();
        async move { pods }
    };
    converge(Duration::from_secs(20), server_pods, || union_of(&shards)).await;

    // Creates, updates (a label change), deletes; then every watch expires and both relist.
    let mut rng = fastrand::Rng::with_seed(seed);
    for step in 0..200 {
        let i = rng.usize(..PODS);
        match server.get("Pod", Some(ns), &pod_names[i]) {
            None => {
                server.create(pod_manifest(&generator, i, ns)).unwrap();
            }
            Some(_) if step % 3 == 0 => {
                server.delete("Pod", Some(ns), &pod_names[i]).unwrap();
            }
            Some(mut pod) => {
                pod["metadata"]["labels"]["step"] = json!(step.to_string());
                server.update(pod).unwrap();
            }
        }
        if step == 120 {
            server.expire_next_watches(4);
            server.drop_watches();
        }
    }
    let (pods, _) = converge(Duration::from_secs(20), server_pods, || union_of(&shards)).await;
    assert!(pods > 10, "the churn left {pods} pods");
    assert_disjoint(&shards);
    assert!(shards.iter().all(|s| !s.store.is_empty()), "uids spread over both halves");
    check_echoes(&client, &format!("/api/v1/namespaces/{ns}/pods"), &[&shards[0].store, &shards[1].store]).await;

    // Every request the two sources sent carried their shard selector.
    let expressions: Vec<String> = halves().iter().map(|h| shard_selector_expression(h, ShardField::Uid)).collect();
    let requests = server.requests();
    assert!(requests.iter().any(|r| r.verb == "watch" && r.param("sendInitialEvents") == Some("true")));
    for request in requests.iter().filter(|r| r.verb != "get") {
        let sent = request.param("shardSelector").unwrap_or_default();
        assert!(expressions.iter().any(|e| e == sent), "{} {:?} without a shard selector", request.verb, request.query);
    }
    for shard in shards {
        shard.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_side_shards_hold_the_real_apiservers_pods_between_them() {
    let seed = seed("shards-real");
    let cp = Arc::new(
        tokio::task::spawn_blocking(|| ControlPlane::start_with(ControlPlaneOptions::default()))
            .await
            .unwrap()
            .expect("control plane starts"),
    );
    let client = cp.client(User::Admin).await.unwrap();
    let ns = cp.create_namespace(&client, "shards").await.unwrap();
    let generator = PodGenerator::new(seed);
    let pod_names = names(&generator);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let manifest = |i: usize| -> Pod { serde_json::from_value(pod_manifest(&generator, i, &ns)).unwrap() };
    let mut present = [false; PODS];
    for (i, slot) in present.iter_mut().enumerate().take(PODS / 2) {
        api.create(&Default::default(), &manifest(i)).await.expect("pod created");
        *slot = true;
    }
    let shards = start_shards(&client, &ns, seed);
    let collection = format!("/api/v1/namespaces/{ns}/pods");
    let server_pods = || {
        let (client, collection) = (client.clone(), collection.clone());
        async move { resource_versions(&client, &collection).await.unwrap_or_default() }
    };
    converge(Duration::from_secs(30), server_pods, || union_of(&shards)).await;

    let mut rng = fastrand::Rng::with_seed(seed);
    for step in 0..150u32 {
        let i = rng.usize(..PODS);
        if !present[i] {
            api.create(&Default::default(), &manifest(i)).await.expect("pod created");
            present[i] = true;
        } else if step % 3 == 0 {
            api.delete(&pod_names[i], &DeleteParams::default().grace_period(0)).await.expect("pod deleted");
            present[i] = false;
        } else {
            let patch = json!({"metadata": {"labels": {"step": step.to_string()}}});
            api.patch(&pod_names[i], &PatchParams::default(), &Patch::Merge(&patch)).await.expect("pod patched");
        }
    }
    let (pods, _) = converge(Duration::from_secs(30), server_pods, || union_of(&shards)).await;
    assert_eq!(pods, present.iter().filter(|p| **p).count());
    assert_disjoint(&shards);
    assert!(shards.iter().all(|s| !s.store.is_empty()), "uids spread over both halves");
    check_echoes(&client, &collection, &[&shards[0].store, &shards[1].store]).await;
    for shard in shards {
        let metrics = shard.handle.metrics();
        assert_eq!(metrics.errors, 0, "the server applied the shard selector to every request: {metrics:?}");
        shard.stop().await;
    }
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

//! Convergence of the Kubernetes backend against a real kube-apiserver 1.37 on etcd 3.7
//! (`informer_tests::control_plane`) under faults: the mirror's `kube` client reaches the
//! apiserver over TLS through a [`FaultProxy`] (random cuts mid-response, stalls, refusals),
//! while a writer with its own direct connection creates, updates and deletes pods, and the
//! apiserver is killed and restarted mid-run (its new watch cache expires the mirror's
//! version). After the churn stops and the faults are lifted, the store must hold exactly the
//! server's pods, each at the server's resourceVersion.
//!
//! Seeded: the seed is printed; `INFORMER_SEED=<seed>` replays the fault and churn sequence.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{converge, fast_config, seed};
use informer_kube::k8s_openapi::api::core::v1::Pod;
use informer_kube::kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use informer_kube::{KubeSource, key_fn};
use informer_tests::control_plane::{ControlPlane, ControlPlaneOptions, User, pod_manifest};
use informer_tests::kube_api::PodGenerator;
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::{MapStore, reflect};
use serde_json::json;

const PODS: usize = 240;

fn store_versions(store: &MapStore<Pod>) -> BTreeMap<String, String> {
    store
        .snapshot()
        .into_iter()
        .map(|(k, pod)| (k.to_string(), pod.metadata.resource_version.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_apiserver_store_equals_server_after_churn_proxy_faults_and_an_apiserver_restart() {
    let seed = seed("kube-real");
    let cp = Arc::new(
        tokio::task::spawn_blocking(|| ControlPlane::start_with(ControlPlaneOptions::default()))
            .await
            .unwrap()
            .expect("control plane starts"),
    );
    let writer_client = cp.client(User::Admin).await.unwrap();
    let ns = cp.create_namespace(&writer_client, "converge").await.unwrap();
    let pods = PodGenerator::new(seed).with_nodes(20);
    let api: Api<Pod> = Api::namespaced(writer_client.clone(), &ns);
    let name = |i: usize| pods.pod(i)["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let manifest = |i: usize| -> Pod { serde_json::from_value(pod_manifest(&pods, i, &ns)).unwrap() };
    let mut present = vec![false; PODS];
    for (i, slot) in present.iter_mut().enumerate().take(PODS / 2) {
        api.create(&Default::default(), &manifest(i)).await.expect("pod created");
        *slot = true;
    }

    let faults = Faults {
        cut_per_chunk: 0.01,
        stall_per_chunk: 0.02,
        stall: Duration::from_millis(100),
        refuse_per_connection: 0.1,
    };
    let proxy = FaultProxy::start(cp.addr(), faults, seed).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let yaml = cp.kubeconfig_yaml(User::Admin).unwrap().replace(&cp.url(), &format!("https://{}", proxy.addr()));
    assert!(yaml.contains(&proxy.addr().to_string()), "kubeconfig points at the proxy");
    std::fs::write(&kubeconfig, yaml).unwrap();
    let client = informer_kube::client_from_kubeconfig(&kubeconfig, None).await.expect("client from kubeconfig");
    let source = KubeSource::<Pod>::namespaced(client, &ns);
    let mirror = reflect::start(source, key_fn::<Pod>(), fast_config(40, seed));
    let (store, handle) = (&mirror.store, &mirror.handle);

    // Churn through the writer's direct connection; paused while the apiserver restarts.
    let changes = Arc::new(AtomicU64::new(0));
    let (stop, paused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let writer = {
        let (api, changes, stop, paused) = (api.clone(), changes.clone(), stop.clone(), paused.clone());
        let names: Vec<String> = (0..PODS).map(name).collect();
        let manifests: Vec<Pod> = (0..PODS).map(manifest).collect();
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 0x6b75_6265);
            let mut step = 0u64;
            while !stop.load(Ordering::SeqCst) {
                if paused.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                step += 1;
                let i = rng.usize(..PODS);
                let result = if !present[i] {
                    api.create(&Default::default(), &manifests[i]).await.map(drop)
                } else if rng.u8(0..3) == 0 {
                    api.delete(&names[i], &DeleteParams::default().grace_period(0)).await.map(drop)
                } else {
                    let patch = json!({"metadata": {"annotations": {"informer.dev/step": step.to_string()}}});
                    api.patch(&names[i], &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop)
                };
                // A write that failed (the apiserver going down) may or may not have happened:
                // ask the server what is there now.
                if result.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                match api.get_opt(&names[i]).await {
                    Ok(found) => present[i] = found.is_some(),
                    Err(_) => continue,
                }
                if result.is_ok() {
                    changes.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Kill the apiserver under the running mirror and start it again.
    paused.store(true, Ordering::SeqCst);
    let restart = {
        let cp = cp.clone();
        tokio::task::spawn_blocking(move || cp.restart_apiserver())
    };
    restart.await.unwrap().expect("apiserver restarts");
    paused.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A cut while the proxy refuses reconnects, with writes meanwhile.
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(800)).await;
    proxy.set_refusing(false);
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let churn = started.elapsed();
    proxy.set_faults(Faults::none());
    let server_versions = || {
        let api = api.clone();
        let ns = ns.clone();
        async move {
            match api.list(&ListParams::default()).await {
                Ok(list) => list
                    .items
                    .into_iter()
                    .map(|p| {
                        (
                            format!("{ns}/{}", p.metadata.name.unwrap_or_default()),
                            p.metadata.resource_version.unwrap_or_default(),
                        )
                    })
                    .collect(),
                Err(_) => BTreeMap::new(),
            }
        }
    };
    let (keys, diff) = converge(Duration::from_secs(60), server_versions, || store_versions(store)).await;
    let metrics = handle.metrics();
    let counts = proxy.counts();
    println!(
        "[kube-real] seed {seed}: {} changes in {churn:.1?}; proxy faults {counts:?}; 1 apiserver restart; \
         reflector: {} relists, {} lists, {} pages, {} watches, {} errors, {} events, {} bookmarks; \
         final {keys} pods: {} lost, {} stale",
        changes.load(Ordering::SeqCst),
        metrics.relists,
        metrics.lists,
        metrics.list_pages,
        metrics.watches,
        metrics.errors,
        metrics.events_total(),
        metrics.bookmarks,
        diff.lost,
        diff.stale_extra + diff.stale_value,
    );
    assert!(changes.load(Ordering::SeqCst) > 200, "the churn made too few changes to mean anything");
    assert!(counts.total() > 0, "proxy faults were injected: {counts:?}");
    assert!(metrics.relists >= 1, "the restart's new watch cache expires the mirror's version: {metrics:?}");
    mirror.stop().await;
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

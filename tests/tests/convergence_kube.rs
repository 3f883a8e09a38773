//! Convergence of the Kubernetes backend under faults: the real `kube` client reaches the
//! local API server through a [`FaultProxy`] (random cuts mid-response, stalls, refusals),
//! while a writer creates, updates and deletes pods on the server and the server itself drops
//! watches, answers watches with a forced `410 Expired`, and compacts its history. After the
//! churn stops and the faults are lifted, the store must hold exactly the server's pods, each at
//! the server's resourceVersion.
//!
//! Seeded: the seed is printed; `INFORMER_SEED=<seed>` replays the fault and churn sequence.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{converge, fast_config, seed};
use informer_kube::k8s_openapi::api::core::v1::Pod;
use informer_kube::{KubeSource, key_fn};
use informer_tests::control_plane::store_versions;
use informer_tests::guarantees::{Recording, assert_guarantees};
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::reflect;

const PODS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_store_equals_server_after_churn_through_proxy_faults_expiries_and_compaction() {
    let seed = seed("kube");
    let server = Arc::new(KubeApiServer::start().await.expect("local API server starts"));
    let pods = Arc::new(PodGenerator::new(seed));
    let mut present = vec![false; PODS];
    for (i, slot) in present.iter_mut().enumerate().take(PODS / 2) {
        server.create(pods.pod(i)).expect("pod created");
        *slot = true;
    }

    let faults = Faults {
        cut_per_chunk: 0.01,
        stall_per_chunk: 0.02,
        stall: Duration::from_millis(100),
        refuse_per_connection: 0.15,
    };
    let proxy = FaultProxy::start(server.addr(), faults, seed).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let yaml = server.kubeconfig_yaml().replace(&server.url(), &format!("http://{}", proxy.addr()));
    assert!(yaml.contains(&proxy.addr().to_string()), "kubeconfig points at the proxy");
    std::fs::write(&kubeconfig, yaml).unwrap();
    let client = informer_kube::client_from_kubeconfig(&kubeconfig, None).await.expect("client from kubeconfig");

    let source = Recording::new(KubeSource::<Pod>::all(client), |pod: &Pod| {
        format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
    });
    let traces = source.traces();
    let mirror = reflect::start(source, key_fn::<Pod>(), fast_config(50, seed));
    let (store, handle) = (&mirror.store, &mirror.handle);

    // Churn on the server directly: create a missing pod, touch a present one, or delete it.
    let changes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (server, pods, changes, stop) =
            (Arc::clone(&server), Arc::clone(&pods), Arc::clone(&changes), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 0x6b75_6265);
            let mut step = 0u64;
            while !stop.load(Ordering::Relaxed) {
                step += 1;
                let i = rng.usize(..PODS);
                let pod = pods.pod(i);
                let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let namespace = pod["metadata"]["namespace"].as_str().map(str::to_string);
                let done = if !present[i] {
                    server.create(pod).is_ok()
                } else if rng.u8(0..3) == 0 {
                    server.delete("Pod", namespace.as_deref(), &name).is_ok()
                } else {
                    let mut pod = pod;
                    PodGenerator::touch(&mut pod, step);
                    server.apply(pod).is_ok()
                };
                assert!(done, "server write {step} on pod {i} failed");
                present[i] = server.get("Pod", namespace.as_deref(), &name).is_some();
                changes.fetch_add(1, Ordering::Relaxed);
                if step.is_multiple_of(10) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };

    // Server-side faults during the churn.
    let started = Instant::now();
    let (mut dropped, mut expiries, mut compactions) = (0u64, 0u64, 0u64);
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xfa17);
    while started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(rng.u64(200..600))).await;
        match rng.u8(0..3) {
            0 => {
                server.drop_watches();
                dropped += 1;
            }
            1 => {
                server.expire_next_watches(1);
                server.drop_watches();
                expiries += 1;
            }
            _ => {
                server.compact();
                compactions += 1;
            }
        }
    }
    // A compaction while the client is cut off: the reconnecting watch finds its version gone.
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.compact();
    compactions += 1;
    proxy.set_refusing(false);
    tokio::time::sleep(Duration::from_millis(1000)).await;

    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let churn = started.elapsed();
    proxy.set_faults(Faults::none());
    let server_versions = || {
        let server = Arc::clone(&server);
        async move { server.keys_and_versions("Pod") }
    };
    let (keys, diff) = converge(Duration::from_secs(15), server_versions, || store_versions(store)).await;
    let metrics = handle.metrics();
    let counts = proxy.counts();
    let api = server.counters();
    println!(
        "[kube] seed {seed}: {} changes in {churn:.1?}; faults: {} ({counts:?}), {dropped} dropped watches, \
         {expiries} forced 410s, {compactions} compactions; reflector: {} relists, {} lists, {} watches, {} errors, \
         {} events; server saw {api:?}; final {keys} pods: {} lost, {} stale",
        changes.load(Ordering::Relaxed),
        counts.total() + dropped + expiries + compactions,
        metrics.relists,
        metrics.lists,
        metrics.watches,
        metrics.errors,
        metrics.events_total(),
        diff.lost,
        diff.stale_extra + diff.stale_value,
    );
    assert!(changes.load(Ordering::Relaxed) > 500, "the churn made too few changes to mean anything");
    assert!(counts.total() > 0 && dropped + expiries > 0, "faults were injected: {counts:?}");
    assert!(metrics.relists > 0, "forced 410s and compactions cause relists: {metrics:?}");
    mirror.stop().await;
    // The server compacts its history: the guarantees that need only the deliveries are checked.
    let traces = traces.lock().unwrap().clone();
    println!("[kube] guarantees checked over {} watches", traces.len());
    assert_guarantees("kube through faults", &traces, None);
}

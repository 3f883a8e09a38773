//! Convergence of the HTTP long-poll backend (the etcd v2 preset) under faults: the source
//! polls a real etcd with `--enable-v2=true` through a [`FaultProxy`] (random cuts
//! mid-response, stalls, refusals, and a full cut-off), while a writer sets and deletes keys
//! directly on etcd fast enough that a cut-off poller falls out of etcd's 1 000-event window
//! (answered `401 outdated`, so the reflector relists). After the churn stops and the faults
//! are lifted, the store must hold exactly etcd's leaf keys, values and modifiedIndex.
//!
//! Seeded: the seed is printed; `INFORMER_SEED=<seed>` replays the fault and churn sequence.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{converge, fast_config, seed};
use informer_core::KeyFn;
use informer_http::{HttpItem, HttpSource, presets};
use informer_tests::etcd::{EtcdOptions, EtcdServer};
use informer_tests::guarantees::{Recording, assert_guarantees};
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::{MapStore, reflect};
use serde_json::Value;

const DIR: &str = "/conv";
const KEYS: u32 = 200;

/// Leaf key → (value, modifiedIndex) of a v2 node tree.
fn walk(node: &Value, out: &mut BTreeMap<String, (Value, String)>) {
    if let Some(children) = node.get("nodes").and_then(Value::as_array) {
        for child in children {
            walk(child, out);
        }
    } else if node.get("dir").and_then(Value::as_bool) != Some(true)
        && let (Some(key), Some(index)) = (node.get("key").and_then(Value::as_str), node.get("modifiedIndex"))
    {
        out.insert(key.to_string(), (node.get("value").cloned().unwrap_or(Value::Null), index.to_string()));
    }
}

fn mirror_state(store: &MapStore<HttpItem>) -> BTreeMap<String, (Value, String)> {
    store
        .snapshot()
        .into_iter()
        .map(|(k, item)| {
            (k.to_string(), (item.value.clone(), item.version.clone().map(|v| v.to_string()).unwrap_or_default()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_long_poll_mirror_equals_etcd_v2_after_churn_through_faults() {
    let seed = seed("http");
    let etcd = EtcdServer::start_with(EtcdOptions { enable_v2: true, ..Default::default() })
        .expect("etcd with v2 starts (install Debian's etcd-server)");
    let http = informer_http::client_builder().unwrap().build().unwrap();
    let base = format!("{}/v2/keys", etcd.url());
    for k in 0..KEYS / 2 {
        let response = http
            .put(format!("{base}{DIR}/{k:03}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("value=initial")
            .send()
            .await
            .expect("preload put");
        assert!(response.status().is_success());
    }

    let faults = Faults {
        cut_per_chunk: 0.03,
        stall_per_chunk: 0.03,
        stall: Duration::from_millis(100),
        refuse_per_connection: 0.15,
    };
    let proxy = FaultProxy::start(etcd.endpoint().parse().unwrap(), faults, seed).await.unwrap();
    let config = presets::etcd_v2_keys(&format!("http://{}", proxy.addr()), DIR)
        .unwrap()
        .with_wait(Duration::from_secs(2))
        .with_request_margin(Duration::from_secs(2))
        .with_connect_timeout(Duration::from_secs(1));
    let source = HttpSource::new(config).expect("source");
    let source = Recording::new(source, |item: &HttpItem| item.key.to_string());
    let traces = source.traces();
    let mirror = reflect::start(source, KeyFn::keyed(), fast_config(500, seed));
    let (store, handle) = (&mirror.store, &mirror.handle);

    let changes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (changes, stop, http, base) = (Arc::clone(&changes), Arc::clone(&stop), http.clone(), base.clone());
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 0x4854_5450);
            let mut step = 0u64;
            while !stop.load(Ordering::Relaxed) {
                step += 1;
                let url = format!("{base}{DIR}/{:03}", rng.u32(0..KEYS));
                let request = if rng.u8(0..4) == 0 {
                    http.delete(url)
                } else {
                    http.put(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(format!("value=v{step}"))
                };
                let response = request.send().await.expect("etcd answers");
                // A delete of a missing key is a 404: no change.
                if response.status().is_success() {
                    changes.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Cut off long enough for more than 1 000 changes: the poller's index is outdated.
    let relists_before = handle.metrics().relists;
    // The mirror may be between connections (backing off) at this instant: then no live
    // connection is cut, but its reconnects during the window are refused.
    let before_cut = proxy.counts();
    proxy.set_refusing(true);
    proxy.cut_all();
    let cut_at = changes.load(Ordering::Relaxed);
    let cut_started = Instant::now();
    while changes.load(Ordering::Relaxed) < cut_at + 1_200 && cut_started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.set_refusing(false);
    let during_cut = proxy.counts();
    let cut_off = (during_cut.forced_cuts - before_cut.forced_cuts) + (during_cut.refusals - before_cut.refusals);
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let churn = started.elapsed();
    proxy.set_faults(Faults::none());
    let server_state = || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body =
                http.get(format!("{base}{DIR}?recursive=true")).send().await.expect("get").bytes().await.expect("body");
            let json: Value = serde_json::from_slice(&body).expect("etcd answers JSON");
            let mut out = BTreeMap::new();
            walk(&json["node"], &mut out);
            out
        }
    };
    let (keys, diff) = converge(Duration::from_secs(15), server_state, || mirror_state(store)).await;
    let metrics = handle.metrics();
    let counts = proxy.counts();
    println!(
        "[http] seed {seed}: {} changes in {churn:.1?}; faults: {} ({counts:?}); reflector: {} relists, {} lists, \
         {} watches, {} errors, {} events; final {keys} keys: {} lost, {} stale",
        changes.load(Ordering::Relaxed),
        counts.total(),
        metrics.relists,
        metrics.lists,
        metrics.watches,
        metrics.errors,
        metrics.events_total(),
        diff.lost,
        diff.stale_extra + diff.stale_value,
    );
    assert!(changes.load(Ordering::Relaxed) > 1_200, "the churn made too few changes to mean anything");
    assert!(counts.total() > 0, "faults were injected: {counts:?}");
    assert!(cut_off > 0, "the cut reached the mirror (a live connection cut, or a reconnect refused): {counts:?}");
    assert!(metrics.relists > relists_before, "an outdated index after the cut-off forces a relist: {metrics:?}");
    mirror.stop().await;
    // etcd v2 keeps only 1 000 events: the guarantees that need only the deliveries are checked.
    let traces = traces.lock().unwrap().clone();
    println!("[http] guarantees checked over {} watches", traces.len());
    assert_guarantees("etcd v2 over HTTP through faults", &traces, None);
}

//! Soak: churn with faults against a real etcd for a long time, and check that the process's
//! memory stays flat.
//!
//! Duration: `INFORMER_SOAK_SECS` (e.g. `3600` for the one-hour soak); 10 s by default so CI
//! runs a short version. Churn keeps the key count bounded (updates and deletes of a fixed key
//! space of [`KEYS`] keys with values of fixed size), so the data does not grow.
//!
//! Criterion: after a warm-up (the first quarter of the run, at least 3 s), RSS is sampled at
//! the end of the warm-up (`base`) and once a second after it. The test fails if the RSS at
//! the end exceeds `base` by more than 25 % + 16 MiB. The margin absorbs allocator noise
//! and the difference between the number of keys present at the two points (at most
//! [`KEYS`] × ~300 B ≈ 0.6 MiB); a leak of even a few hundred bytes per change exceeds it over
//! an hour (≈ 10⁶ changes).
//! The mirror is checked against etcd at the end as in `convergence_etcd.rs`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{converge, fast_config, rss_kib, seed};
use informer_core::KeyFn;
use informer_etcd::etcd_client::{Client, CompactionOptions, GetOptions};
use informer_etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, RawCodec};
use informer_tests::etcd::EtcdServer;
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::{MapStore, reflect};

const PREFIX: &str = "/soak/";
const KEYS: u32 = 2_000;

async fn server_state(client: &Client) -> BTreeMap<String, (Vec<u8>, i64)> {
    let range = KeyRange::prefix(PREFIX);
    let response = client
        .kv_client()
        .get(range.start(), Some(GetOptions::new().with_range(range.end())))
        .await
        .expect("read etcd");
    response
        .kvs()
        .iter()
        .map(|kv| (informer_etcd::key_to_string(kv.key()), (kv.value().to_vec(), kv.mod_revision())))
        .collect()
}

fn mirror_state(store: &MapStore<EtcdKeyValue<Vec<u8>>>) -> BTreeMap<String, (Vec<u8>, i64)> {
    store.snapshot().into_iter().map(|(k, v)| (k.to_string(), (v.value.clone(), v.mod_revision))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_churn_with_faults() {
    let seconds: u64 = std::env::var("INFORMER_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let total = Duration::from_secs(seconds.max(4));
    let warm_up = (total / 4).max(Duration::from_secs(3));
    let seed = seed("soak");
    let etcd = EtcdServer::start().expect("etcd starts (install Debian's etcd-server)");
    let client = Client::connect([etcd.endpoint()], None).await.expect("client connects");

    let faults = Faults {
        cut_per_chunk: 0.005,
        stall_per_chunk: 0.01,
        stall: Duration::from_millis(50),
        refuse_per_connection: 0.1,
    };
    let proxy = FaultProxy::start(etcd.endpoint().parse().unwrap(), faults, seed).await.unwrap();
    let config = EtcdConfig::new([proxy.addr().to_string()], KeyRange::prefix(PREFIX))
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(Duration::from_secs(3));
    let source = EtcdSource::connect(config, RawCodec).await.expect("source connects");
    let mirror = reflect::start(source, KeyFn::keyed(), fast_config(500, seed));
    let (store, handle) = (&mirror.store, &mirror.handle);

    let changes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (changes, stop, mut kv) = (Arc::clone(&changes), Arc::clone(&stop), client.kv_client());
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            while !stop.load(Ordering::Relaxed) {
                let key = format!("{PREFIX}{:05}", rng.u32(0..KEYS));
                let result = if rng.u8(0..5) == 0 {
                    kv.delete(key, None).await.map(drop)
                } else {
                    let value: Vec<u8> = (0..128).map(|_| rng.alphanumeric() as u8).collect();
                    kv.put(key, value, None).await.map(drop)
                };
                result.expect("etcd write");
                changes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // Compact every few seconds so etcd's own history stays bounded and some watches expire.
    let started = Instant::now();
    let mut base = None;
    let mut peak = 0;
    let mut compactions = 0;
    let mut last_compaction = Instant::now();
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_kib().expect("VmRSS readable");
        if started.elapsed() >= warm_up {
            base.get_or_insert_with(|| {
                eprintln!("[soak] after warm-up {warm_up:?}: RSS {rss} KiB, {} keys", store.len());
                rss
            });
            peak = peak.max(rss);
        }
        if last_compaction.elapsed() >= Duration::from_secs(5) {
            let revision = client.kv_client().get("x", None).await.unwrap().header().unwrap().revision();
            client.kv_client().compact(revision, Some(CompactionOptions::new().with_physical())).await.unwrap();
            compactions += 1;
            last_compaction = Instant::now();
        }
    }
    let end = rss_kib().expect("VmRSS readable");
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    proxy.set_faults(Faults::none());
    let (keys, diff) = converge(Duration::from_secs(15), || server_state(&client), || mirror_state(store)).await;
    let base = base.expect("sampled after warm-up");
    let limit = base + base / 4 + 16 * 1024;
    let metrics = handle.metrics();
    println!(
        "[soak] seed {seed}: {:?}, {} changes, faults {:?}, {compactions} compactions, {} relists; RSS after warm-up \
         {base} KiB, peak {peak} KiB, end {end} KiB (limit {limit} KiB); final {keys} keys: {} lost, {} stale",
        started.elapsed(),
        changes.load(Ordering::Relaxed),
        proxy.counts(),
        metrics.relists,
        diff.lost,
        diff.stale_extra + diff.stale_value
    );
    assert!(end <= limit, "RSS grew from {base} KiB after warm-up to {end} KiB (limit {limit} KiB)");
    mirror.stop().await;
}

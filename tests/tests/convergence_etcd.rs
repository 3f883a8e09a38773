//! Convergence of the etcd backend under faults: a reflector mirrors a prefix through a
//! [`FaultProxy`] that cuts, stalls and refuses connections at random, while writers churn the
//! prefix (puts of new keys, updates, deletes, multi-key transactions) directly on etcd; etcd
//! is killed and restarted on the same data directory, and the history is compacted while the
//! mirror is cut off (forcing a relist). After the churn stops and the faults are lifted, the
//! store must equal etcd exactly: every key, value and mod revision.
//!
//! Seeded: the seed is printed; `INFORMER_SEED=<seed>` replays the fault and churn sequence
//! (thread timing still varies). The memory backend's equivalent is
//! `core/tests/convergence_property.rs`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{converge, eventually, fast_config, seed};
use informer_core::KeyFn;
use informer_etcd::etcd_client::{Client, CompactionOptions, GetOptions, Txn, TxnOp};
use informer_etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, RawCodec};
use informer_tests::etcd::EtcdServer;
use informer_tests::guarantees::{Recording, assert_guarantees};
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::{MapStore, reflect};

const PREFIX: &str = "/conv/";
const KEYS: u32 = 400;

/// Everything under the prefix on etcd: key → (value, mod revision), read at one revision.
async fn server_state(client: &Client) -> BTreeMap<String, (Vec<u8>, i64)> {
    let range = KeyRange::prefix(PREFIX);
    let options = GetOptions::new().with_range(range.end());
    let response = client.kv_client().get(range.start(), Some(options)).await.expect("read etcd");
    response
        .kvs()
        .iter()
        .map(|kv| (informer_etcd::key_to_string(kv.key()), (kv.value().to_vec(), kv.mod_revision())))
        .collect()
}

fn mirror_state(store: &MapStore<EtcdKeyValue<Vec<u8>>>) -> BTreeMap<String, (Vec<u8>, i64)> {
    store.snapshot().into_iter().map(|(k, v)| (k.to_string(), (v.value.clone(), v.mod_revision))).collect()
}

/// One random change: a put (new key or update), a delete, or a transaction of several.
fn random_ops(rng: &mut fastrand::Rng, step: u64) -> Vec<TxnOp> {
    let n = if rng.u8(0..10) == 0 { rng.usize(2..8) } else { 1 };
    let mut keys: Vec<u32> = (0..n).map(|_| rng.u32(0..KEYS)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let key = format!("{PREFIX}{k:04}");
            if rng.u8(0..4) == 0 { TxnOp::delete(key, None) } else { TxnOp::put(key, format!("v{step}"), None) }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_mirror_equals_server_after_churn_through_faults_restarts_and_compaction() {
    let seed = seed("etcd");
    let mut etcd = EtcdServer::start().expect("etcd starts (install Debian's etcd-server)");
    let client = Client::connect([etcd.endpoint()], None).await.expect("client connects");
    let mut kv = client.kv_client();
    for k in 0..KEYS / 2 {
        kv.put(format!("{PREFIX}{k:04}"), "initial", None).await.expect("preload");
    }

    let faults = Faults {
        cut_per_chunk: 0.02,
        stall_per_chunk: 0.02,
        stall: Duration::from_millis(150),
        refuse_per_connection: 0.2,
    };
    let proxy = FaultProxy::start(etcd.endpoint().parse().unwrap(), faults.clone(), seed).await.unwrap();
    let config = EtcdConfig::new([proxy.addr().to_string()], KeyRange::prefix(PREFIX))
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(Duration::from_secs(3));
    let source = EtcdSource::connect(config, RawCodec).await.expect("source connects through the proxy");
    let source = Recording::new(source, |kv: &EtcdKeyValue<Vec<u8>>| kv.key.to_string());
    let traces = source.traces();
    let mirror = reflect::start(source, KeyFn::keyed(), fast_config(100, seed));
    let (store, handle) = (&mirror.store, &mirror.handle);

    // Churn: one writer straight to etcd; failed writes (etcd down) are retried later.
    let changes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (changes, stop) = (Arc::clone(&changes), Arc::clone(&stop));
        let endpoint = etcd.endpoint();
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
            let mut client: Option<Client> = None;
            let mut step = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if client.is_none() {
                    client = Client::connect([endpoint.as_str()], None).await.ok();
                }
                let Some(c) = client.as_mut() else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                step += 1;
                let ops = random_ops(&mut rng, step);
                let n = ops.len() as u64;
                match tokio::time::timeout(Duration::from_secs(2), c.kv_client().txn(Txn::new().and_then(ops))).await {
                    Ok(Ok(_)) => {
                        changes.fetch_add(n, Ordering::Relaxed);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
                if step.is_multiple_of(20) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kill and restart etcd on the same data directory, twice.
    let mut restarts = 0;
    for _ in 0..2 {
        tokio::task::block_in_place(|| etcd.kill()).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::task::block_in_place(|| etcd.restart()).expect("etcd restarts");
        restarts += 1;
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }

    // Cut the mirror off, keep churning, compact everything, reconnect: a relist is forced.
    let relists_before = handle.metrics().relists;
    // The mirror may be between connections (backing off) at this instant: then no live
    // connection is cut, but its reconnects during the window are refused.
    let before_cut = proxy.counts();
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let client = Client::connect([etcd.endpoint()], None).await.expect("client reconnects");
    let revision = client.kv_client().get("x", None).await.unwrap().header().unwrap().revision();
    client.kv_client().compact(revision, Some(CompactionOptions::new().with_physical())).await.expect("compact");
    let compactions = 1;
    proxy.set_refusing(false);
    let during_cut = proxy.counts();
    let cut_off = (during_cut.forced_cuts - before_cut.forced_cuts) + (during_cut.refusals - before_cut.refusals);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Stop the churn, lift the faults, and compare.
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let churn = started.elapsed();
    proxy.set_faults(Faults::none());
    let (keys, diff) = converge(Duration::from_secs(15), || server_state(&client), || mirror_state(store)).await;
    let metrics = handle.metrics();
    let counts = proxy.counts();
    println!(
        "[etcd] seed {seed}: {} changes in {churn:.1?}; faults: {} ({counts:?}), {restarts} etcd restarts, \
         {compactions} compaction; reflector: {} relists, {} lists, {} watches, {} errors, {} events; \
         final {keys} keys: {} lost, {} stale",
        changes.load(Ordering::Relaxed),
        counts.total() + restarts + compactions,
        metrics.relists,
        metrics.lists,
        metrics.watches,
        metrics.errors,
        metrics.events_total(),
        diff.lost,
        diff.stale_extra + diff.stale_value,
    );
    assert!(changes.load(Ordering::Relaxed) > 500, "the churn made too few changes to mean anything");
    assert!(counts.cuts + counts.refusals > 0, "random faults were injected: {counts:?}");
    assert!(cut_off > 0, "the cut reached the mirror (a live connection cut, or a reconnect refused): {counts:?}");
    assert!(metrics.relists > relists_before, "the compaction while cut off forces a relist: {metrics:?}");
    assert!(eventually(Duration::from_secs(1), || async { handle.has_synced() }).await);
    mirror.stop().await;
    // The history was compacted: the guarantees that need only the deliveries are checked.
    let traces = traces.lock().unwrap().clone();
    println!("[etcd] guarantees checked over {} watches", traces.len());
    assert_guarantees("etcd through faults", &traces, None);
}

//! Initial sync of 100 000 keys of 1 KiB from a local etcd: the mirror (EtcdSource + Reflector +
//! MapStore) against a plain paged `get` loop over the same prefix, the physical limit of the
//! server and the gRPC client. Both read pages of the same size at one pinned revision.
//!
//! Run: `cargo bench -p informer-etcd --bench initial_sync` (needs `etcd` on PATH).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use informer_core::{CancellationToken, KeyFn, Reflector, ReflectorConfig};
use informer_etcd::etcd_client::{Client, GetOptions, Txn, TxnOp};
use informer_etcd::{EtcdConfig, EtcdSource, KeyRange, RawCodec};
use informer_tests::MapStore;
use informer_tests::etcd::EtcdServer;

const KEYS: usize = 100_000;
const VALUE_SIZE: usize = 1024;
const PAGE: u32 = 1000;
const PREFIX: &str = "/bench/";

async fn load(client: &Client) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < KEYS || !tasks.is_empty() {
        while next < KEYS && tasks.len() < 8 {
            let range = next..(next + 128).min(KEYS);
            next = range.end;
            let mut kv = client.kv_client();
            tasks.spawn(async move {
                let ops: Vec<TxnOp> = range
                    .map(|i| TxnOp::put(format!("{PREFIX}{i:06}"), vec![b'a' + (i % 26) as u8; VALUE_SIZE], None))
                    .collect();
                kv.txn(Txn::new().and_then(ops)).await.expect("load txn");
            });
        }
        if let Some(done) = tasks.join_next().await {
            done.expect("load task");
        }
    }
}

/// The physical limit: paged range reads at one revision, values dropped after each page.
async fn plain_get_loop(client: &Client) -> usize {
    let mut kv = client.kv_client().max_decoding_message_size(128 << 20);
    let range = KeyRange::prefix(PREFIX);
    let mut start = range.start().to_vec();
    let mut revision = 0;
    let mut count = 0;
    loop {
        let mut options = GetOptions::new().with_range(range.end()).with_limit(i64::from(PAGE));
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let mut response = kv.get(start.clone(), Some(options)).await.expect("get");
        if revision == 0 {
            revision = response.header().expect("header").revision();
        }
        let more = response.more();
        let kvs = response.take_kvs();
        count += kvs.len();
        match kvs.last() {
            Some(last) if more => {
                start = last.key().to_vec();
                start.push(0);
            }
            _ => return count,
        }
    }
}

/// The mirror: time until the reflector has replaced its store with every key.
async fn mirror(source: &EtcdSource<RawCodec>) -> (Duration, Arc<MapStore<informer_etcd::EtcdKeyValue<Vec<u8>>>>) {
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let config = ReflectorConfig::default().with_page_size(Some(PAGE));
    let reflector = Reflector::new(source.clone(), Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    assert!(handle.wait_synced().await);
    let elapsed = started.elapsed();
    cancel.cancel();
    task.await.expect("reflector task").expect("reflector ok");
    assert_eq!(store.len(), KEYS);
    (elapsed, store)
}

fn initial_sync(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let etcd = EtcdServer::start().expect("etcd starts");
    let client = rt.block_on(Client::connect([etcd.endpoint()], None)).expect("client");
    let loaded = Instant::now();
    rt.block_on(load(&client));
    eprintln!("loaded {KEYS} keys of {VALUE_SIZE} B in {:?}", loaded.elapsed());
    let config = EtcdConfig::new([etcd.endpoint()], KeyRange::prefix(PREFIX));
    let source = rt.block_on(EtcdSource::connect(config, RawCodec)).expect("source");

    let mut group = c.benchmark_group("etcd_initial_sync_100k_1KiB");
    group.sample_size(10).measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("plain_paged_get_loop", |b| {
        b.to_async(&rt).iter(|| async { assert_eq!(plain_get_loop(&client).await, KEYS) })
    });
    group.bench_function("mirror_reflector_mapstore", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let source = source.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (elapsed, store) = mirror(&source).await;
                    total += elapsed;
                    drop(store);
                }
                total
            }
        })
    });
    group.finish();

    // The same comparison interleaved (plain, mirror, plain, mirror, ...), so load from other
    // processes on the machine hits both alike: medians and their ratio.
    let mut plain = Vec::new();
    let mut mirrored = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        assert_eq!(rt.block_on(plain_get_loop(&client)), KEYS);
        plain.push(started.elapsed());
        mirrored.push(rt.block_on(mirror(&source)).0);
    }
    plain.sort();
    mirrored.sort();
    let (p, m) = (plain[plain.len() / 2], mirrored[mirrored.len() / 2]);
    eprintln!(
        "interleaved medians of 7: plain get loop {p:?} ({:.0} keys/s), mirror {m:?} ({:.0} keys/s), mirror/plain = {:.3}",
        KEYS as f64 / p.as_secs_f64(),
        KEYS as f64 / m.as_secs_f64(),
        m.as_secs_f64() / p.as_secs_f64()
    );
}

criterion_group!(benches, initial_sync);
criterion_main!(benches);

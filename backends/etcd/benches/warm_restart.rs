//! Cold against warm restart of an etcd → etcd mirror of 100 000 keys of 1 KiB: bytes read from
//! the source (keys and values in list pages and watch events) and time until the destination
//! is current again, after 1 000 changes made while the mirror was stopped.
//!
//! * **cold**: the mirror starts without its state (as `etcdctl make-mirror` always does): it
//!   lists the whole source prefix and compares it with the destination.
//! * **warm**: the mirror resumes from the destination's state key (`EtcdSink::resume_point`,
//!   `Reflector::resume_from`) and only watches the 1 000 changes.
//!
//! Run on a quiet machine: `cargo bench -p informer-etcd --bench warm_restart` (needs `etcd` on
//! PATH; starts two). Prints one line per run and the medians; the results go to BENCHMARKS.md.
//! `INFORMER_BENCH_KEYS=2000` runs a small version that only checks the bench works.

// A measurement of whole restarts, not a micro-benchmark: a plain main instead of criterion.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use informer_core::{
    CancellationToken, ListOptions, ListPage, ListerWatcher, Reflector, ReflectorConfig, SourceError, Version,
    WatchEvent, WatchOptions, WatchStream,
};
use informer_etcd::etcd_client::{Client, Txn, TxnOp};
use informer_etcd::{EtcdConfig, EtcdKeyValue, EtcdSink, EtcdSource, KeyRange, RawCodec, SinkConfig};
use informer_tests::etcd::EtcdServer;
use informer_tests::stats::median_min_max;

const VALUE_SIZE: usize = 1024;
const CHANGES: usize = 1_000;

/// 100 000, or `INFORMER_BENCH_KEYS` (a smaller number checks that the bench runs).
fn keys() -> usize {
    std::env::var("INFORMER_BENCH_KEYS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}
const RUNS: usize = 3;

/// Counts the key and value bytes the reflector receives from the source.
struct Counted {
    inner: EtcdSource<RawCodec>,
    bytes: Arc<AtomicU64>,
}

fn size(kv: &EtcdKeyValue<Vec<u8>>) -> u64 {
    (kv.raw_key.len() + kv.value.len()) as u64
}

impl ListerWatcher for Counted {
    type Object = EtcdKeyValue<Vec<u8>>;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Self::Object>, SourceError> {
        let page = self.inner.list(options).await?;
        self.bytes.fetch_add(page.items.iter().map(size).sum(), Ordering::Relaxed);
        Ok(page)
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<Self::Object>, SourceError> {
        let bytes = Arc::clone(&self.bytes);
        let stream = self.inner.watch(version, options).await?;
        Ok(stream
            .inspect(move |item| {
                if let Ok(WatchEvent::Added { object, .. } | WatchEvent::Modified { object, .. }) = item {
                    bytes.fetch_add(size(object), Ordering::Relaxed);
                }
            })
            .boxed())
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

async fn put(client: &Client, range: std::ops::Range<usize>, round: u8) {
    let mut tasks = tokio::task::JoinSet::new();
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(128) {
        let chunk = chunk.to_vec();
        let mut kv = client.kv_client();
        tasks.spawn(async move {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|i| TxnOp::put(format!("/src/{i:06}"), vec![b'a' + round; VALUE_SIZE], None))
                .collect();
            kv.txn(Txn::new().and_then(ops)).await.expect("load txn");
        });
        while tasks.len() >= 8 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Runs the mirror until the destination holds the source's current revision; returns the time
/// and the bytes read from the source.
async fn catch_up(source: &str, destination: &str, warm: bool, target: i64) -> (Duration, u64) {
    let sink_config = SinkConfig::new(EtcdConfig::new([destination], KeyRange::prefix("/dst/")), "/src/", "bench");
    let sink = EtcdSink::connect(sink_config).await.expect("sink");
    let bytes = Arc::new(AtomicU64::new(0));
    let inner = EtcdSource::connect(EtcdConfig::new([source], KeyRange::prefix("/src/")), RawCodec).await.unwrap();
    let counted = Counted { inner, bytes: Arc::clone(&bytes) };
    let started = Instant::now();
    let mut reflector = Reflector::new(counted, sink.clone(), ReflectorConfig::default().with_page_size(Some(1000)));
    if warm {
        reflector = reflector.resume_from(sink.resume_point().expect("a state to resume from"));
    }
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    while handle.last_synced_version().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sink.flush().await.expect("written");
    let elapsed = started.elapsed();
    cancel.cancel();
    task.await.unwrap().unwrap();
    (elapsed, bytes.load(Ordering::Relaxed))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (src, dst) = (EtcdServer::start().expect("etcd"), EtcdServer::start().expect("etcd"));
    let source = rt.block_on(Client::connect([src.endpoint()], None)).unwrap();
    let keys = keys();
    rt.block_on(put(&source, 0..keys, 0));
    // The first full sync, so that both kinds of restart find a complete destination.
    let revision =
        |c: &Client| rt.block_on(async { c.kv_client().get("/", None).await.unwrap().header().unwrap().revision() });
    rt.block_on(catch_up(&src.endpoint(), &dst.endpoint(), false, revision(&source)));
    let mut results = Vec::new();
    for run in 0..RUNS * 2 {
        let warm = run % 2 == 1;
        // The changes made while the mirror was stopped: 1 000 keys rewritten, one per revision.
        rt.block_on(async {
            let mut kv = source.kv_client();
            for i in 0..CHANGES {
                kv.put(format!("/src/{:06}", (i * 97 + run) % keys), vec![b'A' + run as u8; VALUE_SIZE], None)
                    .await
                    .unwrap();
            }
        });
        let target = revision(&source);
        let (elapsed, bytes) = rt.block_on(catch_up(&src.endpoint(), &dst.endpoint(), warm, target));
        println!("{}: {elapsed:?}, {bytes} bytes from the source", if warm { "warm" } else { "cold" });
        results.push((warm, elapsed, bytes));
    }
    for warm in [false, true] {
        let times: Vec<Duration> = results.iter().filter(|r| r.0 == warm).map(|r| r.1).collect();
        let bytes: Vec<u64> = results.iter().filter(|r| r.0 == warm).map(|r| r.2).collect();
        let (t, t_min, t_max) = median_min_max(&times);
        let (b, b_min, b_max) = median_min_max(&bytes);
        println!(
            "{} restart, median of {RUNS}: {t:?} (min {t_min:?}, max {t_max:?}) until current, {b} bytes read from \
             the source (min {b_min}, max {b_max})",
            if warm { "warm" } else { "cold" },
        );
    }
}

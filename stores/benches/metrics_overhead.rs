//! What recording metrics costs: the indexer update bench and a watch bench (a reflector
//! applying memory-source events to a named indexer), each without recording, named with no
//! recorder installed, and named with a Prometheus recorder (`metrics-exporter-prometheus`,
//! as the CLI's `--metrics` installs). The bar: recording costs less than 2 %.
//!
//! Run: `cargo bench -p informer-stores --bench metrics_overhead -- --warm-up-time 1 --measurement-time 5`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use informer_core::{CancellationToken, KeyError, KeyFn, Keyed, ObjectKey, Reflector, ReflectorConfig, Store, Version};
use informer_memory::{MemoryObject, MemorySource};
use informer_stores::{IndexFn, Indexer, Indexers};
use metrics_exporter_prometheus::PrometheusBuilder;

const N: usize = 100_000;
const NODES: usize = 100;
const EVENTS: u64 = 20_000;

struct Pod {
    key: ObjectKey,
    node: String,
}

impl Keyed for Pod {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

fn pods(shift: usize) -> Vec<Arc<Pod>> {
    (0..N)
        .map(|i| {
            Arc::new(Pod { key: ObjectKey::new(format!("ns/pod-{i}")), node: format!("node-{}", (i + shift) % NODES) })
        })
        .collect()
}

/// How a variant records.
#[derive(Clone, Copy)]
enum Recording {
    /// Unnamed store, no recorder: nothing registered.
    Off,
    /// Named, but no recorder installed: no-op handles.
    NoRecorder,
    /// Named, registered with a Prometheus recorder.
    Prometheus,
}

const VARIANTS: [(&str, Recording); 3] =
    [("off", Recording::Off), ("named_no_recorder", Recording::NoRecorder), ("prometheus", Recording::Prometheus)];

/// Builds with the variant's recorder in place, as a program that installs one first does.
fn with_recording<R>(recording: Recording, build: impl FnOnce() -> R) -> R {
    match recording {
        Recording::Prometheus => metrics::with_local_recorder(&PrometheusBuilder::new().build_recorder(), build),
        _ => build(),
    }
}

fn indexer_updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_overhead_indexer_update_100k");
    group.throughput(Throughput::Elements(N as u64));
    let versions = [pods(1), pods(0)];
    for (label, recording) in VARIANTS {
        let store = with_recording(recording, || {
            let store = Indexer::with_indexers(
                KeyFn::keyed(),
                Indexers::new().with("node", IndexFn::single(|p: &Pod| p.node.as_str())),
            );
            if matches!(recording, Recording::Off) { store } else { store.with_name("pods") }
        });
        store.replace(pods(0), Version::from("1")).expect("keyed pods");
        let mut turn = 0;
        group.bench_function(label, |b| {
            b.iter(|| {
                turn ^= 1;
                for p in &versions[turn] {
                    store.update(Arc::clone(p)).expect("keyed");
                }
            })
        });
    }
    group.finish();
}

/// One watch run: a synced reflector, then `EVENTS` modifications; the time until all are applied.
async fn watch_run(recording: Recording) -> Duration {
    let source = MemorySource::<u64>::new();
    for i in 0..1000u64 {
        source.put(format!("k{i}"), i);
    }
    let (reflector, store) = with_recording(recording, || {
        let store = Indexer::with_indexers(
            KeyFn::keyed(),
            Indexers::new().with(
                "parity",
                IndexFn::single(|o: &MemoryObject<u64>| if (**o.value()).is_multiple_of(2) { "even" } else { "odd" }),
            ),
        );
        let store = Arc::new(if matches!(recording, Recording::Off) { store } else { store.with_name("bench") });
        (Reflector::new(source.clone(), Arc::clone(&store), ReflectorConfig::default()), store)
    });
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    handle.wait_synced().await;
    let started = Instant::now();
    for i in 0..EVENTS {
        source.put(format!("k{}", i % 1000), i);
    }
    // Until the store holds the source's newest revision: counting events would never end if
    // the watch fell more than the source's history behind and relisted.
    let target = source.revision();
    while handle.last_synced_version().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) < target {
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed();
    cancel.cancel();
    let _ = task.await;
    drop(store);
    elapsed
}

fn watch_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_overhead_watch_20k_events");
    group.throughput(Throughput::Elements(EVENTS));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for (label, recording) in VARIANTS {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| runtime.block_on(watch_run(recording))).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, indexer_updates, watch_events);
criterion_main!(benches);

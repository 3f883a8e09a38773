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
use informer_core::{CancellationToken, KeyFn, Reflector, ReflectorConfig, Store};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use informer_stores::{IndexFn, Indexer, Indexers};
use metrics_exporter_prometheus::PrometheusBuilder;

mod support;

use support::{N, indexer, pods};

const EVENTS: u64 = 20_000;

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

/// The indexer bench's two update workloads (two indexes; index values unchanged, and every
/// update moving a pod to another node), per recording variant.
fn indexer_updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_overhead_indexer_update_100k_2_indexes");
    group.throughput(Throughput::Elements(N as u64));
    let workloads = [("values_unchanged", [pods(0, 1), pods(0, 2)]), ("node_changes", [pods(1, 1), pods(0, 2)])];
    for (workload, versions) in &workloads {
        for (label, recording) in VARIANTS {
            let name = (!matches!(recording, Recording::Off)).then_some("pods");
            let store = with_recording(recording, || indexer(name));
            let mut turn = 0;
            group.bench_function(format!("{workload}/{label}"), |b| {
                b.iter(|| {
                    turn ^= 1;
                    for p in &versions[turn] {
                        store.update(Arc::clone(p)).expect("keyed");
                    }
                })
            });
        }
    }
    group.finish();
}

/// One watch run: a synced reflector, then `EVENTS` modifications; the time until all are applied.
async fn watch_run(recording: Recording) -> Duration {
    // History for every event: a watch that fell behind would relist, and time that instead.
    let source = MemorySource::<u64>::with_config(MemoryConfig::default().with_history(2 * EVENTS as usize));
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

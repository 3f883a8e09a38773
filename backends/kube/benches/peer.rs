//! informer vs `kube-runtime`'s reflector on the same data over the same wire: 100 000
//! realistic pods served by the local API server (real HTTP, JSON), in one process run.
//!
//! * `initial_sync_100k`: list (pages of 500) until the store holds every pod;
//! * `watch_200k_modified`: 200 000 MODIFIED events (20 rounds over 10 000 pods, written to
//!   the server while the client's watch stream is held, then released and timed until the
//!   store holds the last one), into an informer `Indexer` with 2 indexes (node, app label)
//!   vs kube-runtime's plain store;
//! * `read_100k_under_writer`: `get` by key and `by_index` (typed and raw objects; raw also
//!   with the decode a typed view costs) while a writer thread updates 10 000 objects/s.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p informer-kube --bench peer -- --warm-up-time 1 --measurement-time 5
//! ```
//! Peak memory and bytes per cached pod: `benches/memory.rs`.

mod support;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use informer_core::{KeyFn, ListerWatcher, Store};
use informer_kube::{RawObject, RawOptions, key_fn};
use informer_stores::{Cache, Indexer};
use informer_tests::kube_api::pods::strip_managed_fields;
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use support::*;
use tokio::runtime::Runtime;

/// Pods changed per watch round, and rounds: 200 000 events.
const HOT_PODS: usize = 10_000;
const ROUNDS: usize = 20;
const EVENTS: u64 = (HOT_PODS * ROUNDS) as u64;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // kube clients spawn their buffer task on the current runtime.
    let _entered = runtime.enter();
    let server = runtime.block_on(loaded_server(PODS, EVENTS as usize + 10_000));
    initial_sync(&mut c, &runtime, &server);
    watch(&mut c, &runtime, &server);
    read_path(&mut c);
    c.final_summary();
}

fn initial_sync(c: &mut Criterion, runtime: &Runtime, server: &KubeApiServer) {
    let client = client(&server.url());
    let mut group = c.benchmark_group("initial_sync_100k");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(PODS as u64));
    group.bench_function("kube_runtime/typed", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    runtime.block_on(async {
                        let (side, took) = KubeRuntimeSide::start(client.clone(), None, false).await;
                        assert_eq!(side.reader.len(), PODS);
                        drop(side.stop().await);
                        took
                    })
                })
                .sum()
        })
    });
    // (`memory.rs` syncs every variant, typed_strip and raw included.)
    let cases: [(&str, bool, bool); 2] = [("typed", false, false), ("raw_strip", true, true)];
    for (name, raw, strip) in cases {
        group.bench_function(format!("informer/{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        runtime.block_on(async {
                            if raw {
                                sync_once(raw_source(client.clone(), strip), Cache::new(KeyFn::<RawObject>::keyed()))
                                    .await
                            } else {
                                sync_once(typed_source(client.clone(), strip), Cache::new(key_fn::<Pod>())).await
                            }
                        })
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

async fn sync_once<L, T>(source: L, store: Cache<T>) -> Duration
where
    L: ListerWatcher<Object = T> + 'static,
    T: Send + Sync + 'static,
{
    let (side, took) = InformerSide::start(source, store).await;
    assert_eq!(side.store.len(), PODS);
    drop(side.stop().await);
    took
}

/// The pods changed by the watch benchmark (every tenth pod).
fn hot_pods() -> Vec<Value> {
    let pods = PodGenerator::new(SEED);
    (0..HOT_PODS).map(|i| pods.pod(i * (PODS / HOT_PODS))).collect()
}

/// Writes `ROUNDS` changes to every hot pod (two threads), then one more to the first hot pod.
/// Returns that pod's namespace, name and the final revision.
fn write_round(server: &KubeApiServer, hot: &[Value], step: &Cell<u64>) -> (String, String, String) {
    let base = step.get();
    std::thread::scope(|s| {
        for part in 0..2 {
            s.spawn(move || {
                for round in 0..ROUNDS as u64 {
                    for pod in hot.iter().skip(part).step_by(2) {
                        let mut pod = pod.clone();
                        PodGenerator::touch(&mut pod, base + round);
                        server.update(pod).expect("pod updated");
                    }
                }
            });
        }
    });
    let mut marker = hot[0].clone();
    PodGenerator::touch(&mut marker, base + ROUNDS as u64);
    let written = server.update(marker).expect("marker updated");
    step.set(base + ROUNDS as u64 + 1);
    let meta = &written["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&meta["namespace"]), text(&meta["name"]), text(&meta["resourceVersion"]))
}

/// One timed round: close the gate, write the events, open it and wait until `applied` says
/// the store holds the marker's version.
fn timed_round(
    runtime: &Runtime,
    server: &KubeApiServer,
    hot: &[Value],
    gate: &Gate,
    step: &Cell<u64>,
    applied: impl Fn(&str, &str, &str) -> bool,
) -> Duration {
    gate.close();
    let (ns, name, version) = write_round(server, hot, step);
    let started = Instant::now();
    gate.open();
    runtime.block_on(wait_until(Duration::from_secs(300), "the watch events", || applied(&ns, &name, &version)));
    started.elapsed()
}

fn watch(c: &mut Criterion, runtime: &Runtime, server: &KubeApiServer) {
    let client = client(&server.url());
    let hot = hot_pods();
    let step = Cell::new(1);
    let mut group = c.benchmark_group("watch_200k_modified");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(EVENTS));

    let gate = Gate::default();
    let (side, _) = runtime.block_on(KubeRuntimeSide::start(client.clone(), Some(gate.clone()), false));
    group.bench_function("kube_runtime/typed_plain_store", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed_round(runtime, server, &hot, &gate, &step, |ns, name, version| {
                        side.reader.get(&object_ref(ns, name)).and_then(|p| p.metadata.resource_version.clone())
                            == Some(version.to_string())
                    })
                })
                .sum()
        })
    });
    drop(runtime.block_on(side.stop()));

    let gate = Gate::default();
    let source = GatedSource { inner: typed_source(client.clone(), false), gate: gate.clone() };
    let (side, _) =
        runtime.block_on(InformerSide::start(source, Indexer::with_indexers(key_fn::<Pod>(), typed_indexers())));
    group.bench_function("informer/typed_indexer_2_indexes", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed_round(runtime, server, &hot, &gate, &step, |ns, name, version| {
                        side.store.get_by_key(&format!("{ns}/{name}")).and_then(|p| p.metadata.resource_version.clone())
                            == Some(version.to_string())
                    })
                })
                .sum()
        })
    });
    drop(runtime.block_on(side.stop()));

    // Raw without stripping: the same objects kube-runtime stores (the strip variant is in
    // `initial_sync_100k` and `memory.rs`).
    {
        let strip = false;
        let gate = Gate::default();
        let source = GatedSource { inner: raw_source(client.clone(), strip), gate: gate.clone() };
        let store = Indexer::with_indexers(KeyFn::<RawObject>::keyed(), raw_indexers());
        let (side, _) = runtime.block_on(InformerSide::start(source, store));
        let name = if strip { "informer/raw_strip_indexer_2_indexes" } else { "informer/raw_indexer_2_indexes" };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        timed_round(runtime, server, &hot, &gate, &step, |ns, name, version| {
                            side.store
                                .get_by_key(&format!("{ns}/{name}"))
                                .is_some_and(|p| p.resource_version() == version)
                        })
                    })
                    .sum()
            })
        });
        drop(runtime.block_on(side.stop()));
    }
    group.finish();
}

/// 100 000 typed pods without managedFields, decoded on two threads.
fn typed_pods() -> Vec<Pod> {
    let generator = PodGenerator::new(SEED);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..2)
            .map(|part| {
                let generator = &generator;
                s.spawn(move || {
                    (part * PODS / 2..(part + 1) * PODS / 2)
                        .map(|i| {
                            let mut pod = generator.pod(i);
                            strip_managed_fields(&mut pod);
                            pod["metadata"]["resourceVersion"] = Value::from(i.to_string());
                            serde_json::from_value::<Pod>(pod).expect("pod decodes")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|h| h.join().expect("decoder thread")).collect()
    })
}

/// Runs `write` about 10 000 times a second on another thread until the returned guard drops.
fn writer(write: impl Fn(usize) + Send + 'static) -> impl Drop {
    struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            if let Some(t) = self.1.take() {
                let _ = t.join();
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(5);
        while !flag.load(Ordering::Relaxed) {
            for _ in 0..10 {
                write(rng.usize(..PODS));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Stop(stop, Some(thread))
}

/// Seeded random indexes for the read benchmarks (the same sequence on every side).
struct Picker(Cell<fastrand::Rng>);

impl Picker {
    fn new(seed: u64) -> Self {
        Self(Cell::new(fastrand::Rng::with_seed(seed)))
    }

    fn below(&self, n: usize) -> usize {
        let mut rng = self.0.take();
        let i = rng.usize(..n);
        self.0.set(rng);
        i
    }
}

fn read_path(c: &mut Criterion) {
    let pods: Vec<Arc<Pod>> = typed_pods().into_iter().map(Arc::new).collect();
    let keys: Vec<String> =
        pods.iter().map(|p| key_fn::<Pod>().key(p).expect("pods have keys").as_str().to_string()).collect();
    let mut group = c.benchmark_group("read_100k_under_writer");
    group.throughput(Throughput::Elements(1));

    let indexer = Arc::new(Indexer::with_indexers(key_fn::<Pod>(), typed_indexers()));
    for pod in &pods {
        indexer.add(Arc::clone(pod)).expect("added");
    }
    {
        let (store, objects) = (Arc::clone(&indexer), pods.clone());
        let _writer = writer(move |i| store.update(Arc::clone(&objects[i])).expect("updated"));
        let pick = Picker::new(1);
        let pick = |n: usize| pick.below(n);
        group.bench_function("informer/get_by_key", |b| b.iter(|| black_box(indexer.get_by_key(&keys[pick(PODS)]))));
        let nodes: Vec<String> = (0..100).map(|n| format!("node-{n}")).collect();
        group.bench_function("informer/by_index_node_1000_pods", |b| {
            b.iter(|| black_box(indexer.by_index("node", &nodes[pick(nodes.len())]).expect("index exists").len()))
        });
    }
    drop(indexer);

    // The same pods as compact raw objects (what `KubeSource::raw` stores), with the same
    // two indexes: reads hand out the raw object; a typed view costs one decode.
    let options = RawOptions::default().extract("spec.nodeName");
    let raws: Vec<Arc<RawObject>> = pods
        .iter()
        .map(|p| {
            let json = serde_json::to_vec(&**p).expect("pod encodes");
            Arc::new(RawObject::from_json(&json, &options).expect("raw pod"))
        })
        .collect();
    let raw_indexer = Arc::new(Indexer::with_indexers(KeyFn::<RawObject>::keyed(), raw_indexers()));
    for raw in &raws {
        raw_indexer.add(Arc::clone(raw)).expect("added");
    }
    {
        let (store, objects) = (Arc::clone(&raw_indexer), raws.clone());
        let _writer = writer(move |i| store.update(Arc::clone(&objects[i])).expect("updated"));
        let pick = Picker::new(1);
        let pick = |n: usize| pick.below(n);
        group.bench_function("informer/raw_get_by_key", |b| {
            b.iter(|| black_box(raw_indexer.get_by_key(&keys[pick(PODS)])))
        });
        group.bench_function("informer/raw_get_by_key_then_decode_pod", |b| {
            b.iter(|| {
                let raw = raw_indexer.get_by_key(&keys[pick(PODS)]).expect("present");
                black_box(raw.decode::<Pod>().expect("decodes"))
            })
        });
        let nodes: Vec<String> = (0..100).map(|n| format!("node-{n}")).collect();
        group.bench_function("informer/raw_by_index_node_1000_pods", |b| {
            b.iter(|| black_box(raw_indexer.by_index("node", &nodes[pick(nodes.len())]).expect("index exists").len()))
        });
    }
    drop((raw_indexer, raws));

    let (reader, mut writer_half) = kube_runtime::reflector::store::<Pod>();
    writer_half.apply_watcher_event(&kube_runtime::watcher::Event::Init);
    for pod in &pods {
        writer_half.apply_watcher_event(&kube_runtime::watcher::Event::InitApply((**pod).clone()));
    }
    writer_half.apply_watcher_event(&kube_runtime::watcher::Event::InitDone);
    let refs: Vec<_> = pods
        .iter()
        .map(|p| object_ref(p.metadata.namespace.as_deref().unwrap_or(""), p.metadata.name.as_deref().unwrap_or("")))
        .collect();
    {
        let objects = pods.clone();
        let writer_half = std::sync::Mutex::new(writer_half);
        let _writer = writer(move |i| {
            let event = kube_runtime::watcher::Event::Apply((*objects[i]).clone());
            writer_half.lock().unwrap_or_else(|e| e.into_inner()).apply_watcher_event(&event);
        });
        let pick = Picker::new(1);
        group.bench_function("kube_runtime/get", |b| b.iter(|| black_box(reader.get(&refs[pick.below(PODS)]))));
    }
    group.finish();
}

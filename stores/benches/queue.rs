//! Queue throughput: `DeltaFifo` push + pop, `Fifo` push + pop, `WorkQueue` add/get/done.
//!
//! Run: `cargo bench -p informer-stores --bench queue`. Throughput is reported per
//! element: one element is one push *and* its pop (or one add, get and done).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use informer_core::{KeyError, KeyFn, Keyed, ObjectKey, Store};
use informer_stores::{DeltaFifo, Fifo, WorkQueue};

/// An object whose key is computed once, as a real keyed object's would be cached.
struct Obj {
    key: ObjectKey,
    #[allow(dead_code)]
    value: u64,
}

impl Keyed for Obj {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

const N: usize = 10_000;

fn objects(n: usize) -> Vec<Arc<Obj>> {
    (0..n).map(|i| Arc::new(Obj { key: ObjectKey::new(format!("ns/obj-{i}")), value: i as u64 })).collect()
}

fn delta_fifo(c: &mut Criterion) {
    let mut group = c.benchmark_group("delta_fifo");
    group.throughput(Throughput::Elements(N as u64));
    let objs = objects(N);
    group.bench_function("push_pop_distinct_keys", |b| {
        let fifo = DeltaFifo::new(KeyFn::<Obj>::keyed());
        b.iter(|| {
            for o in &objs {
                fifo.add(Arc::clone(o)).unwrap();
            }
            let mut popped = 0usize;
            while let Some(n) = fifo.try_pop(|p| p.into_deltas().map_or(0, |d| d.deltas.len())).unwrap() {
                popped += n;
            }
            assert_eq!(popped, N);
        });
    });
    // Ten changes per key before the consumer gets to it: 10 pushes merged into one pop.
    let hot = objects(N / 10);
    group.bench_function("push_pop_10_updates_per_key", |b| {
        let fifo = DeltaFifo::new(KeyFn::<Obj>::keyed());
        b.iter(|| {
            for _ in 0..10 {
                for o in &hot {
                    fifo.update(Arc::clone(o)).unwrap();
                }
            }
            while fifo.try_pop(|p| p.into_deltas().map_or(0, |d| d.deltas.len())).unwrap().is_some() {}
        });
    });
    group.bench_function("push_pop_interleaved_two_threads", |b| {
        b.iter_batched(
            || Arc::new(DeltaFifo::new(KeyFn::<Obj>::keyed())),
            |fifo| {
                let producer = {
                    let (fifo, objs) = (Arc::clone(&fifo), objs.clone());
                    std::thread::spawn(move || {
                        for o in objs {
                            fifo.add(o).unwrap();
                        }
                    })
                };
                let mut popped = 0;
                while popped < N {
                    popped += fifo.pop_blocking(|p| p.into_deltas().map_or(0, |d| d.deltas.len())).unwrap();
                }
                producer.join().unwrap();
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn fifo(c: &mut Criterion) {
    let mut group = c.benchmark_group("fifo");
    group.throughput(Throughput::Elements(N as u64));
    let objs = objects(N);
    group.bench_function("push_pop_distinct_keys", |b| {
        let fifo = Fifo::new(KeyFn::<Obj>::keyed());
        b.iter(|| {
            for o in &objs {
                fifo.add(Arc::clone(o)).unwrap();
            }
            while fifo.try_pop(|_| ()).unwrap().is_some() {}
        });
    });
    group.finish();
}

fn workqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("workqueue");
    group.throughput(Throughput::Elements(N as u64));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let keys: Vec<ObjectKey> = objects(N).iter().map(|o| o.key.clone()).collect();
    group.bench_function("add_get_done_distinct_keys", |b| {
        let queue: WorkQueue<ObjectKey> = runtime.block_on(async { WorkQueue::new() });
        b.iter(|| {
            runtime.block_on(async {
                for k in &keys {
                    queue.add(k.clone());
                }
                for _ in 0..N {
                    let key = queue.get().await.unwrap();
                    queue.done(&key);
                }
            })
        });
    });
    group.bench_function("add_get_done_two_workers", |b| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        b.iter(|| {
            runtime.block_on(async {
                let queue: WorkQueue<ObjectKey> = WorkQueue::new();
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        let queue = queue.clone();
                        tokio::spawn(async move {
                            while let Some(key) = queue.get().await {
                                queue.done(&key);
                            }
                        })
                    })
                    .collect();
                for k in &keys {
                    queue.add(k.clone());
                }
                queue.shut_down_with_drain().await;
                for worker in workers {
                    worker.await.unwrap();
                }
            })
        });
    });
    group.finish();
}

criterion_group!(benches, delta_fifo, fifo, workqueue);
criterion_main!(benches);

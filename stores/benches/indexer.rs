//! Indexer and cache speed over 100k objects: update throughput with two index functions
//! (values unchanged, and values moving on every update), `list` and `by_index` latency, cache
//! `get_by_key`, and the hash map choice (std SipHash vs hashbrown's foldhash) for lookups.
//!
//! Run: `cargo bench -p informer-stores --bench indexer -- --warm-up-time 1 --measurement-time 3`.
//! Update throughput is per element: one element is one `Store::update` call.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use informer_core::{KeyFn, ObjectKey, Store, Version};
use informer_stores::Cache;

mod support;

use support::{N, Pod, indexer, pods};

fn indexer_updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("indexer_update_100k_2_indexes");
    group.throughput(Throughput::Elements(N as u64));

    let store = indexer(None);
    let same = pods(0, 1);
    group.bench_function("values_unchanged", |b| {
        b.iter(|| {
            for p in &same {
                store.update(Arc::clone(p)).expect("keyed");
            }
        })
    });

    let store = indexer(None);
    let versions = [pods(1, 1), pods(0, 2)];
    let mut turn = 0;
    group.bench_function("node_changes_every_update", |b| {
        b.iter(|| {
            turn ^= 1;
            for p in &versions[turn] {
                store.update(Arc::clone(p)).expect("keyed");
            }
        })
    });
    group.finish();
}

fn indexer_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("indexer_read_100k");
    let store = indexer(None);
    group.bench_function("list", |b| b.iter(|| black_box(store.list())));
    group.bench_function("by_index_node_1k_objects", |b| b.iter(|| black_box(store.by_index("node", "node-7"))));
    group.bench_function("by_index_namespace_10k_objects", |b| {
        b.iter(|| black_box(store.by_index("namespace", "ns-3")))
    });
    group.bench_function("index_keys_node_1k_keys", |b| b.iter(|| black_box(store.index_keys("node", "node-7"))));
    group.finish();
}

fn cache_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache_get_100k");
    group.throughput(Throughput::Elements(N as u64));
    let all = pods(0, 0);
    let keys: Vec<ObjectKey> = all.iter().map(|p| p.key.clone()).collect();

    let cache = Cache::new(KeyFn::keyed());
    cache.replace(all.clone(), Version::from("1")).expect("keyed pods");
    group.bench_function("cache_get_by_key", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(cache.get_by_key(k));
            }
        })
    });

    // The map choice: the same lookups in bare maps, std (SipHash) vs hashbrown (foldhash).
    let std_map: HashMap<ObjectKey, Arc<Pod>> = all.iter().map(|p| (p.key.clone(), Arc::clone(p))).collect();
    group.bench_function("bare_std_siphash_map", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(std_map.get(k.as_str()).cloned());
            }
        })
    });
    let fast_map: hashbrown::HashMap<ObjectKey, Arc<Pod>> =
        all.iter().map(|p| (p.key.clone(), Arc::clone(p))).collect();
    group.bench_function("bare_hashbrown_foldhash_map", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(fast_map.get(k.as_str()).cloned());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, indexer_updates, indexer_reads, cache_get);
criterion_main!(benches);

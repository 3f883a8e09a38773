//! What client-side sharding ([`Sharded`]) costs: every shard still reads the whole
//! collection and keeps only its part.
//!
//! 100 000 memory-source objects (a 64-byte key, a 256-byte value). For the unsharded
//! reflector and for each of the 4 shards of `ShardRange::FULL.split(4)` (each alone, one after
//! the other), and for the 4 shards at once: the time to sync (a paged list of 500, then the
//! watch open) and to apply 20 000 modifications, and the objects and bytes each one read and
//! kept. Medians of 5 rounds, with min and max.
//!
//! Run: `cargo bench -p informer-core --bench sharded` (`INFORMER_BENCH_ROUNDS`, default 5).

// A measurement printed as a table, not a micro-benchmark: a plain main instead of criterion.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use informer_core::shard::ShardRange;
use informer_core::{InitialList, KeyFn, ListerWatcher, ReflectorConfig, ShardSelector, Sharded};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use informer_tests::reflect::{self, Running};
use informer_tests::stats::median_min_max;

const OBJECTS: u64 = 100_000;
const UPDATES: u64 = 20_000;
const VALUE_BYTES: usize = 256;
const SHARDS: u64 = 4;

type Obj = MemoryObject<String>;

fn key(i: u64) -> String {
    format!("/registry/pods/namespace-{:03}/web-{i:0>31}", i % 100)
}

fn value(i: u64, round: u64) -> String {
    let mut v = format!("{i}:{round}:");
    v.extend(std::iter::repeat_n('x', VALUE_BYTES - v.len()));
    v
}

fn config() -> ReflectorConfig {
    ReflectorConfig::default().with_page_size(Some(500)).with_initial_list(InitialList::ListThenWatch)
}

/// One measured mirror: its sync time, its time to apply the updates, and what it kept.
struct Figures {
    sync: Duration,
    updates: Duration,
    kept: usize,
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Starts mirrors over `sources`, waits for them all to sync, applies the updates and waits
/// until each has seen the last one.
async fn measure<L>(source: &MemorySource<String>, sources: Vec<L>, round: u64) -> Vec<Figures>
where
    L: ListerWatcher<Object = Obj>,
{
    let started = Instant::now();
    let runs: Vec<Running<Obj>> = sources.into_iter().map(|s| reflect::start(s, KeyFn::keyed(), config())).collect();
    let mut synced = Vec::new();
    for run in &runs {
        assert!(run.handle.wait_synced().await);
        synced.push(started.elapsed());
    }
    let updates_started = Instant::now();
    for i in 0..UPDATES {
        source.put(key(i * (OBJECTS / UPDATES)), value(i, round));
    }
    let last = source.revision().to_string();
    let mut figures = Vec::new();
    for (run, sync) in runs.iter().zip(synced) {
        until("the last update", || run.handle.last_synced_version().as_deref() == Some(last.as_str())).await;
        figures.push(Figures { sync, updates: updates_started.elapsed(), kept: run.store.len() });
    }
    for run in runs {
        run.stop().await;
    }
    figures
}

fn quarter(q: u64) -> ShardSelector {
    ShardSelector::from(ShardRange::FULL.split(SHARDS).expect("4 parts")[q as usize])
}

fn sharded(source: &MemorySource<String>, q: u64) -> Sharded<MemorySource<String>> {
    Sharded::by_key(source.clone(), quarter(q), KeyFn::keyed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn line(name: &str, syncs: &[f64], updates: &[f64], stored: usize, read: u64) {
    let (s, s_min, s_max) = median_min_max(syncs);
    let (u, u_min, u_max) = median_min_max(updates);
    let per = (64 + VALUE_BYTES) as u64;
    println!(
        "{name:<22} sync {s:7.1} ms [{s_min:6.1}, {s_max:6.1}]  {UPDATES} updates {u:7.1} ms [{u_min:6.1}, {u_max:6.1}]  \
         read {read:>6} objects ({:>5.1} MB), stored {stored:>6} ({:>5.1} MB)",
        (read * per) as f64 / 1e6,
        (stored as u64 * per) as f64 / 1e6,
    );
}

/// What a shard's paged list reads and keeps, counted by the shard itself.
async fn list_counts(source: &MemorySource<String>, q: u64) -> (u64, u64) {
    let shard = sharded(source, q);
    let mut options = informer_core::ListOptions::first_page(Some(500));
    loop {
        let page = shard.list(&options).await.expect("a list page");
        match page.continue_token {
            Some(token) => options = options.with_continue(Some(token)),
            None => break,
        }
    }
    let counts = shard.counts();
    (counts.read, counts.kept)
}

fn main() {
    let rounds: u64 = std::env::var("INFORMER_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let source = MemorySource::<String>::with_config(MemoryConfig::default().with_history(200_000));
        for i in 0..OBJECTS {
            source.put(key(i), value(i, 0));
        }
        assert_eq!(key(0).len(), 64);
        println!(
            "{OBJECTS} objects of {} bytes (key + value), {SHARDS} client-side shards, {rounds} rounds; \
             median [min, max]",
            64 + VALUE_BYTES
        );
        let mut rows: Vec<(String, Vec<f64>, Vec<f64>, usize)> = Vec::new();
        let mut record = |name: String, f: &Figures| match rows.iter_mut().find(|r| r.0 == name) {
            Some(row) => {
                row.1.push(ms(f.sync));
                row.2.push(ms(f.updates));
            }
            None => rows.push((name, vec![ms(f.sync)], vec![ms(f.updates)], f.kept)),
        };
        for round in 1..=rounds {
            let f = measure(&source, vec![source.clone()], round * 10).await;
            record("unsharded".into(), &f[0]);
            for q in 0..SHARDS {
                let f = measure(&source, vec![sharded(&source, q)], round * 10 + 1 + q).await;
                record(format!("shard {q} of {SHARDS} alone"), &f[0]);
            }
            let shards: Vec<_> = (0..SHARDS).map(|q| sharded(&source, q)).collect();
            let f = measure(&source, shards, round * 10 + 9).await;
            for (q, figures) in f.iter().enumerate() {
                record(format!("shard {q} of {SHARDS} together"), figures);
            }
        }
        for (name, syncs, updates, stored) in &rows {
            // Every mirror reads every object listed and every update watched.
            line(name, syncs, updates, *stored, OBJECTS + UPDATES);
        }
        for q in 0..SHARDS {
            let (read, kept) = list_counts(&source, q).await;
            println!(
                "shard {q}: its list read {read} objects and kept {kept} ({:.1} %)",
                100.0 * kept as f64 / read as f64
            );
        }
    });
}

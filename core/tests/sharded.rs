//! Client-side sharding ([`Sharded`]) over the memory source: the shards of one split, each
//! reflected into its own store, hold the source's collection between them, each object in
//! exactly one store, through adds, updates, deletes, watch drops and relists.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use informer_core::shard::ShardRange;
use informer_core::{InitialList, KeyFn, ReflectorConfig, ShardSelector, Sharded};
use informer_memory::MemorySource;

type State = Vec<(String, u64, u64)>;

struct Shards {
    runs: Vec<Running>,
    selectors: Vec<ShardSelector>,
}

fn start_shards(source: &MemorySource<u64>, parts: u64, config: ReflectorConfig) -> Shards {
    let selectors: Vec<ShardSelector> =
        ShardRange::FULL.split(parts).unwrap().into_iter().map(ShardSelector::from).collect();
    let runs = selectors
        .iter()
        .map(|selector| {
            let shard = Sharded::by_key(source.clone(), selector.clone(), KeyFn::keyed());
            informer_tests::reflect::start(shard, KeyFn::keyed(), config.clone())
        })
        .collect();
    Shards { runs, selectors }
}

impl Shards {
    /// The union of the stores, and whether any key is in two stores.
    fn union(&self) -> (State, bool) {
        let mut union = State::new();
        let mut keys = BTreeSet::new();
        let mut shared = false;
        for run in &self.runs {
            for entry in store_state(&run.store) {
                shared |= !keys.insert(entry.0.clone());
                union.push(entry);
            }
        }
        union.sort();
        (union, shared)
    }

    /// Waits until the union equals the source and every shard has caught up with the
    /// source's revision (the bookmarks standing in for the events it dropped).
    async fn converged(&self, source: &MemorySource<u64>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let revision = source.revision().to_string();
            let caught_up = self.runs.iter().all(|r| r.handle.last_synced_version().as_deref() == Some(&revision));
            let (union, shared) = self.union();
            assert!(!shared, "a key is in two shards: {union:?}");
            if caught_up && union == source_state(source) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                assert_eq!(union, source_state(source), "the shards' union never equalled the source");
                panic!("a shard never caught up with revision {revision}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Each store holds exactly its shard's part of the source.
        for (run, selector) in self.runs.iter().zip(&self.selectors) {
            let want: State =
                source_state(source).into_iter().filter(|(k, _, _)| selector.contains_key(k.as_bytes())).collect();
            assert_eq!(store_state(&run.store), want, "shard {selector}");
        }
    }

    async fn stop(self) {
        for run in self.runs {
            run.stop().await;
        }
    }
}

/// Adds, updates and deletes, then a dropped watch, then an expired history (every shard
/// relists), then more changes.
async fn churn_and_check(source: &MemorySource<u64>, shards: &Shards) {
    for i in 0..300u64 {
        source.put(format!("k{i:04}"), i);
    }
    shards.converged(source).await;
    for i in 0..300u64 {
        match i % 3 {
            0 => {
                source.delete(&format!("k{i:04}"));
            }
            1 => {
                source.put(format!("k{i:04}"), 1000 + i);
            }
            _ => {}
        }
    }
    shards.converged(source).await;
    source.faults().drop_watches();
    for i in 300..360u64 {
        source.put(format!("k{i:04}"), i);
    }
    shards.converged(source).await;
    let lists_before: Vec<u64> = shards.runs.iter().map(|r| r.handle.metrics().lists).collect();
    source.faults().expire_history();
    for i in 0..100u64 {
        source.put(format!("k{:04}", i * 3), 2000 + i); // re-creates deleted keys
        source.delete(&format!("k{:04}", i * 3 + 1));
    }
    shards.converged(source).await;
    for (run, before) in shards.runs.iter().zip(lists_before) {
        assert!(run.handle.metrics().lists > before, "every shard relisted after the history expired");
    }
    assert!(shards.runs.iter().all(|r| !r.store.is_empty()), "300 keys leave no shard empty");
}

#[tokio::test]
async fn two_complementary_shards_hold_the_source_between_them() {
    let source = MemorySource::<u64>::with_config(informer_memory::MemoryConfig::default().with_history(100_000));
    let config = fast_config().with_page_size(Some(50)).with_initial_list(InitialList::ListThenWatch);
    let shards = start_shards(&source, 2, config);
    churn_and_check(&source, &shards).await;
    shards.stop().await;
}

#[tokio::test]
async fn three_shards_hold_the_source_between_them_with_streaming_lists() {
    let source = MemorySource::<u64>::new();
    for i in 1000..1050u64 {
        source.put(format!("k{i:04}"), i); // there before the streaming lists
    }
    let shards = start_shards(&source, 3, fast_config().with_initial_list(InitialList::Streaming));
    churn_and_check(&source, &shards).await;
    for run in &shards.runs {
        let m = run.handle.metrics();
        assert!(m.list_pages == 0 && m.stream_fallbacks == 0, "every list was a streaming list: {m:?}");
    }
    shards.stop().await;
}

#[tokio::test]
async fn four_shards_hold_the_source_between_them() {
    let source = MemorySource::<u64>::new();
    let shards = start_shards(&source, 4, fast_config().with_page_size(Some(7)));
    churn_and_check(&source, &shards).await;
    shards.stop().await;
}

#[tokio::test]
async fn a_shard_describes_itself_and_counts_what_it_read() {
    let source = MemorySource::<u64>::new();
    for i in 0..1000u64 {
        source.put(format!("k{i:04}"), i);
    }
    let halves = ShardRange::FULL.split(2).unwrap();
    let shard = Sharded::by_key(source.clone(), ShardSelector::from(halves[1]), KeyFn::keyed());
    assert_eq!(informer_core::ListerWatcher::describe(&shard), "memory shard 0x8000000000000000-0x10000000000000000");
    let page = informer_core::ListerWatcher::list(&shard, &informer_core::ListOptions::first_page(Some(300))).await;
    let page = page.unwrap();
    assert_eq!(page.version, "1000", "the page keeps the source's version");
    assert!(page.continue_token.is_some(), "and its continue token");
    let counts = shard.counts();
    assert_eq!((counts.read, counts.kept), (300, page.items.len() as u64));
    assert!(page.items.iter().all(|o| halves[1].contains_key(o.object_key().as_bytes())));
    let run = informer_tests::reflect::start(shard, KeyFn::keyed(), fast_config()).synced().await;
    let want = (0..1000).filter(|i| halves[1].contains_key(format!("k{i:04}").as_bytes())).count();
    assert!((400..600).contains(&want), "the key hash spreads k0000..k0999 evenly: {want} in one half");
    assert_eq!(run.store.len(), want);
    run.stop().await;
}

//! Seeded property test: whatever the interleaving of changes, dropped and broken watches,
//! injected failures and expired histories, the store ends equal to the source.

mod common;

use std::time::Duration;

use common::*;
use informer_memory::{MemoryConfig, MemorySource};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Change {
    Put(u16, u64),
    Delete(u16),
}

#[derive(Debug, Clone)]
enum Fault {
    DropWatches,
    BreakWatches,
    ExpireHistory,
    FailNext(u8),
    Pause,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        70 => (0u16..500, any::<u64>()).prop_map(|(k, v)| Change::Put(k, v)),
        30 => (0u16..500).prop_map(Change::Delete),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => Just(Fault::DropWatches),
        3 => Just(Fault::BreakWatches),
        2 => Just(Fault::ExpireHistory),
        2 => (1u8..4).prop_map(Fault::FailNext),
        5 => Just(Fault::Pause),
    ]
}

/// One step: a change, sometimes followed by a fault.
fn step() -> impl Strategy<Value = (Change, Option<Fault>)> {
    (change(), proptest::option::weighted(0.15, fault()))
}

async fn run_ops(steps: Vec<(Change, Option<Fault>)>, page_size: u32, history: usize) {
    let source = MemorySource::with_config(MemoryConfig::default().with_history(history).with_list_snapshots(2));
    for i in 0..200u16 {
        source.put(format!("k{i}"), u64::from(i));
    }
    let run = start(&source, fast_config().with_page_size(Some(page_size)));
    let (mut changes, mut faults, mut expiries) = (0u32, 0u32, 0u32);
    for (change, fault) in steps {
        changes += 1;
        match change {
            Change::Put(k, v) => {
                source.put(format!("k{k}"), v);
            }
            Change::Delete(k) => {
                source.delete(&format!("k{k}"));
            }
        }
        let Some(fault) = fault else { continue };
        faults += 1;
        match fault {
            Fault::DropWatches => source.faults().drop_watches(),
            Fault::BreakWatches => source.faults().break_watches(),
            Fault::ExpireHistory => {
                source.faults().expire_history();
                expiries += 1;
            }
            Fault::FailNext(n) => source.faults().fail_next_calls(u32::from(n)),
            Fault::Pause => tokio::time::sleep(Duration::from_micros(200)).await,
        }
    }
    assert_eq!(changes, 10_000);
    converged(&run, &source).await;
    let m = run.handle.metrics();
    // Expired histories force relists only when the reflector was behind; bounded histories
    // force more. Either way every list after the first is a relist or a retried failure.
    assert!(m.lists > m.relists, "{m:?}");
    assert!(m.relists + m.errors >= 1 || expiries == 0, "faults were injected but never seen: {m:?}");
    eprintln!(
        "converged: {changes} changes, {faults} faults ({expiries} expiries), {} lists, {} relists, {} watches, {} errors",
        m.lists, m.relists, m.watches, m.errors
    );
    run.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20261122), ..ProptestConfig::default() })]

    #[test]
    fn store_equals_source_after_10000_random_changes_with_dropped_watches_and_expired_histories(
        steps in proptest::collection::vec(step(), 10_000),
        page_size in 1u32..300,
        history in 50usize..5000,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run_ops(steps, page_size, history));
    }
}

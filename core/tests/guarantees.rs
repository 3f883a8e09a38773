//! The six watch guarantees (`informer_tests::guarantees`) over what the memory source's watches
//! delivered to a reflector while its watches were dropped and broken.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use informer_core::{InitialList, KeyFn, Keyed};
use informer_memory::MemorySource;
use informer_tests::guarantees::{History, Recording, assert_guarantees};

#[tokio::test]
async fn memory_watches_are_ordered_unique_atomic_bookmarkable_reliable_and_resumable() {
    let source = MemorySource::<u64>::new();
    let mut history = History::new();
    let mut write = |key: String, value: Option<u64>| {
        let revision = match value {
            Some(v) => source.put(key.clone(), v),
            None => source.delete(&key).expect("key exists"),
        };
        history.insert(revision, BTreeSet::from([key]));
    };
    for i in 0..20 {
        write(format!("k{i}"), Some(i));
    }
    let recording = Recording::new(source.clone(), |o: &Obj| o.key().map(|k| k.to_string()).unwrap_or_default());
    let traces = recording.traces();
    let run = informer_tests::reflect::start(
        recording,
        KeyFn::keyed(),
        fast_config().with_initial_list(InitialList::ListThenWatch),
    );
    assert!(run.handle.wait_synced().await);
    for round in 0..200u64 {
        write(format!("k{}", round % 20), Some(round));
        if round % 7 == 0 {
            write(format!("k{}", round % 20), None);
        }
        match round % 50 {
            10 => source.faults().drop_watches(),
            35 => source.faults().break_watches(),
            _ => {}
        }
        if round % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    converged(&run, &source).await;
    run.cancel.cancel();
    let traces = traces.lock().unwrap().clone();
    assert!(traces.len() >= 5, "the faults reopened the watch: {} watches", traces.len());
    assert_guarantees("memory source", &traces, Some(&history));
}

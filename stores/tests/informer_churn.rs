//! An informer over a real `Reflector` and the in-memory source, under churn and faults.
//!
//! Every subscriber's events are replayed onto a private map, checking on the way that the
//! stream is coherent (an `Added` for a key it does not hold, an `Updated` whose `old` is
//! exactly what it holds, a `Deleted` for a key it holds). At the end every replayed map, and
//! the informer's store (an [`Indexer`], whose index must agree too), must equal the source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use informer_core::{BackoffConfig, CancellationToken, KeyFn, ObjectKey, ReflectorConfig, Store};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use informer_stores::{
    Deletion, Event, IndexFn, Indexer, Indexers, Informer, InformerConfig, InformerHandle, Subscription,
};

type Obj = MemoryObject<u64>;

/// What one subscriber saw.
#[derive(Default, Debug)]
struct Replay {
    view: BTreeMap<ObjectKey, Arc<Obj>>,
    adds: usize,
    initial_adds: usize,
    updates: usize,
    resyncs: usize,
    deletes: usize,
    unknown_final_state: usize,
}

impl Replay {
    fn apply(&mut self, event: Event<Obj>) {
        match event {
            Event::Added { object, initial } => {
                let key = object.object_key().clone();
                assert!(!self.view.contains_key(&key), "Added for {key}, which the subscriber already holds");
                self.view.insert(key, object);
                self.adds += 1;
                self.initial_adds += usize::from(initial);
            }
            Event::Updated { old, new, resync } => {
                let held = self.view.get(new.object_key()).unwrap_or_else(|| panic!("Updated for unknown {:?}", new));
                assert!(Arc::ptr_eq(held, &old), "Updated.old of {} is not the state last delivered", new.object_key());
                self.view.insert(new.object_key().clone(), new);
                self.updates += 1;
                self.resyncs += usize::from(resync);
            }
            Event::Deleted(deletion) => {
                let key = match &deletion {
                    Deletion::Known(o) => o.object_key().clone(),
                    Deletion::FinalStateUnknown { key, .. } => key.clone(),
                };
                assert!(self.view.remove(&key).is_some(), "Deleted for {key}, which the subscriber does not hold");
                self.deletes += 1;
                self.unknown_final_state += usize::from(deletion.is_final_state_unknown());
            }
        }
    }
}

/// Reads a subscription into a replay until the informer stops.
fn replay(mut sub: Subscription<Obj>) -> tokio::task::JoinHandle<Replay> {
    tokio::spawn(async move {
        let mut replay = Replay::default();
        while let Some(event) = sub.recv().await {
            replay.apply(event);
        }
        replay
    })
}

/// An indexer with one index: objects by the parity of their value.
fn indexer() -> Indexer<Obj> {
    let parity = IndexFn::owned(|o: &Obj| [if o.value().is_multiple_of(2) { "even" } else { "odd" }.to_string()]);
    Indexer::with_indexers(KeyFn::keyed(), Indexers::new().with("parity", parity))
}

fn config(resync: Option<Duration>) -> InformerConfig {
    let backoff = BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max(Duration::from_millis(20));
    InformerConfig::default().with_reflector(
        ReflectorConfig::default()
            .with_backoff(backoff)
            .with_page_size(Some(37))
            .with_resync_period(resync)
            .with_min_watch_duration(Duration::ZERO)
            .with_seed(Some(7)),
    )
}

fn source_state(source: &MemorySource<u64>) -> BTreeMap<ObjectKey, (u64, u64)> {
    source.snapshot().into_iter().map(|(k, o)| (k, (**o.value(), o.mod_revision()))).collect()
}

fn view_state<'a>(objects: impl IntoIterator<Item = &'a Arc<Obj>>) -> BTreeMap<ObjectKey, (u64, u64)> {
    objects.into_iter().map(|o| (o.object_key().clone(), (**o.value(), o.mod_revision()))).collect()
}

async fn converge(handle: &InformerHandle<Obj, Indexer<Obj>>, source: &MemorySource<u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let store = view_state(&handle.store().list());
        if store == source_state(source) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "store did not converge: {} vs {}", store.len(), source.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_replay_to_the_source_state_under_churn_and_faults() {
    let source = MemorySource::with_config(MemoryConfig::default().with_history(200));
    for i in 0..300u64 {
        source.put(format!("obj-{i:03}"), i);
    }
    let informer = Informer::with_indexer(source.clone(), indexer(), config(Some(Duration::from_millis(150))));
    let handle = informer.handle();
    let early = replay(handle.subscribe());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(informer.run(cancel.clone()));
    assert!(handle.wait_synced().await);

    let mut rng = Rng(0x5eed);
    let mut late = None;
    for round in 0..40u64 {
        for _ in 0..50 {
            let key = format!("obj-{:03}", rng.below(400));
            if rng.below(4) == 0 {
                source.delete(&key);
            } else {
                source.put(key, round * 1000 + rng.below(1000));
            }
        }
        match round % 10 {
            3 => source.faults().drop_watches(),
            5 => source.faults().break_watches(),
            7 => {
                // Keep the watch down while objects vanish, then compact: only a relist sees it.
                source.faults().fail_next_calls(2);
                source.faults().break_watches();
                for _ in 0..10 {
                    source.delete(&format!("obj-{:03}", rng.below(400)));
                }
                source.faults().expire_history();
            }
            _ => {}
        }
        if round == 20 {
            late = Some(replay(handle.subscribe()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    converge(&handle, &source).await;
    // Let a resync pass so it shows up as updates, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    converge(&handle, &source).await;
    cancel.cancel();
    task.await.unwrap().unwrap();

    let expected = source_state(&source);
    let early = early.await.unwrap();
    let late = late.unwrap().await.unwrap();
    assert_eq!(view_state(early.view.values()), expected, "early subscriber");
    assert_eq!(view_state(late.view.values()), expected, "late subscriber");
    assert_eq!(early.initial_adds, 300, "the initial list arrives as initial adds");
    assert!(late.initial_adds > 0, "a late subscriber starts from the current state as initial adds");
    assert!(early.updates > 0 && early.deletes > 0, "{early:?}");
    assert!(early.resyncs > 0, "a resync arrives as updates: {early:?}");
    assert!(early.unknown_final_state > 0, "relists found vanished objects: {early:?}");
    for (parity, rest) in [("even", 0), ("odd", 1)] {
        let indexed = view_state(&handle.store().by_index("parity", parity).unwrap());
        let expected: BTreeMap<_, _> =
            expected.iter().filter(|(_, v)| v.0 % 2 == rest).map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(indexed, expected, "the {parity} index");
    }
    let metrics = handle.metrics();
    assert!(metrics.reflector.relists >= 4, "{:?}", metrics.reflector);
    assert_eq!(metrics.store_errors, 0);
}

#[tokio::test]
async fn a_relist_after_expired_history_deletes_vanished_keys_for_every_subscriber() {
    let source = MemorySource::new();
    for key in ["a", "b", "c", "d"] {
        source.put(key, 1);
    }
    let informer = Informer::with_indexer(source.clone(), indexer(), config(None));
    let handle = informer.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(informer.run(cancel.clone()));
    assert!(handle.wait_synced().await);
    let mut sub = handle.subscribe();
    let mut replay = Replay::default();
    for _ in 0..4 {
        replay.apply(sub.recv().await.unwrap());
    }

    source.faults().fail_next_calls(3);
    source.faults().break_watches();
    source.delete("b");
    source.delete("d");
    source.put("e", 1);
    source.faults().expire_history();

    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.unwrap().unwrap();
        if let Event::Deleted(Deletion::FinalStateUnknown { key, last_known }) = &event {
            assert_eq!(last_known.as_ref().map(|o| **o.value()), Some(1), "the last known state of {key}");
            deleted.push(key.to_string());
        }
        replay.apply(event);
    }
    assert_eq!(deleted, vec!["b", "d"], "deletions come in key order");
    converge(&handle, &source).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    while let Some(event) = sub.recv().await {
        replay.apply(event);
    }
    assert_eq!(view_state(replay.view.values()), source_state(&source));
}

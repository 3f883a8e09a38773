//! Bounded subscribers: one test per [`Overflow`] policy, and a soak with one stalled
//! subscriber beside others that keep up.

use std::collections::BTreeMap;

use super::*;
use crate::{Overflow, SubscribeOptions};

/// A subscriber's view, built only from the events it receives; every event is checked
/// against it (an update's `old` and a deletion's object must be what the view holds).
#[derive(Default)]
struct View(BTreeMap<String, Arc<Obj>>);

impl View {
    fn apply(&mut self, event: Event<Obj>) {
        match event {
            Event::Added { object, .. } => {
                self.0.insert(object.object_key().to_string(), object);
            }
            Event::Updated { old, new, .. } => {
                let held = self.0.insert(new.object_key().to_string(), Arc::clone(&new));
                let held = held.unwrap_or_else(|| panic!("update of {} the view never held", new.object_key()));
                assert!(
                    Arc::ptr_eq(&held, &old),
                    "update of {}: `old` is not the state last received",
                    new.object_key()
                );
            }
            Event::Deleted(deletion) => {
                let key = match &deletion {
                    Deletion::Known(o) => o.object_key().to_string(),
                    Deletion::FinalStateUnknown { key, .. } => key.to_string(),
                };
                let held = self.0.remove(&key).unwrap_or_else(|| panic!("deletion of {key} the view never held"));
                if let Some(last) = deletion.object() {
                    assert_eq!(last.value(), held.value(), "deletion of {key}: not the state last received");
                }
            }
        }
    }

    /// Reads everything ready now (a pending resync included).
    fn drain(&mut self, sub: &mut Subscription<Obj>) -> usize {
        let mut read = 0;
        while let Some(event) = sub.try_recv() {
            self.apply(event);
            read += 1;
        }
        read
    }

    fn values(&self) -> BTreeMap<String, u32> {
        self.0.iter().map(|(k, o)| (k.clone(), **o.value())).collect()
    }
}

fn store_values(handle: &InformerHandle<Obj, Cache<Obj>>) -> BTreeMap<String, u32> {
    handle.store().list().iter().map(|o| (o.object_key().to_string(), **o.value())).collect()
}

fn source_values(source: &MemorySource<u32>) -> BTreeMap<String, u32> {
    source.snapshot().into_iter().map(|(k, o)| (k.to_string(), **o.value())).collect()
}

/// Waits until the informer's store equals the source.
async fn caught_up(running: &Running) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store_values(&running.handle) != source_values(&running.source) {
        assert!(tokio::time::Instant::now() < deadline, "the informer never caught up with the source");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `ops` seeded puts and deletes over `keys` keys.
fn churn(source: &MemorySource<u32>, ops: u32, keys: u32, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..ops {
        let key = format!("k{}", rng.u32(..keys));
        if rng.u8(..5) == 0 {
            source.delete(&key);
        } else {
            source.put(key, i);
        }
    }
}

#[tokio::test]
async fn a_drop_and_resync_subscriber_that_stalls_stays_bounded_and_converges_once_it_reads() {
    let source = MemorySource::new();
    for i in 0..20 {
        source.put(format!("k{i}"), i);
    }
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let mut stalled = running.handle.subscribe_with(SubscribeOptions::bounded(8, Overflow::DropAndResync));
    let mut view = View::default();
    // It reads a few events of its snapshot, then stalls while the source churns.
    for _ in 0..3 {
        view.apply(stalled.try_recv().expect("the snapshot is buffered"));
    }
    churn(&running.source, 3_000, 40, 7);
    caught_up(&running).await;
    assert_eq!(stalled.buffered(), 0, "the backlog was dropped");
    let missed = stalled.missed_keys();
    assert!((1..=40).contains(&missed), "one entry per key missed, at most the 40 keys: {missed}");
    assert!(!stalled.is_lagged());
    // Reading again: the rest of the snapshot was dropped too, and the resync makes up for it.
    let read = view.drain(&mut stalled);
    assert!(read <= 40, "a resync of the keys missed, not of every event: {read}");
    assert_eq!(view.values(), store_values(&running.handle));
    // And it follows live changes again afterwards.
    running.source.put("fresh", 1);
    caught_up(&running).await;
    view.apply(stalled.recv().await.expect("a live event"));
    assert_eq!(view.values(), store_values(&running.handle));
    running.stop().await;
}

#[tokio::test]
async fn a_blocking_subscriber_holds_the_informer_until_it_reads_and_misses_nothing() {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let mut blocking = running.handle.subscribe_with(SubscribeOptions::bounded(3, Overflow::Block));
    let mut other = running.handle.subscribe();
    for i in 0..20 {
        running.source.put(format!("k{i:02}"), i);
    }
    // One pop per key, one event per pop: the pop loop stops once 3 events wait unread.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while running.handle.store().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the first pops never came");
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(running.handle.store().len(), 3, "the informer waits for the blocking subscriber");
    assert_eq!(blocking.buffered(), 3);
    assert_eq!(other.buffered(), 3, "the other subscribers wait too");
    // Reading releases it; every change arrives, in order.
    for i in 0..20 {
        assert_eq!(next(&mut blocking).await, format!("+k{i:02}={i}"));
    }
    for i in 0..20 {
        assert_eq!(next(&mut other).await, format!("+k{i:02}={i}"));
    }
    assert_eq!(running.handle.store().len(), 20);
    running.stop().await;
}

#[tokio::test]
async fn dropping_a_blocking_subscriber_releases_the_informer() {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let blocking = running.handle.subscribe_with(SubscribeOptions::bounded(1, Overflow::Block));
    for i in 0..10 {
        running.source.put(format!("k{i}"), i);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while blocking.buffered() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the first pop never came");
        tokio::task::yield_now().await;
    }
    drop(blocking);
    caught_up(&running).await;
    assert_eq!(running.handle.metrics().subscribers, 0, "the dropped subscriber is gone");
    running.stop().await;
}

#[tokio::test]
async fn a_disconnect_subscriber_is_cut_off_past_its_bound_and_its_snapshot_does_not_count() {
    let source = MemorySource::new();
    for i in 0..10 {
        source.put(format!("s{i}"), i);
    }
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let mut sub = running.handle.subscribe_with(SubscribeOptions::bounded(2, Overflow::Disconnect));
    let mut reader = running.handle.subscribe();
    assert_eq!(next_sorted(&mut reader, 10).await.len(), 10);
    for i in 0..3 {
        running.source.put(format!("k{i}"), i);
        next(&mut reader).await;
    }
    let mut read = 0;
    while sub.recv().await.is_some() {
        read += 1;
    }
    assert_eq!(read, 12, "the 10 snapshot adds and 2 events; the third event cut it off");
    assert!(sub.is_lagged());
    assert_eq!(running.handle.metrics().lagged_subscribers, 1);
    running.stop().await;
}

/// The soak: a subscriber that never reads (DropAndResync) beside one that reads everything
/// and one bounded blocking subscriber that reads everything. The stalled one's memory stays
/// bounded by the keys, the others keep up, and all three end equal to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_one_stalled_subscriber_stays_bounded_while_the_others_keep_up() {
    const OPS: u32 = 40_000;
    const KEYS: u32 = 300;
    let source = MemorySource::with_config(informer_memory::MemoryConfig::default().with_history(2 * OPS as usize));
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let mut stalled = running.handle.subscribe_with(SubscribeOptions::bounded(64, Overflow::DropAndResync));
    let readers =
        [running.handle.subscribe(), running.handle.subscribe_with(SubscribeOptions::bounded(64, Overflow::Block))];
    let done = CancellationToken::new();
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|mut sub| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut view = View::default();
                let mut events = 0u64;
                loop {
                    tokio::select! {
                        event = sub.recv() => match event {
                            Some(event) => {
                                view.apply(event);
                                events += 1;
                            }
                            None => break,
                        },
                        _ = done.cancelled() => {
                            view.drain(&mut sub);
                            break;
                        }
                    }
                }
                (view, events)
            })
        })
        .collect();
    let mut max_missed = 0;
    for round in 0..20 {
        churn(&running.source, OPS / 20, KEYS, round);
        assert!(stalled.buffered() <= 64, "the stalled subscriber's queue is bounded: {}", stalled.buffered());
        max_missed = max_missed.max(stalled.missed_keys());
    }
    caught_up(&running).await;
    done.cancel();
    let expected = store_values(&running.handle);
    for task in tasks {
        let (view, events) = task.await.unwrap();
        assert_eq!(view.values(), expected, "a reader that kept up ends equal to the store");
        assert!(events >= u64::from(OPS) / 2, "a reader received the changes: {events}");
    }
    assert!(max_missed <= KEYS as usize, "missed keys bounded by the keys: {max_missed}");
    assert!(stalled.missed_keys() > 0, "the stalled subscriber fell behind and its backlog was dropped");
    assert!(stalled.buffered() <= 64 && stalled.missed_keys() <= KEYS as usize);
    let mut view = View::default();
    view.drain(&mut stalled);
    assert_eq!(view.values(), expected, "the stalled subscriber converges once it reads");
    running.stop().await;
}

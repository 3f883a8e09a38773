//! One test per sentence of the [`RealFifo`] contract.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use informer_core::{Change, KeyFn, ObjectKey, Store, StoreError, Version};

use super::*;
use crate::delta_fifo::wake::CountingWaker;
use crate::{Cache, Capacity, Delta, DeltaFifo, Popped};

/// Objects are `"key=value"`; the key is the part before `=`.
type Obj = String;

fn key_fn() -> KeyFn<Obj> {
    KeyFn::new(|s: &Obj| Ok(ObjectKey::new(s.split('=').next().unwrap_or_default())))
}

fn obj(s: &str) -> Arc<Obj> {
    Arc::new(s.to_string())
}

/// A known-objects store holding `items`.
fn known(items: &[&str]) -> Arc<Cache<Obj>> {
    let cache = Cache::new(key_fn());
    for item in items {
        cache.add(obj(item)).unwrap();
    }
    Arc::new(cache)
}

/// A queue whose known-objects store is a cache.
type KnownFifo = RealFifo<Obj, Arc<Cache<Obj>>>;

fn with_known(items: &[&str]) -> (KnownFifo, Arc<Cache<Obj>>) {
    let known = known(items);
    (RealFifo::with_known_objects(key_fn(), Arc::clone(&known), RealFifoOptions::default()), known)
}

fn bounded(capacity: Capacity) -> RealFifo<Obj> {
    RealFifo::with_options(key_fn(), RealFifoOptions::default().with_capacity(capacity))
}

/// A compact description of a delta: `"Added:a=1"`, `"Deleted?:a=1"` (final state unknown).
fn describe(delta: &Delta<Obj>) -> String {
    let object = delta.object().map(|o| o.as_str()).unwrap_or("-");
    match delta {
        Delta::Deleted(d) if d.is_final_state_unknown() => format!("Deleted?:{object}"),
        d => format!("{:?}:{object}", d.kind()),
    }
}

/// A compact description of a popped entry: `"Added:a=1"` or `"ReplacedAll@9[a=1,b=1]"`.
fn describe_popped(popped: &Popped<Obj>) -> String {
    match popped {
        Popped::Deltas(d) => {
            assert_eq!(d.deltas.len(), 1, "one change per entry");
            assert_eq!(d.key, key_fn().key(d.deltas[0].object().unwrap()).unwrap());
            describe(&d.deltas[0])
        }
        Popped::ReplacedAll(r) => {
            let items: Vec<&str> = r.items.iter().map(|o| o.as_str()).collect();
            format!("ReplacedAll@{}[{}]", r.version, items.join(","))
        }
    }
}

fn pop_now<K: Store<Object = Obj>>(fifo: &RealFifo<Obj, K>) -> String {
    fifo.try_pop(|p| describe_popped(&p)).expect("open").expect("an entry")
}

fn drain<K: Store<Object = Obj>>(fifo: &RealFifo<Obj, K>) -> Vec<String> {
    std::iter::from_fn(|| fifo.try_pop(|p| describe_popped(&p)).expect("open")).collect()
}

#[test]
fn changes_come_out_one_by_one_in_the_order_they_happened_across_keys() {
    let fifo = RealFifo::new(key_fn());
    let delta_fifo = DeltaFifo::new(key_fn());
    for store in [&fifo as &dyn Store<Object = Obj>, &delta_fifo] {
        store.add(obj("a=1")).unwrap();
        store.add(obj("b=1")).unwrap();
        store.update(obj("a=2")).unwrap();
    }
    assert_eq!(drain(&fifo), ["Added:a=1", "Added:b=1", "Updated:a=2"]);
    // Where a DeltaFifo merges a's changes and hands b out after both of them.
    let merged: Vec<usize> =
        std::iter::from_fn(|| delta_fifo.try_pop(|p| p.into_deltas().unwrap().deltas.len()).unwrap()).collect();
    assert_eq!(merged, [2, 1]);
}

#[test]
fn nothing_is_coalesced_not_even_repeated_deletions() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.delete(obj("a=2")).unwrap();
    fifo.delete(obj("a=2")).unwrap();
    assert_eq!(fifo.len(), 5);
    assert_eq!(drain(&fifo), ["Added:a=1", "Updated:a=2", "Updated:a=2", "Deleted:a=2", "Deleted:a=2"]);
}

#[test]
fn delete_is_queued_whatever_the_key() {
    let (fifo, _known) = with_known(&[]);
    fifo.delete(obj("never-seen=1")).unwrap();
    assert_eq!(drain(&fifo), ["Deleted:never-seen=1"]);
}

#[test]
fn apply_batch_queues_one_entry_per_change_in_order() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("z=1")).unwrap();
    let batch = vec![Change::Added(obj("b=1")), Change::Modified(obj("a=2")), Change::Deleted(obj("b=1"))];
    fifo.apply_batch(&Version::from("4"), batch).unwrap();
    assert_eq!(drain(&fifo), ["Added:z=1", "Added:b=1", "Updated:a=2", "Deleted:b=1"]);
}

#[test]
fn apply_batch_is_queued_under_one_lock() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    let producer = std::thread::spawn({
        let fifo = Arc::clone(&fifo);
        move || {
            for i in 0..2_000 {
                let batch =
                    ["a", "b", "c"].iter().map(|k| Change::Modified(obj(&format!("{k}={i}")))).collect::<Vec<_>>();
                fifo.apply_batch(&Version::from(i.to_string()), batch).unwrap();
            }
        }
    });
    // Whenever the queue is looked at, it holds whole batches: never a part of one.
    while !producer.is_finished() {
        let stats = fifo.stats();
        assert_eq!(stats.changes % 3, 0, "half a batch was visible: {stats:?}");
        let _ = fifo.try_pop(|_| ()).unwrap();
    }
    producer.join().unwrap();
    assert_eq!(fifo.stats().changes, 6_000);
}

#[test]
fn apply_batch_skips_a_change_without_a_key_and_reports_it() {
    let key_fn =
        KeyFn::new(
            |s: &Obj| if s.is_empty() { Err(informer_core::KeyError::new("empty")) } else { Ok(ObjectKey::new(s)) },
        );
    let fifo = RealFifo::new(key_fn);
    let batch = vec![Change::Added(obj("a")), Change::Added(obj("")), Change::Added(obj("b"))];
    let err = fifo.apply_batch(&Version::from("1"), batch).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    assert_eq!(fifo.len(), 2);
}

#[test]
fn an_empty_batch_queues_nothing() {
    let fifo = RealFifo::new(key_fn());
    fifo.apply_batch(&Version::from("8"), vec![]).unwrap();
    assert!(fifo.is_empty());
    assert!(!fifo.has_synced(), "a bookmark is not a first change");
}

#[test]
fn replace_queues_one_relist_after_everything_queued_before_it() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.delete(obj("x=1")).unwrap();
    fifo.replace(vec![obj("b=1"), obj("c=1")], Version::from("9")).unwrap();
    fifo.add(obj("d=1")).unwrap();
    assert_eq!(fifo.len(), 4, "the relist is one entry, and nothing before it was dropped");
    assert_eq!(drain(&fifo), ["Added:a=1", "Deleted:x=1", "ReplacedAll@9[b=1,c=1]", "Added:d=1"]);
}

#[test]
fn consecutive_replaces_are_each_queued() {
    let fifo = RealFifo::new(key_fn());
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.replace(vec![obj("a=2")], Version::from("2")).unwrap();
    assert_eq!(drain(&fifo), ["ReplacedAll@1[a=1]", "ReplacedAll@2[a=2]"]);
}

#[test]
fn only_the_first_change_being_a_replace_makes_it_initial() {
    let fifo = RealFifo::new(key_fn());
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.replace(vec![obj("a=1")], Version::from("2")).unwrap();
    let initial: Vec<bool> = std::iter::from_fn(|| fifo.try_pop(|p| p.is_initial()).unwrap()).collect();
    assert_eq!(initial, [true, false]);

    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    let initial: Vec<bool> = std::iter::from_fn(|| fifo.try_pop(|p| p.is_initial()).unwrap()).collect();
    assert_eq!(initial, [false, false]);
}

#[test]
fn replace_skips_objects_without_a_key_and_reports_the_first_error() {
    let key_fn =
        KeyFn::new(
            |s: &Obj| if s.is_empty() { Err(informer_core::KeyError::new("empty")) } else { Ok(ObjectKey::new(s)) },
        );
    let fifo = RealFifo::new(key_fn);
    let err = fifo.replace(vec![obj(""), obj("a")], Version::from("1")).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    assert_eq!(drain(&fifo), ["ReplacedAll@1[a]"]);
}

#[test]
fn a_relist_implies_the_deletion_of_known_objects_it_does_not_list() {
    let (fifo, _known) = with_known(&["gone=1", "kept=1"]);
    fifo.replace(vec![obj("kept=2"), obj("new=1")], Version::from("5")).unwrap();
    let deletions = fifo
        .try_pop(|p| match p {
            Popped::ReplacedAll(r) => fifo.implied_deletions(&r),
            Popped::Deltas(d) => panic!("expected a relist, got {}", d.key),
        })
        .unwrap()
        .unwrap();
    let described: Vec<String> = deletions.into_iter().map(|d| describe(&Delta::Deleted(d))).collect();
    assert_eq!(described, ["Deleted?:gone=1"]);
}

#[test]
fn a_relist_implies_the_deletion_of_objects_added_by_changes_queued_before_it() {
    let (fifo, known) = with_known(&["a=1"]);
    fifo.add(obj("b=1")).unwrap();
    fifo.replace(vec![obj("a=1")], Version::from("2")).unwrap();
    // A consumer that keeps the known-objects store, popping in order.
    let mut deleted = Vec::new();
    while let Some(()) = fifo
        .try_pop(|p| match p {
            Popped::Deltas(d) => d.deltas.iter().for_each(|d| known.add(Arc::clone(d.object().unwrap())).unwrap()),
            Popped::ReplacedAll(r) => {
                deleted.extend(fifo.implied_deletions(&r).into_iter().map(|d| describe(&Delta::Deleted(d))));
                known.replace(r.items, r.version).unwrap();
            }
        })
        .unwrap()
    {}
    assert_eq!(deleted, ["Deleted?:b=1"], "b was added before the relist, which no longer lists it");
    assert_eq!(known.list_keys(), [ObjectKey::from("a")]);
}

#[test]
fn a_relist_implies_no_deletions_without_known_objects() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.replace(vec![], Version::from("1")).unwrap();
    assert_eq!(pop_now(&fifo), "Added:a=1");
    let deletions = fifo
        .try_pop(|p| match p {
            Popped::ReplacedAll(r) => fifo.implied_deletions(&r),
            Popped::Deltas(d) => panic!("expected a relist, got {}", d.key),
        })
        .unwrap()
        .unwrap();
    assert!(deletions.is_empty());
}

#[test]
fn resync_queues_sync_in_key_order_for_known_keys_without_a_queued_entry() {
    let (fifo, _known) = with_known(&["c=1", "a=1", "b=1"]);
    fifo.update(obj("b=2")).unwrap();
    fifo.resync().unwrap();
    assert_eq!(drain(&fifo), ["Updated:b=2", "Sync:a=1", "Sync:c=1"]);
}

#[test]
fn resync_skips_a_key_being_handled() {
    let (fifo, _known) = with_known(&["a=1", "b=1"]);
    fifo.delete(obj("a=1")).unwrap();
    // While "a" is being deleted, a resync must not re-deliver its old state.
    fifo.try_pop(|_| fifo.resync().unwrap()).unwrap().unwrap();
    assert_eq!(drain(&fifo), ["Sync:b=1"]);
}

#[test]
fn resync_does_nothing_while_a_relist_is_queued_or_being_handled() {
    let (fifo, _known) = with_known(&["a=1"]);
    fifo.replace(vec![], Version::from("2")).unwrap();
    fifo.resync().unwrap();
    assert_eq!(fifo.len(), 1, "a Sync of \"a\" after the relist would bring it back");
    fifo.try_pop(|_| fifo.resync().unwrap()).unwrap().unwrap();
    assert!(fifo.is_empty());
    fifo.resync().unwrap();
    assert_eq!(drain(&fifo), ["Sync:a=1"]);
}

#[test]
fn resync_without_known_objects_does_nothing() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.try_pop(|_| ()).unwrap();
    fifo.resync().unwrap();
    assert!(fifo.is_empty());
}

#[tokio::test]
async fn pop_waits_for_an_entry() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    let popper = tokio::spawn({
        let fifo = Arc::clone(&fifo);
        async move { fifo.pop(|p| describe_popped(&p)).await }
    });
    tokio::task::yield_now().await;
    fifo.add(obj("a=1")).unwrap();
    assert_eq!(popper.await.unwrap().unwrap(), "Added:a=1");
}

#[test]
fn one_handler_runs_at_a_time() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    // The handler runs without the lock (it can call into the queue), but no second entry
    // is handed out until it returns.
    let inside = fifo.try_pop(|_| (fifo.len(), fifo.try_pop(|_| ()).unwrap())).unwrap().unwrap();
    assert_eq!(inside, (1, None));
    assert_eq!(drain(&fifo), ["Added:b=1"]);
}

#[test]
fn a_pop_waiting_for_a_running_handler_gets_the_next_entry() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    fifo.add(obj("a=1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    let second = fifo
        .try_pop(|_| {
            fifo.close();
            // This pop starts while "a" is being handled, and the queue is closed meanwhile.
            std::thread::spawn({
                let fifo = Arc::clone(&fifo);
                move || (fifo.pop_blocking(|p| describe_popped(&p)), fifo.pop_blocking(|_| ()))
            })
        })
        .unwrap()
        .unwrap();
    let (next, then) = second.join().unwrap();
    assert_eq!(next.unwrap(), "Added:b=1");
    assert!(then.is_err());
}

#[test]
fn handler_result_goes_to_the_caller_and_nothing_is_requeued() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    let result: Result<(), &str> = fifo.try_pop(|_| Err("handler failed")).unwrap().unwrap();
    assert_eq!(result, Err("handler failed"));
    assert!(fifo.is_empty());
}

#[test]
fn a_panicking_handler_counts_as_handled_and_frees_the_queue() {
    let fifo = RealFifo::new(key_fn());
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.add(obj("a=2")).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fifo.try_pop(|_| -> () { panic!("handler bug") }).unwrap();
    }));
    assert!(panicked.is_err());
    assert!(fifo.has_synced());
    assert_eq!(drain(&fifo), ["Added:a=2"], "the queue is not stuck behind the panicked handler");
}

#[test]
fn a_closed_queue_hands_out_what_is_queued_then_reports_closed() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.close();
    assert!(fifo.is_closed());
    assert_eq!(fifo.add(obj("b=1")), Err(StoreError::Closed));
    assert_eq!(fifo.replace(vec![], Version::from("1")), Err(StoreError::Closed));
    assert_eq!(fifo.apply_batch(&Version::from("1"), vec![Change::Added(obj("c=1"))]), Err(StoreError::Closed));
    assert_eq!(pop_now(&fifo), "Added:a=1");
    let err = fifo.try_pop(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "RealFifo is closed and empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_every_waiting_pop() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    let mut poppers = Vec::new();
    for _ in 0..3 {
        let fifo = Arc::clone(&fifo);
        poppers.push(tokio::spawn(async move { fifo.pop(|_| ()).await }));
    }
    let blocking = std::thread::spawn({
        let fifo = Arc::clone(&fifo);
        move || fifo.pop_blocking(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    fifo.close();
    for popper in poppers {
        assert!(popper.await.unwrap().is_err());
    }
    assert!(blocking.join().unwrap().is_err());
}

#[test]
fn has_synced_once_the_first_relist_is_popped_and_handled() {
    let fifo = RealFifo::new(key_fn());
    assert!(!fifo.has_synced());
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    assert!(!fifo.has_synced());
    let during = fifo.try_pop(|p| (p.is_initial(), fifo.has_synced())).unwrap().unwrap();
    assert_eq!(during, (true, false), "synced only after the handler returned");
    assert!(fifo.has_synced());
}

#[test]
fn an_empty_first_relist_is_still_an_entry_to_handle() {
    let fifo = RealFifo::new(key_fn());
    fifo.replace(vec![], Version::from("1")).unwrap();
    assert!(!fifo.has_synced(), "the consumer must learn that the collection is empty");
    assert_eq!(drain(&fifo), ["ReplacedAll@1[]"]);
    assert!(fifo.has_synced());
}

#[test]
fn has_synced_at_once_when_the_first_change_is_not_a_relist() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    assert!(fifo.has_synced());
    assert_eq!(fifo.wait_synced().now_or_never(), Some(true));
}

#[tokio::test]
async fn wait_synced_returns_true_after_the_initial_relist_is_handled() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    let waiter = tokio::spawn({
        let fifo = Arc::clone(&fifo);
        async move { fifo.wait_synced().await }
    });
    fifo.pop(|_| ()).await.unwrap();
    assert!(waiter.await.unwrap());
}

#[tokio::test]
async fn wait_synced_returns_false_when_closed_first() {
    let fifo = Arc::new(RealFifo::new(key_fn()));
    let waiter = tokio::spawn({
        let fifo = Arc::clone(&fifo);
        async move { fifo.wait_synced().await }
    });
    fifo.close();
    assert!(!waiter.await.unwrap());
}

#[test]
fn reject_capacity_refuses_changes_and_whole_batches_while_full_but_never_a_relist() {
    let fifo = bounded(Capacity::Reject(2));
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    assert_eq!(fifo.add(obj("b=1")), Err(StoreError::Full { capacity: 2, key: ObjectKey::from("b") }));
    let batch = vec![Change::Added(obj("c=1")), Change::Added(obj("d=1"))];
    let err = fifo.apply_batch(&Version::from("3"), batch).unwrap_err();
    assert_eq!(err, StoreError::Full { capacity: 2, key: ObjectKey::from("c") });
    assert_eq!(fifo.len(), 2, "nothing of the refused batch was queued");
    fifo.replace(vec![obj("a=2")], Version::from("4")).unwrap();
    assert_eq!(fifo.len(), 3);
    drain(&fifo);
    // Room when it arrives: the batch is taken whole, even past the limit.
    let batch = vec![Change::Added(obj("c=1")), Change::Added(obj("d=1")), Change::Added(obj("e=1"))];
    fifo.apply_batch(&Version::from("5"), batch).unwrap();
    assert_eq!(fifo.len(), 3);
    let stats = fifo.stats();
    assert_eq!((stats.rejected, stats.over_capacity, stats.changes), (3, 2, 6));
}

#[test]
fn soft_capacity_accepts_everything_and_counts_the_excess() {
    let fifo = bounded(Capacity::Soft(2));
    for o in ["a=1", "a=2", "a=3", "b=1"] {
        fifo.update(obj(o)).unwrap();
    }
    let stats = fifo.stats();
    assert_eq!((stats.queued, stats.over_capacity, stats.rejected), (4, 2, 0));
}

#[test]
fn poll_ready_is_pending_while_full_and_a_pop_below_the_limit_wakes_the_producer() {
    for capacity in [Capacity::Soft(2), Capacity::Reject(2)] {
        let fifo = bounded(capacity);
        let (wakes, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        fifo.add(obj("a=1")).unwrap();
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()), "{capacity:?}");
        fifo.add(obj("a=2")).unwrap();
        fifo.replace(vec![], Version::from("1")).unwrap();
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending, "{capacity:?}");
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending, "{capacity:?}: polling again");
        pop_now(&fifo); // 2 left: still full
        assert_eq!(wakes.count(), 0, "{capacity:?}");
        pop_now(&fifo); // 1 left: room
        assert_eq!(wakes.count(), 1, "{capacity:?}: woken once");
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()), "{capacity:?}");
    }
}

#[test]
fn poll_ready_of_an_unbounded_queue_is_always_ready() {
    let fifo = RealFifo::new(key_fn());
    for i in 0..100 {
        fifo.add(obj(&format!("k{i}=1"))).unwrap();
    }
    let waker = futures::task::noop_waker();
    assert!(fifo.poll_ready(&mut Context::from_waker(&waker)).is_ready());
}

#[test]
fn close_wakes_a_producer_waiting_for_room_and_makes_it_ready() {
    let fifo = bounded(Capacity::Soft(1));
    let (wakes, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    fifo.add(obj("a=1")).unwrap();
    assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending);
    fifo.close();
    assert_eq!(wakes.count(), 1);
    assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()), "the next change fails with Closed instead");
}

#[test]
fn store_view_shows_the_newest_queued_object_per_key() {
    let fifo = RealFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    fifo.delete(obj("b=1")).unwrap();
    fifo.replace(vec![obj("c=1")], Version::from("1")).unwrap();
    assert_eq!(fifo.get_by_key("a"), Some(obj("a=2")));
    assert_eq!(fifo.get(&"b=x".to_string()).unwrap(), Some(obj("b=1")));
    assert_eq!(fifo.get_by_key("c"), Some(obj("c=1")), "a queued relist's items count");
    let mut keys = fifo.list_keys();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"].map(ObjectKey::from));
    assert_eq!(fifo.list().len(), 3);
    // "a" stays while one of its entries is queued; the newest state does not go back.
    pop_now(&fifo);
    assert_eq!(fifo.get_by_key("a"), Some(obj("a=2")));
    // An entry being handled no longer counts.
    let during = fifo.try_pop(|_| fifo.get_by_key("a")).unwrap().unwrap();
    assert_eq!(during, None);
    drain(&fifo);
    assert!(fifo.list().is_empty() && fifo.list_keys().is_empty());
}

#[test]
fn a_named_queue_records_its_depth_and_adds() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let fifo = metrics::with_local_recorder(&recorder, || {
        RealFifo::with_options(key_fn(), RealFifoOptions::default().with_name("q"))
    });
    // One snapshot per check: the debugging recorder resets counters as it reads them.
    let snapshot = || {
        let series = informer_tests::metrics::series(&snapshotter);
        let value = |key: &str| match series.get(key) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            Some(DebugValue::Counter(v)) => *v as f64,
            other => panic!("{key}: {other:?}"),
        };
        (value("informer_queue_depth{name=q}"), value("informer_queue_adds_total{name=q}"))
    };
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.apply_batch(&Version::from("2"), vec![Change::Added(obj("b=1"))]).unwrap();
    fifo.replace(vec![obj("a=2"), obj("b=1")], Version::from("3")).unwrap();
    assert_eq!(snapshot(), (4.0, 4.0), "three changes and one relist, each one entry");
    pop_now(&fifo);
    assert_eq!(snapshot().0, 3.0);
}

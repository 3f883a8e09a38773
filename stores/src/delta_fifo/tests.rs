//! One test per sentence of the [`DeltaFifo`] contract.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use parking_lot::Mutex;

use super::*;
use crate::delta_fifo::wake::CountingWaker;

/// Objects are `"key=value"`; the key is the part before `=`.
type Obj = String;

fn key_fn() -> KeyFn<Obj> {
    KeyFn::new(|s: &Obj| Ok(ObjectKey::new(s.split('=').next().unwrap_or_default())))
}

fn obj(s: &str) -> Arc<Obj> {
    Arc::new(s.to_string())
}

/// A minimal known-objects store.
#[derive(Default)]
struct Known(Mutex<HashMap<ObjectKey, Arc<Obj>>>);

impl Known {
    fn with(items: &[&str]) -> Arc<Self> {
        let known = Self::default();
        for item in items {
            known.add(obj(item)).unwrap();
        }
        Arc::new(known)
    }
}

impl Store for Known {
    type Object = Obj;
    fn add(&self, o: Arc<Obj>) -> Result<(), StoreError> {
        self.0.lock().insert(key_fn().key(&o)?, o);
        Ok(())
    }
    fn update(&self, o: Arc<Obj>) -> Result<(), StoreError> {
        self.add(o)
    }
    fn delete(&self, o: Arc<Obj>) -> Result<(), StoreError> {
        self.0.lock().remove(&key_fn().key(&o)?);
        Ok(())
    }
    fn list(&self) -> Vec<Arc<Obj>> {
        self.0.lock().values().cloned().collect()
    }
    fn list_keys(&self) -> Vec<ObjectKey> {
        self.0.lock().keys().cloned().collect()
    }
    fn get(&self, o: &Obj) -> Result<Option<Arc<Obj>>, StoreError> {
        Ok(self.get_by_key(&key_fn().key(o)?))
    }
    fn get_by_key(&self, key: &str) -> Option<Arc<Obj>> {
        self.0.lock().get(key).cloned()
    }
    fn replace(&self, items: Vec<Arc<Obj>>, _: Version) -> Result<(), StoreError> {
        self.0.lock().clear();
        items.into_iter().try_for_each(|o| self.add(o))
    }
    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A compact description of a delta: `"Added:a=1"`, `"Deleted?:a=1"` (final state unknown).
fn describe(delta: &Delta<Obj>) -> String {
    let object = delta.object().map(|o| o.as_str()).unwrap_or("-");
    match delta {
        Delta::Deleted(d) if d.is_final_state_unknown() => format!("Deleted?:{object}"),
        d => format!("{:?}:{object}", d.kind()),
    }
}

fn pop_now<K: Store<Object = Obj>>(fifo: &DeltaFifo<Obj, K>) -> (String, Vec<String>) {
    fifo.try_pop(|p| {
        let d = p.into_deltas().expect("a per-key entry");
        (d.key.to_string(), d.deltas.iter().map(describe).collect())
    })
    .expect("open")
    .expect("an entry")
}

#[test]
fn add_update_delete_queue_their_delta_kinds() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.delete(obj("a=3")).unwrap();
    assert_eq!(pop_now(&fifo), ("a".into(), vec!["Added:a=1".into(), "Updated:a=2".into(), "Deleted:a=3".into()]));
}

#[test]
fn keys_come_out_in_first_enqueue_order() {
    let fifo = DeltaFifo::new(key_fn());
    for o in ["b=1", "a=1", "c=1", "a=2", "b=2"] {
        fifo.update(obj(o)).unwrap();
    }
    let order: Vec<String> = (0..3).map(|_| pop_now(&fifo).0).collect();
    assert_eq!(order, ["b", "a", "c"]);
    assert!(fifo.is_empty());
}

#[test]
fn a_requeued_key_keeps_its_place_and_its_deltas_come_out_oldest_first() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    assert_eq!(pop_now(&fifo), ("a".into(), vec!["Added:a=1".into(), "Updated:a=2".into()]));
    assert_eq!(pop_now(&fifo), ("b".into(), vec!["Added:b=1".into()]));
}

#[test]
fn consecutive_deletes_collapse_keeping_the_known_final_state() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["a=0"]), DeltaFifoOptions::default());
    fifo.replace(vec![], Version::from("1")).unwrap(); // Deleted? a=0
    fifo.delete(obj("a=9")).unwrap(); // a known deletion replaces the unknown one
    fifo.replace(vec![], Version::from("2")).unwrap(); // newest is a deletion: nothing more
    fifo.delete(obj("a=10")).unwrap();
    assert_eq!(pop_now(&fifo), ("a".into(), vec!["Deleted:a=10".into()]));
}

#[test]
fn deletes_separated_by_another_delta_are_not_collapsed() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.delete(obj("a=1")).unwrap();
    fifo.add(obj("a=2")).unwrap();
    fifo.delete(obj("a=2")).unwrap();
    assert_eq!(pop_now(&fifo).1.len(), 4);
}

#[test]
fn delete_of_an_unknown_unqueued_key_is_ignored() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["k=1"]), DeltaFifoOptions::default());
    fifo.delete(obj("x=1")).unwrap();
    assert!(fifo.is_empty());
    fifo.delete(obj("k=1")).unwrap(); // known: queued
    assert_eq!(pop_now(&fifo), ("k".into(), vec!["Deleted:k=1".into()]));
}

#[test]
fn delete_of_a_key_being_handled_is_queued() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.try_pop(|_| fifo.delete(obj("a=1")).unwrap()).unwrap().unwrap();
    assert_eq!(pop_now(&fifo), ("a".into(), vec!["Deleted:a=1".into()]));
}

#[test]
fn replace_queues_replaced_deltas_and_unknown_final_state_deletions() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["gone=1", "kept=1"]), DeltaFifoOptions::default());
    fifo.replace(vec![obj("kept=2"), obj("new=1")], Version::from("5")).unwrap();
    let mut popped: Vec<_> = (0..3).map(|_| pop_now(&fifo)).collect();
    popped.sort();
    assert_eq!(
        popped,
        vec![
            ("gone".into(), vec!["Deleted?:gone=1".into()]),
            ("kept".into(), vec!["Replaced:kept=2".into()]),
            ("new".into(), vec!["Replaced:new=1".into()]),
        ]
    );
}

#[test]
fn replace_emits_sync_deltas_when_replaced_is_off() {
    let fifo = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_emit_replaced(false));
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Sync:a=1".to_string()]);
}

#[test]
fn replace_deletes_queued_keys_absent_from_the_list_with_their_newest_state() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&[]), DeltaFifoOptions::default());
    fifo.add(obj("q=1")).unwrap();
    fifo.update(obj("q=2")).unwrap();
    fifo.replace(vec![], Version::from("1")).unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Added:q=1".to_string(), "Updated:q=2".into(), "Deleted?:q=2".into()]);
}

#[test]
fn replace_takes_the_last_known_state_from_the_known_objects_store_first() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["a=known"]), DeltaFifoOptions::default());
    fifo.update(obj("a=queued")).unwrap();
    fifo.replace(vec![], Version::from("1")).unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Updated:a=queued".to_string(), "Deleted?:a=known".into()]);
}

#[test]
fn replace_deletes_a_key_whose_handler_runs_and_that_vanished() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&[]), DeltaFifoOptions::default());
    fifo.add(obj("a=1")).unwrap();
    fifo.try_pop(|_| fifo.replace(vec![], Version::from("2")).unwrap()).unwrap().unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Deleted?:a=1".to_string()]);
}

#[test]
fn atomic_replace_drops_queued_entries_and_queues_one_event() {
    let fifo = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_atomic_replace(true));
    fifo.add(obj("old=1")).unwrap();
    fifo.replace(vec![obj("a=1"), obj("b=1")], Version::from("9")).unwrap();
    fifo.add(obj("c=1")).unwrap();
    assert_eq!(fifo.len(), 2);
    let replaced = fifo
        .try_pop(|p| match p {
            Popped::ReplacedAll(r) => (r.items.len(), r.version.to_string()),
            Popped::Deltas(d) => panic!("expected ReplacedAll, got {}", d.key),
        })
        .unwrap()
        .unwrap();
    assert_eq!(replaced, (2, "9".to_string()));
    assert_eq!(pop_now(&fifo).0, "c");
}

#[test]
fn resync_queues_sync_for_known_keys_that_are_not_queued() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["a=1", "b=1"]), DeltaFifoOptions::default());
    fifo.update(obj("a=2")).unwrap();
    fifo.resync().unwrap();
    let mut popped: Vec<_> = (0..2).map(|_| pop_now(&fifo)).collect();
    popped.sort();
    assert_eq!(popped, vec![("a".into(), vec!["Updated:a=2".into()]), ("b".into(), vec!["Sync:b=1".into()])]);
}

#[test]
fn resync_without_known_objects_does_nothing() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.resync().unwrap();
    assert!(fifo.is_empty());
}

#[tokio::test]
async fn pop_waits_for_an_entry() {
    let fifo = Arc::new(DeltaFifo::new(key_fn()));
    let popper = tokio::spawn({
        let fifo = fifo.clone();
        async move { fifo.pop(|p| p.into_deltas().map(|d| d.key.to_string())).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!popper.is_finished());
    fifo.add(obj("a=1")).unwrap();
    assert_eq!(popper.await.unwrap().unwrap(), Some("a".to_string()));
}

#[test]
fn handler_runs_without_the_queue_lock() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    // The handler can call back into the queue: with the lock held this would deadlock.
    let inner = fifo.try_pop(|_| fifo.add(obj("b=1")).map(|_| fifo.len())).unwrap().unwrap();
    assert_eq!(inner, Ok(1));
}

#[test]
fn handler_result_goes_to_the_caller_and_nothing_is_requeued() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    let result: Result<(), &str> = fifo.try_pop(|_| Err("handler failed")).unwrap().unwrap();
    assert_eq!(result, Err("handler failed"));
    assert!(fifo.is_empty());
}

#[test]
fn a_closed_queue_still_hands_out_what_is_queued_then_reports_closed() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.close();
    assert_eq!(pop_now(&fifo).0, "a");
    let err = fifo.try_pop(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "DeltaFifo is closed and empty");
}

#[test]
fn a_key_being_handled_is_not_handed_to_a_second_popper() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    let inner = fifo
        .try_pop(|_| {
            fifo.update(obj("a=2")).unwrap();
            // "a" is being handled: the second popper gets "b", and then nothing.
            let second = pop_now(&fifo).0;
            let third = fifo.try_pop(|_| ()).unwrap();
            (second, third)
        })
        .unwrap()
        .unwrap();
    assert_eq!(inner, ("b".to_string(), None));
    assert_eq!(pop_now(&fifo).1, vec!["Updated:a=2".to_string()]);
}

#[test]
fn has_synced_after_the_first_replace_is_popped_and_handled() {
    let fifo = DeltaFifo::new(key_fn());
    assert!(!fifo.has_synced());
    fifo.replace(vec![obj("a=1"), obj("b=1")], Version::from("1")).unwrap();
    assert!(!fifo.has_synced());
    let initial = fifo.try_pop(|p| (p.is_initial(), fifo.has_synced())).unwrap().unwrap();
    assert_eq!(initial, (true, false));
    let during = fifo.try_pop(|_| fifo.has_synced()).unwrap().unwrap();
    assert!(!during, "synced only after the last handler returned");
    assert!(fifo.has_synced());
    fifo.add(obj("c=1")).unwrap();
    assert!(!fifo.try_pop(|p| p.is_initial()).unwrap().unwrap());
}

#[test]
fn has_synced_at_once_when_the_first_change_is_not_a_replace() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    assert!(fifo.has_synced());
}

#[tokio::test]
async fn wait_synced_returns_true_when_the_first_change_is_not_a_replace() {
    for first in ["add", "delete"] {
        let fifo = Arc::new(DeltaFifo::new(key_fn()));
        let waiter = tokio::spawn({
            let fifo = fifo.clone();
            async move { fifo.wait_synced().await }
        });
        match first {
            "add" => fifo.add(obj("a=1")).unwrap(),
            _ => fifo.delete(obj("a=1")).unwrap(),
        }
        let synced = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
        assert!(synced.expect("wait_synced returned").unwrap(), "first change: {first}");
        fifo.close();
    }
}

#[test]
fn an_empty_first_replace_syncs_at_once() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.replace(vec![], Version::from("1")).unwrap();
    assert!(fifo.has_synced());
}

#[tokio::test]
async fn wait_synced_returns_false_when_closed_first() {
    let fifo = Arc::new(DeltaFifo::new(key_fn()));
    let waiter = tokio::spawn({
        let fifo = fifo.clone();
        async move { fifo.wait_synced().await }
    });
    fifo.close();
    assert!(!waiter.await.unwrap());
}

#[tokio::test]
async fn wait_synced_returns_true_after_the_initial_list_is_handled() {
    let fifo = Arc::new(DeltaFifo::new(key_fn()));
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    let waiter = tokio::spawn({
        let fifo = fifo.clone();
        async move { fifo.wait_synced().await }
    });
    fifo.pop(|_| ()).await.unwrap();
    assert!(waiter.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_every_waiting_pop() {
    let fifo = Arc::new(DeltaFifo::new(key_fn()));
    let mut poppers = Vec::new();
    for _ in 0..3 {
        let fifo = fifo.clone();
        poppers.push(tokio::spawn(async move { fifo.pop(|_| ()).await }));
    }
    let blocking = std::thread::spawn({
        let fifo = fifo.clone();
        move || fifo.pop_blocking(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    fifo.close();
    for popper in poppers {
        assert!(popper.await.unwrap().is_err());
    }
    assert!(blocking.join().unwrap().is_err());
    assert_eq!(fifo.add(obj("a=1")), Err(StoreError::Closed));
}

#[test]
fn pop_blocking_waits_for_a_change_from_another_thread() {
    let fifo = Arc::new(DeltaFifo::new(key_fn()));
    let producer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            std::thread::sleep(Duration::from_millis(20));
            fifo.add(obj("a=1")).unwrap();
        }
    });
    let key = fifo.pop_blocking(|p| p.into_deltas().map(|d| d.key)).unwrap();
    assert_eq!(key, Some(ObjectKey::from("a")));
    producer.join().unwrap();
}

#[test]
fn reject_capacity_refuses_new_keys_but_not_queued_keys_or_replace() {
    let options = DeltaFifoOptions::default().with_capacity(Capacity::Reject(1));
    let fifo = DeltaFifo::with_options(key_fn(), options);
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    let err = fifo.add(obj("b=1")).unwrap_err();
    assert_eq!(err, StoreError::Full { capacity: 1, key: ObjectKey::from("b") });
    fifo.replace(vec![obj("a=3"), obj("b=1"), obj("c=1")], Version::from("1")).unwrap();
    assert_eq!(fifo.len(), 3);
    let stats = fifo.stats();
    assert_eq!((stats.rejected, stats.queued), (1, 3));
    assert_eq!(stats.over_capacity, 2);
}

#[test]
fn soft_capacity_accepts_everything_and_counts_the_excess() {
    let fifo = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_capacity(Capacity::Soft(2)));
    for o in ["a=1", "b=1", "c=1", "d=1"] {
        fifo.add(obj(o)).unwrap();
    }
    let stats = fifo.stats();
    assert_eq!((stats.queued, stats.over_capacity, stats.rejected), (4, 2, 0));
}

#[test]
fn store_view_shows_the_newest_object_per_queued_key() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.add(obj("a=1")).unwrap();
    fifo.update(obj("a=2")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    fifo.delete(obj("b=1")).unwrap();
    assert_eq!(fifo.get_by_key("a"), Some(obj("a=2")));
    assert_eq!(fifo.get(&"b=x".to_string()).unwrap(), Some(obj("b=1")));
    let mut keys = fifo.list_keys();
    keys.sort();
    assert_eq!(keys, vec![ObjectKey::from("a"), ObjectKey::from("b")]);
    assert_eq!(fifo.list().len(), 2);
}

#[test]
fn key_errors_name_the_reason_and_do_not_stop_a_replace() {
    let key_fn = KeyFn::new(|s: &Obj| {
        if s.is_empty() { Err(informer_core::KeyError::new("empty object")) } else { Ok(ObjectKey::new(s)) }
    });
    let fifo = DeltaFifo::new(key_fn);
    let err = fifo.replace(vec![obj(""), obj("a")], Version::from("1")).unwrap_err();
    assert!(err.to_string().contains("empty object"));
    assert_eq!(fifo.len(), 1);
}

#[test]
fn delete_of_a_key_being_handled_with_a_deletion_is_ignored() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["a=1"]), DeltaFifoOptions::default());
    fifo.delete(obj("a=1")).unwrap();
    // The handler has not removed "a" from the known store yet.
    fifo.try_pop(|_| fifo.delete(obj("a=1")).unwrap()).unwrap().unwrap();
    assert!(fifo.is_empty());
}

#[test]
fn resync_skips_a_key_being_handled() {
    let known = Known::with(&["a=1", "b=1"]);
    let fifo = DeltaFifo::with_known_objects(key_fn(), known.clone(), DeltaFifoOptions::default());
    fifo.delete(obj("a=1")).unwrap();
    // While "a" is being deleted, a resync must not re-deliver its old state.
    fifo.try_pop(|_| fifo.resync().unwrap()).unwrap().unwrap();
    assert_eq!(pop_now(&fifo), ("b".into(), vec!["Sync:b=1".into()]));
    assert!(fifo.is_empty());
}

#[test]
fn replace_skips_a_known_key_being_deleted() {
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&["a=1"]), DeltaFifoOptions::default());
    fifo.delete(obj("a=1")).unwrap();
    fifo.try_pop(|_| fifo.replace(vec![], Version::from("2")).unwrap()).unwrap().unwrap();
    assert!(fifo.is_empty(), "no second deletion for a key already being deleted");
}

#[test]
fn replace_sees_a_handler_that_finished_before_it() {
    let known = Known::with(&[]);
    let fifo = DeltaFifo::with_known_objects(key_fn(), known.clone(), DeltaFifoOptions::default());
    fifo.add(obj("a=1")).unwrap();
    fifo.try_pop(|_| known.add(obj("a=1")).unwrap()).unwrap().unwrap();
    fifo.replace(vec![], Version::from("2")).unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Deleted?:a=1".to_string()]);
}

#[test]
fn resync_does_nothing_while_an_atomic_replace_is_pending() {
    let known = Known::with(&["a=1"]);
    let options = DeltaFifoOptions::default().with_atomic_replace(true);
    let fifo = DeltaFifo::with_known_objects(key_fn(), known.clone(), options);
    fifo.replace(vec![], Version::from("2")).unwrap();
    fifo.resync().unwrap();
    assert_eq!(fifo.len(), 1, "a Sync of \"a\" after the replace would resurrect it");
    fifo.try_pop(|_| fifo.resync().unwrap()).unwrap().unwrap();
    assert!(fifo.is_empty());
    fifo.resync().unwrap();
    assert_eq!(pop_now(&fifo), ("a".into(), vec!["Sync:a=1".into()]));
}

#[test]
fn delete_is_queued_while_an_atomic_replace_is_pending() {
    let options = DeltaFifoOptions::default().with_atomic_replace(true);
    let fifo = DeltaFifo::with_known_objects(key_fn(), Known::with(&[]), options);
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.delete(obj("a=1")).unwrap();
    assert_eq!(fifo.len(), 2, "the replace adds \"a\", the deletion must follow it");
}

#[test]
fn an_atomic_replace_that_drops_the_queued_initial_list_becomes_the_initial_list() {
    let fifo = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_atomic_replace(true));
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    fifo.replace(vec![obj("a=2")], Version::from("2")).unwrap();
    assert!(!fifo.has_synced());
    assert!(fifo.try_pop(|p| p.is_initial()).unwrap().unwrap());
    assert!(fifo.has_synced());
}

#[test]
fn a_panicking_handler_releases_its_key_and_counts_as_handled() {
    let fifo = DeltaFifo::new(key_fn());
    fifo.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fifo.try_pop(|_| -> () { panic!("handler bug") }).unwrap();
    }));
    assert!(panicked.is_err());
    assert!(fifo.has_synced());
    fifo.add(obj("a=2")).unwrap();
    assert_eq!(pop_now(&fifo).1, vec!["Added:a=2".to_string()], "the key is not stuck in flight");
}

#[test]
fn poll_ready_is_pending_while_full_and_a_pop_below_the_limit_wakes_the_producer() {
    for capacity in [Capacity::Soft(2), Capacity::Reject(2)] {
        let fifo = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_capacity(capacity));
        let (wakes, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        fifo.add(obj("a=1")).unwrap();
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()), "{capacity:?}");
        fifo.add(obj("b=1")).unwrap();
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending, "{capacity:?}");
        fifo.update(obj("a=2")).unwrap(); // a queued key: no new entry
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending, "{capacity:?}: polling again");
        assert_eq!(wakes.count(), 0, "{capacity:?}");
        pop_now(&fifo);
        assert_eq!(wakes.count(), 1, "{capacity:?}: woken once");
        assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()), "{capacity:?}");
    }
}

#[test]
fn an_atomic_replace_that_empties_a_full_queue_wakes_the_producer() {
    let options = DeltaFifoOptions::default().with_atomic_replace(true).with_capacity(Capacity::Soft(2));
    let fifo = DeltaFifo::with_options(key_fn(), options);
    let (wakes, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    fifo.add(obj("a=1")).unwrap();
    fifo.add(obj("b=1")).unwrap();
    assert_eq!(fifo.poll_ready(&mut cx), Poll::Pending);
    fifo.replace(vec![obj("a=1"), obj("b=1"), obj("c=1")], Version::from("2")).unwrap();
    assert_eq!(fifo.len(), 1);
    assert_eq!(wakes.count(), 1);
    assert_eq!(fifo.poll_ready(&mut cx), Poll::Ready(()));
}

#[test]
fn poll_ready_of_an_unbounded_or_closed_queue_is_ready() {
    let unbounded = DeltaFifo::new(key_fn());
    for i in 0..100 {
        unbounded.add(obj(&format!("k{i}=1"))).unwrap();
    }
    let (wakes, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(unbounded.poll_ready(&mut cx), Poll::Ready(()));
    let full = DeltaFifo::with_options(key_fn(), DeltaFifoOptions::default().with_capacity(Capacity::Reject(1)));
    full.add(obj("a=1")).unwrap();
    assert_eq!(full.poll_ready(&mut cx), Poll::Pending);
    full.close();
    assert_eq!(wakes.count(), 1, "close wakes the producer");
    assert_eq!(full.poll_ready(&mut cx), Poll::Ready(()), "the next change fails with Closed instead");
}

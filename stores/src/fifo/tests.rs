//! One test per sentence of the [`Fifo`] contract.

use std::sync::Arc;
use std::time::Duration;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};

use super::*;

/// Objects are `"key=value"`.
fn fifo() -> Fifo<String> {
    Fifo::new(key_fn())
}

fn key_fn() -> KeyFn<String> {
    KeyFn::new(|s: &String| Ok(ObjectKey::new(s.split('=').next().unwrap_or_default())))
}

fn obj(s: &str) -> Arc<String> {
    Arc::new(s.to_string())
}

fn pop_now(fifo: &Fifo<String>) -> Option<String> {
    fifo.try_pop(|o| o.to_string()).expect("open")
}

fn drain(fifo: &Fifo<String>) -> Vec<String> {
    std::iter::from_fn(|| pop_now(fifo)).collect()
}

#[test]
fn add_and_update_set_the_latest_object_and_keep_the_first_place() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.add(obj("b=1")).unwrap();
    q.update(obj("a=2")).unwrap();
    q.add(obj("a=3")).unwrap();
    assert_eq!(drain(&q), vec!["a=3", "b=1"]);
}

#[test]
fn add_if_not_present_keeps_the_queued_object() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.add_if_not_present(obj("a=2")).unwrap();
    q.add_if_not_present(obj("b=1")).unwrap();
    assert_eq!(drain(&q), vec!["a=1", "b=1"]);
}

#[test]
fn delete_removes_the_key_and_a_re_add_goes_to_the_back() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.add(obj("b=1")).unwrap();
    q.delete(obj("a=1")).unwrap();
    assert_eq!(q.len(), 1);
    q.add(obj("a=2")).unwrap();
    assert_eq!(drain(&q), vec!["b=1", "a=2"]);
}

#[test]
fn replace_holds_exactly_the_items_in_their_order() {
    let q = fifo();
    q.add(obj("old=1")).unwrap();
    q.add(obj("b=0")).unwrap();
    q.replace(vec![obj("c=1"), obj("b=1"), obj("a=1")], Version::from("1")).unwrap();
    assert_eq!(drain(&q), vec!["c=1", "b=1", "a=1"]);
}

#[test]
fn resync_does_nothing() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.resync().unwrap();
    assert_eq!(drain(&q), vec!["a=1"]);
}

#[tokio::test]
async fn pop_waits_for_an_object() {
    let q = Arc::new(fifo());
    let popper = tokio::spawn({
        let q = q.clone();
        async move { q.pop(|o| o.to_string()).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!popper.is_finished());
    q.add(obj("a=1")).unwrap();
    assert_eq!(popper.await.unwrap().unwrap(), "a=1");
}

#[test]
fn handler_runs_without_the_lock_and_its_result_is_returned_without_requeue() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    let result: Result<usize, String> = q.try_pop(|o| Err(format!("{o} failed; queued {}", q.len()))).unwrap().unwrap();
    assert_eq!(result, Err("a=1 failed; queued 0".to_string()));
    assert!(q.is_empty());
}

#[test]
fn a_key_being_handled_is_not_handed_to_a_second_popper() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    let inner = q
        .try_pop(|_| {
            q.add(obj("a=2")).unwrap();
            pop_now(&q)
        })
        .unwrap()
        .unwrap();
    assert_eq!(inner, None);
    assert_eq!(drain(&q), vec!["a=2"]);
}

#[test]
fn a_closed_queue_hands_out_what_it_holds_then_reports_closed() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.close();
    assert_eq!(q.add(obj("b=1")), Err(StoreError::Closed));
    assert_eq!(pop_now(&q).as_deref(), Some("a=1"));
    assert_eq!(q.try_pop(|_| ()).unwrap_err().to_string(), "Fifo is closed and empty");
}

#[test]
fn has_synced_after_the_first_replace_was_popped_or_deleted() {
    let q = fifo();
    assert!(!q.has_synced());
    q.replace(vec![obj("a=1"), obj("b=1"), obj("c=1")], Version::from("1")).unwrap();
    assert_eq!(pop_now(&q).as_deref(), Some("a=1"));
    q.delete(obj("b=1")).unwrap();
    assert!(!q.has_synced());
    let during = q.try_pop(|_| q.has_synced()).unwrap().unwrap();
    assert!(!during);
    assert!(q.has_synced());
}

#[test]
fn has_synced_at_once_when_the_first_change_is_an_add() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    assert!(q.has_synced());
}

#[test]
fn a_second_replace_before_sync_becomes_the_initial_list() {
    let q = fifo();
    q.replace(vec![obj("a=1")], Version::from("1")).unwrap();
    q.replace(vec![obj("b=1"), obj("c=1")], Version::from("2")).unwrap();
    assert_eq!(pop_now(&q).as_deref(), Some("b=1"));
    assert!(!q.has_synced());
    assert_eq!(pop_now(&q).as_deref(), Some("c=1"));
    assert!(q.has_synced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_every_waiting_pop_and_wait_synced() {
    let q = Arc::new(fifo());
    let poppers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.pop(|_| ()).await })
        })
        .collect();
    let blocking = std::thread::spawn({
        let q = q.clone();
        move || q.pop_blocking(|_| ())
    });
    let synced = tokio::spawn({
        let q = q.clone();
        async move { q.wait_synced().await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    q.close();
    for popper in poppers {
        assert!(popper.await.unwrap().is_err());
    }
    assert!(blocking.join().unwrap().is_err());
    assert!(!synced.await.unwrap());
}

#[test]
fn reject_capacity_refuses_new_keys_only() {
    let q = Fifo::with_capacity(key_fn(), Capacity::Reject(1));
    q.add(obj("a=1")).unwrap();
    q.update(obj("a=2")).unwrap();
    assert_eq!(q.add(obj("b=1")), Err(StoreError::Full { capacity: 1, key: ObjectKey::from("b") }));
    q.replace(vec![obj("x=1"), obj("y=1")], Version::from("1")).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q.stats().rejected, 1);
}

#[test]
fn soft_capacity_counts_the_excess() {
    let q = Fifo::with_capacity(key_fn(), Capacity::Soft(1));
    for o in ["a=1", "b=1", "c=1"] {
        q.add(obj(o)).unwrap();
    }
    assert_eq!(q.stats().over_capacity, 2);
    assert_eq!(q.len(), 3);
}

#[test]
fn store_view_lists_the_queued_objects() {
    let q = fifo();
    q.add(obj("a=1")).unwrap();
    q.add(obj("b=1")).unwrap();
    assert_eq!(q.get_by_key("a"), Some(obj("a=1")));
    assert_eq!(q.get(&"b=9".to_string()).unwrap(), Some(obj("b=1")));
    let mut keys = q.list_keys();
    keys.sort();
    assert_eq!(keys, vec![ObjectKey::from("a"), ObjectKey::from("b")]);
    assert_eq!(q.list().len(), 2);
}

//! [`Delivery`]: per key (DeltaFifo) against in watch order across keys (RealFifo), and the
//! relist applied whole with either.

use super::*;
use crate::{Delivery, Overflow, SubscribeOptions};

/// Holds the informer's pop loop (a blocking subscriber with a full buffer) while `a=1`,
/// `b=1`, `a=2` are queued, then releases it; the events another subscriber then receives.
async fn three_changes_queued_together(delivery: Delivery) -> Vec<String> {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config().with_delivery(delivery), false);
    assert!(running.handle.wait_synced().await);
    let mut reader = running.handle.subscribe();
    let mut blocker = running.handle.subscribe_with(SubscribeOptions::bounded(1, Overflow::Block));
    running.source.put("x", 0);
    assert_eq!(next(&mut reader).await, "+x=0");
    running.source.put("a", 1);
    running.source.put("b", 1);
    running.source.put("a", 2);
    // Every change reaches the queue while the pop loop waits for the blocker.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while running.handle.reflector().last_synced_version().and_then(|v| v.parse::<u64>().ok())
        != Some(running.source.revision())
    {
        assert!(tokio::time::Instant::now() < deadline, "the reflector never saw the changes");
        tokio::task::yield_now().await;
    }
    assert_eq!(running.handle.store().len(), 1, "nothing popped while the blocker is full");
    assert_eq!(next(&mut blocker).await, "+x=0");
    drop(blocker);
    let events = vec![next(&mut reader).await, next(&mut reader).await, next(&mut reader).await];
    running.stop().await;
    events
}

#[tokio::test]
async fn in_order_delivery_keeps_the_watch_order_across_keys() {
    assert_eq!(three_changes_queued_together(Delivery::InOrder).await, ["+a=1", "+b=1", "~a=1>2"]);
}

#[tokio::test]
async fn per_key_delivery_gives_a_key_all_its_queued_changes_together() {
    assert_eq!(three_changes_queued_together(Delivery::PerKey).await, ["+a=1", "~a=1>2", "+b=1"]);
}

#[tokio::test]
async fn either_delivery_applies_a_relist_whole_and_reports_what_it_found_gone() {
    for delivery in [Delivery::PerKey, Delivery::InOrder] {
        let source = MemorySource::new();
        source.put("a", 1);
        source.put("b", 1);
        let (running, sub) = Running::start(&source, config().with_delivery(delivery), true);
        let mut sub = sub.unwrap();
        assert_eq!(next_sorted(&mut sub, 2).await, vec!["+!a=1", "+!b=1"], "{delivery:?}");
        let popped = running.handle.metrics().queue.popped;
        source.faults().fail_next_calls(3);
        source.faults().break_watches();
        source.delete("a");
        source.put("c", 1);
        source.faults().expire_history();
        assert_eq!(next_sorted(&mut sub, 3).await, vec!["+c=1", "-?a", "~b=1>1"], "{delivery:?}");
        let relist_entries = running.handle.metrics().queue.popped - popped;
        assert_eq!(relist_entries, 1, "{delivery:?}: the relist was one entry, applied as one replace");
        assert!(running.handle.store().get_by_key("a").is_none());
        running.stop().await;
    }
}

#[tokio::test]
async fn in_order_delivery_resyncs_and_syncs_like_per_key() {
    let source = MemorySource::new();
    for i in 0..20 {
        source.put(format!("k{i}"), i);
    }
    let reflector = config().reflector.with_resync_period(Some(Duration::from_millis(50)));
    let config = config().with_reflector(reflector).with_delivery(Delivery::InOrder);
    let (running, sub) = Running::start(&source, config, true);
    let mut sub = sub.unwrap();
    assert!(running.handle.wait_synced().await);
    assert_eq!(sub.buffered(), 20, "every initial add was dispatched before has_synced");
    assert!(next_sorted(&mut sub, 20).await.iter().all(|e| e.starts_with("+!k")));
    assert!(next(&mut sub).await.ends_with(" resync"));
    running.stop().await;
}

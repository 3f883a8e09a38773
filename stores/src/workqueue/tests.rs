//! One test per sentence of the [`WorkQueue`] contract.

use std::time::Duration;

use super::*;

async fn get_now<K: Clone + Eq + Hash + Send + Sync + 'static, R: RateLimiter<K>>(q: &WorkQueue<K, R>) -> Option<K> {
    tokio::time::timeout(Duration::from_millis(50), q.get()).await.ok().flatten()
}

#[tokio::test]
async fn add_deduplicates_keys_while_queued() {
    let q = WorkQueue::new();
    q.add("a");
    q.add("b");
    q.add("a");
    assert_eq!(q.len(), 2);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
    assert_eq!(q.stats().adds, 2);
}

#[tokio::test]
async fn a_key_added_after_get_is_queued_again() {
    let q = WorkQueue::new();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
}

#[tokio::test]
async fn get_waits_for_a_key() {
    let q = WorkQueue::new();
    let getter = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!getter.is_finished());
    q.add(7);
    assert_eq!(getter.await.unwrap(), Some(7));
}

#[tokio::test]
async fn a_processing_key_is_not_handed_out_twice_and_requeues_once_on_done() {
    let q = WorkQueue::new();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.add("a");
    q.add("a");
    assert_eq!(q.len(), 0, "re-added while processing: held back");
    assert_eq!(get_now(&q).await, None);
    q.done(&"a");
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    assert!(q.is_empty());
}

#[tokio::test(start_paused = true)]
async fn add_after_adds_once_the_delay_passed() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(10));
    assert_eq!(q.stats().waiting, 1);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(q.is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn only_the_earliest_pending_delay_of_a_key_counts() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(10));
    q.add_after("a", Duration::from_secs(2));
    q.add_after("a", Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(q.is_empty(), "later delays of the same key were dropped");
    assert_eq!(q.stats().adds, 1);
}

#[tokio::test]
async fn a_zero_delay_adds_at_once() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::ZERO);
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn add_rate_limited_backs_off_exponentially_per_key() {
    let q = WorkQueue::with_rate_limiter(ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(60)));
    let mut waits = Vec::new();
    for _ in 0..4 {
        let start = Instant::now();
        q.add_rate_limited("a");
        assert_eq!(q.get().await, Some("a"));
        waits.push(start.elapsed().as_secs());
        q.done(&"a");
    }
    assert_eq!(waits, vec![1, 2, 4, 8]);
    assert_eq!(q.num_requeues(&"a"), 4);
    assert_eq!(q.num_requeues(&"b"), 0);
    assert_eq!(q.stats().retries, 4);
}

#[tokio::test(start_paused = true)]
async fn forget_resets_the_backoff() {
    let q = WorkQueue::with_rate_limiter(ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(60)));
    q.add_rate_limited("a");
    q.add_rate_limited("a");
    assert_eq!(q.num_requeues(&"a"), 2);
    q.forget(&"a");
    assert_eq!(q.num_requeues(&"a"), 0);
    let start = Instant::now();
    q.add_rate_limited("b");
    q.add_rate_limited("a");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test]
async fn max_of_combines_a_per_key_backoff_with_an_overall_bucket() {
    let limiter =
        MaxOf(ExponentialBackoff::new(Duration::from_millis(1), Duration::from_secs(1)), TokenBucket::new(1.0, 1));
    assert_eq!(limiter.when(&"a"), Duration::from_millis(1));
    assert!(limiter.when(&"b") > Duration::from_millis(900), "bucket exhausted");
    assert_eq!(limiter.num_requeues(&"a"), 1);
    limiter.forget(&"a");
    assert_eq!(limiter.num_requeues(&"a"), 0);
}

#[test]
fn exponential_backoff_saturates_instead_of_overflowing() {
    let limiter = ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(100));
    let last = (0..80).map(|_| limiter.when(&"a")).last();
    assert_eq!(last, Some(Duration::from_secs(100)));
}

#[tokio::test]
async fn after_shut_down_adds_are_ignored_and_queued_keys_still_come_out() {
    let q = WorkQueue::new();
    q.add("a");
    q.shut_down();
    q.add("b");
    assert!(q.is_shutting_down());
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_drops_pending_delays() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(1));
    q.shut_down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(q.get().await, None);
    assert_eq!(q.stats().waiting, 0);
}

#[tokio::test]
async fn shut_down_wakes_every_waiting_get() {
    let q: WorkQueue<u32> = WorkQueue::new();
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.shut_down();
    for getter in getters {
        assert_eq!(getter.await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_key_readded_while_processing_is_still_served_after_shut_down() {
    let q = WorkQueue::new();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.add("a");
    q.shut_down();
    q.done(&"a");
    assert_eq!(q.get().await, Some("a"));
}

#[tokio::test]
async fn shut_down_with_drain_waits_for_processing_keys() {
    let q = WorkQueue::new();
    q.add("a");
    let key = q.get().await.unwrap();
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!drain.is_finished(), "a key is still processing");
    q.done(&key);
    tokio::time::timeout(Duration::from_secs(5), drain).await.unwrap().unwrap();
}

#[test]
fn add_after_outside_a_runtime_adds_at_once() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(3600));
    assert_eq!(q.len(), 1);
}

#[test]
fn add_after_uses_the_runtime_the_queue_was_created_in() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let q = runtime.block_on(async { WorkQueue::new() });
    q.add_after("a", Duration::from_millis(10));
    assert!(q.is_empty());
    let got = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), q.get()).await });
    assert_eq!(got, Ok(Some("a")));
}

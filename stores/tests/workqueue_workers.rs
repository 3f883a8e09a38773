//! A [`WorkQueue`] with several Tokio workers: de-duplication, no concurrent processing of a
//! key, no lost update, retries with backoff, and draining on shutdown.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use informer_stores::{ExponentialBackoff, WorkQueue};
use parking_lot::Mutex;
use tokio::time::Instant;

/// What the workers observed.
#[derive(Default)]
struct Log {
    in_progress: Mutex<HashSet<u32>>,
    /// For each key: the clock value when it was last added, and when processing last began.
    last_add: Mutex<HashMap<u32, u64>>,
    last_start: Mutex<HashMap<u32, u64>>,
    processed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_never_share_a_key_and_every_add_is_followed_by_processing() {
    let queue: WorkQueue<u32> = WorkQueue::new();
    let log = Arc::new(Log::default());
    let clock = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (queue, log, clock) = (queue.clone(), log.clone(), clock.clone());
            tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    assert!(log.in_progress.lock().insert(key), "key {key} handed to two workers at once");
                    log.last_start.lock().insert(key, clock.fetch_add(1, Ordering::SeqCst));
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    assert!(log.in_progress.lock().remove(&key));
                    log.processed.fetch_add(1, Ordering::Relaxed);
                    queue.done(&key);
                }
            })
        })
        .collect();

    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for i in 0..4000u32 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = (rng % 25) as u32;
        log.last_add.lock().insert(key, clock.fetch_add(1, Ordering::SeqCst));
        queue.add(key);
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // Wait until everything added has been processed, then drain.
    let deadline = Instant::now() + Duration::from_secs(15);
    while queue.stats().depth + queue.stats().processing > 0 {
        assert!(Instant::now() < deadline, "workers did not catch up: {:?}", queue.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    queue.shut_down_with_drain().await;
    for worker in workers {
        worker.await.unwrap();
    }

    let (adds, starts) = (log.last_add.lock(), log.last_start.lock());
    for (key, added) in adds.iter() {
        let started = starts.get(key).copied().unwrap_or_default();
        assert!(started > *added, "key {key}: last added at {added}, last processing began at {started}");
    }
    let processed = log.processed.load(Ordering::Relaxed);
    assert!(processed < 4000, "de-duplication merged adds: {processed} runs for 4000 adds");
    assert!(processed >= 25);
    assert_eq!(queue.stats().adds as usize, processed, "every queued key was processed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_is_retried_with_growing_backoff_until_it_succeeds() {
    let queue =
        WorkQueue::with_rate_limiter(ExponentialBackoff::new(Duration::from_millis(20), Duration::from_secs(1)));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let worker = tokio::spawn({
        let (queue, attempts) = (queue.clone(), attempts.clone());
        async move {
            while let Some(key) = queue.get().await {
                let mut attempts = attempts.lock();
                attempts.push((Instant::now(), queue.num_requeues(&key)));
                if attempts.len() < 4 {
                    queue.add_rate_limited(key);
                } else {
                    queue.forget(&key);
                }
                queue.done(&key);
            }
        }
    });
    queue.add("flaky");
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts.lock().len() < 4 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    queue.shut_down_with_drain().await;
    worker.await.unwrap();
    let attempts = attempts.lock();
    let requeues: Vec<u32> = attempts.iter().map(|a| a.1).collect();
    assert_eq!(requeues, vec![0, 1, 2, 3]);
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (gap, expected) in gaps.iter().zip([20u64, 40, 80]) {
        assert!(*gap >= Duration::from_millis(expected), "retry waited {gap:?}, expected at least {expected} ms");
    }
    assert_eq!(queue.num_requeues(&"flaky"), 0, "forget reset the count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shut_down_with_drain_waits_for_in_flight_work_and_stops_every_worker() {
    let queue: WorkQueue<u32> = WorkQueue::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (queue, finished) = (queue.clone(), finished.clone());
            tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    queue.done(&key);
                }
            })
        })
        .collect();
    for key in 0..3 {
        queue.add(key);
    }
    // Let every worker take a key.
    let deadline = Instant::now() + Duration::from_secs(5);
    while queue.stats().processing < 3 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    queue.shut_down_with_drain().await;
    assert_eq!(finished.load(Ordering::SeqCst), 3, "drain returned only after in-flight keys were done");
    queue.add(99);
    assert!(queue.is_empty(), "adds after shutdown are ignored");
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(5), worker).await.unwrap().unwrap();
    }
}

//! The controller pattern end to end: an informer feeds keys to a [`WorkQueue`], workers
//! reconcile each key from the informer's store, failures retry with backoff. After churn,
//! every worker-side view equals the source.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use informer_core::{BackoffConfig, CancellationToken, KeyFn, ObjectKey, ReflectorConfig, Store};
use informer_memory::{MemoryObject, MemorySource};
use informer_stores::{Deletion, EventHandler, ExponentialBackoff, Informer, InformerConfig, WorkQueue};
use parking_lot::Mutex;

type Obj = MemoryObject<u64>;

/// Queues the key of every changed object.
struct Enqueue(WorkQueue<ObjectKey>);

impl EventHandler<Obj> for Enqueue {
    fn on_add(&mut self, object: &Arc<Obj>, _initial: bool) {
        self.0.add(object.object_key().clone());
    }
    fn on_update(&mut self, _old: &Arc<Obj>, new: &Arc<Obj>) {
        self.0.add(new.object_key().clone());
    }
    fn on_delete(&mut self, deletion: &Deletion<Obj>) {
        let key = match deletion {
            Deletion::Known(o) => o.object_key().clone(),
            Deletion::FinalStateUnknown { key, .. } => key.clone(),
        };
        self.0.add(key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_reconcile_every_key_to_the_source_state() {
    let source = MemorySource::new();
    for i in 0..100u64 {
        source.put(format!("pod-{i:03}"), i);
    }
    let backoff = BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max(Duration::from_millis(10));
    let config = InformerConfig::default().with_reflector(ReflectorConfig::default().with_backoff(backoff));
    let informer = Informer::with_cache(source.clone(), KeyFn::keyed(), config);
    let handle = informer.handle();
    let queue =
        WorkQueue::with_rate_limiter(ExponentialBackoff::new(Duration::from_millis(1), Duration::from_millis(20)));
    let enqueue = tokio::spawn(handle.handler_task(Enqueue(queue.clone())));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(informer.run(cancel.clone()));

    // What the workers reconciled: key -> value (absent = deleted).
    let reconciled = Arc::new(Mutex::new(BTreeMap::<ObjectKey, u64>::new()));
    let attempts = Arc::new(Mutex::new(HashMap::<ObjectKey, u32>::new()));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (queue, store, reconciled, attempts) =
                (queue.clone(), Arc::clone(handle.store()), reconciled.clone(), attempts.clone());
            tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    // Every key fails its first attempt: retries must still converge.
                    let attempt = {
                        let mut attempts = attempts.lock();
                        let n = attempts.entry(key.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    if attempt == 1 {
                        queue.add_rate_limited(key.clone());
                    } else {
                        match store.get_by_key(&key) {
                            Some(object) => reconciled.lock().insert(key.clone(), **object.value()),
                            None => reconciled.lock().remove(&key),
                        };
                        queue.forget(&key);
                    }
                    queue.done(&key);
                }
            })
        })
        .collect();

    assert!(handle.wait_synced().await);
    for round in 0..20u64 {
        for i in 0..10u64 {
            let key = format!("pod-{:03}", (round * 17 + i * 13) % 130);
            if i % 4 == 0 {
                source.delete(&key);
            } else {
                source.put(key, round * 100 + i);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let expected: BTreeMap<ObjectKey, u64> = source.snapshot().into_iter().map(|(k, o)| (k, **o.value())).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let idle = queue.stats().depth + queue.stats().processing + queue.stats().waiting == 0;
        if idle && *reconciled.lock() == expected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "workers did not converge: {:?}", queue.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(queue.stats().retries >= 100, "every key was retried once: {:?}", queue.stats());

    cancel.cancel();
    run.await.unwrap().unwrap();
    enqueue.await.unwrap();
    queue.shut_down_with_drain().await;
    for worker in workers {
        worker.await.unwrap();
    }
}

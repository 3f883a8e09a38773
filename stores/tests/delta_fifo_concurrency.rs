//! A [`DeltaFifo`] with several concurrent poppers (async tasks and a blocking thread) and a
//! producer: every change comes out exactly once, one key's changes come out in order, and
//! no two handlers ever hold the same key at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use informer_core::{KeyFn, ObjectKey, Store};
use informer_stores::{Delta, DeltaFifo, Popped};
use parking_lot::Mutex;

/// Objects are `(key, sequence)`: the sequence grows with every change of the key.
type Obj = (u32, u64);

#[derive(Default)]
struct Seen {
    handling: Mutex<HashSet<u32>>,
    last: Mutex<HashMap<u32, u64>>,
    deltas: AtomicUsize,
}

impl Seen {
    fn handle(&self, popped: Popped<Obj>) {
        let Popped::Deltas(d) = popped else { panic!("no atomic replace configured") };
        let key: u32 = d.key.parse().expect("numeric keys");
        assert!(self.handling.lock().insert(key), "key {key} handed to two handlers at once");
        std::thread::sleep(Duration::from_micros(20));
        let mut last = self.last.lock();
        for delta in &d.deltas {
            let Delta::Updated(object) = delta else { panic!("only updates are queued") };
            let previous = last.insert(key, object.1);
            assert!(previous < Some(object.1), "key {key}: {:?} after {previous:?}", object.1);
        }
        drop(last);
        self.deltas.fetch_add(d.deltas.len(), Ordering::SeqCst);
        assert!(self.handling.lock().remove(&key));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn concurrent_poppers_keep_per_key_order_and_never_share_a_key() {
    const KEYS: u64 = 16;
    const CHANGES: u64 = 20_000;
    let fifo = Arc::new(DeltaFifo::new(KeyFn::new(|o: &Obj| Ok(ObjectKey::new(o.0.to_string())))));
    let seen = Arc::new(Seen::default());

    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (fifo, seen) = (fifo.clone(), seen.clone());
        tasks.push(tokio::spawn(async move { while fifo.pop(|p| seen.handle(p)).await.is_ok() {} }));
    }
    let blocking = {
        let (fifo, seen) = (fifo.clone(), seen.clone());
        std::thread::spawn(move || while fifo.pop_blocking(|p| seen.handle(p)).is_ok() {})
    };
    let producer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            for seq in 0..CHANGES {
                fifo.update(Arc::new(((seq % KEYS) as u32, seq))).unwrap();
                if seq % KEYS == 0 {
                    // Pace the producer so poppers race for fresh entries.
                    std::thread::sleep(Duration::from_micros(10));
                }
            }
        })
    };
    producer.join().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while seen.deltas.load(Ordering::SeqCst) < CHANGES as usize {
        assert!(std::time::Instant::now() < deadline, "only {} deltas handled", seen.deltas.load(Ordering::SeqCst));
        assert!(!tasks.iter().any(|t| t.is_finished()) && !blocking.is_finished(), "a popper failed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fifo.close();
    for task in tasks {
        task.await.unwrap();
    }
    blocking.join().unwrap();
    assert_eq!(seen.deltas.load(Ordering::SeqCst), CHANGES as usize, "every change came out exactly once");
    assert_eq!(seen.last.lock().len(), KEYS as usize);
    assert!(fifo.is_empty());
}

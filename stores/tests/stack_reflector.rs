//! A real `Reflector` over the in-memory source feeding a store stack
//! `Tee(Tee(Transform(Cache), Filter(Indexer)), Undelta)` under churn and faults: once the
//! reflector has caught up, the cache holds every source object (transformed), the indexer
//! holds exactly the matching ones, with indexes that agree with the source, and the undelta
//! store's last push is the source's whole state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use informer_core::{
    BackoffConfig, CancellationToken, KeyError, KeyFn, Keyed, ListOptions, ListPage, ListerWatcher, ObjectKey,
    Reflector, ReflectorConfig, SourceError, Store, Version, WatchEvent, WatchOptions, WatchStream,
};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use informer_stores::{Cache, IndexFn, Indexer, Indexers, StoreExt, Tee, Undelta};
use parking_lot::Mutex;

/// What the source holds per key.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    node: u64,
    running: bool,
}

/// What the stores hold: a pod-like object with bulky bookkeeping the transform strips.
#[derive(Debug, Clone, PartialEq)]
struct Pod {
    key: ObjectKey,
    revision: u64,
    node: String,
    running: bool,
    managed_fields: Option<String>,
}

impl Keyed for Pod {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

fn to_pod(o: MemoryObject<Spec>) -> Pod {
    Pod {
        key: o.object_key().clone(),
        revision: o.mod_revision(),
        node: format!("node-{}", o.value().node),
        running: o.value().running,
        managed_fields: Some("x".repeat(256)),
    }
}

/// The memory source, seen as a source of `Pod`s.
struct Pods(MemorySource<Spec>);

fn map_event(event: WatchEvent<MemoryObject<Spec>>) -> WatchEvent<Pod> {
    match event {
        WatchEvent::Added { object, version } => WatchEvent::Added { object: to_pod(object), version },
        WatchEvent::Modified { object, version } => WatchEvent::Modified { object: to_pod(object), version },
        WatchEvent::Deleted { object, version } => WatchEvent::Deleted { object: to_pod(object), version },
        WatchEvent::Bookmark(b) => WatchEvent::Bookmark(b),
    }
}

impl ListerWatcher for Pods {
    type Object = Pod;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Pod>, SourceError> {
        let page = self.0.list(options).await?;
        Ok(ListPage {
            items: page.items.into_iter().map(to_pod).collect(),
            version: page.version,
            continue_token: page.continue_token,
        })
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<Pod>, SourceError> {
        let stream = self.0.watch(version, options).await?;
        Ok(stream.map(|event| event.map(map_event)).boxed())
    }

    fn describe(&self) -> String {
        format!("pods over {}", self.0.describe())
    }
}

fn strip(pod: Arc<Pod>) -> Arc<Pod> {
    Arc::new(Pod { managed_fields: None, ..(*pod).clone() })
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

type State = BTreeMap<String, (u64, String, bool)>;

fn source_state(source: &MemorySource<Spec>) -> State {
    source
        .snapshot()
        .into_iter()
        .map(|(k, o)| (k.to_string(), (o.mod_revision(), format!("node-{}", o.value().node), o.value().running)))
        .collect()
}

fn store_state(objects: Vec<Arc<Pod>>) -> State {
    objects.iter().map(|p| (p.key.to_string(), (p.revision, p.node.clone(), p.running))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_keeps_a_tee_of_transform_and_filtered_indexer_equal_to_the_source_under_churn() {
    let source = MemorySource::with_config(MemoryConfig::default().with_history(150));
    let mut rng = Rng(0xfeed);
    for i in 0..500u64 {
        source.put(format!("pod-{i:03}"), Spec { node: rng.below(5), running: rng.below(2) == 0 });
    }

    let all = Arc::new(Cache::new(KeyFn::<Pod>::keyed()));
    let running = Arc::new(Indexer::with_indexers(
        KeyFn::<Pod>::keyed(),
        Indexers::new().with("node", IndexFn::single(|p: &Pod| p.node.as_str())),
    ));
    let last_push: Arc<Mutex<Option<Vec<Arc<Pod>>>>> = Arc::default();
    let pushes = Arc::clone(&last_push);
    let undelta = Undelta::new(KeyFn::<Pod>::keyed(), move |state| *pushes.lock() = Some(state));
    let stack =
        Tee::new(Arc::clone(&all).transformed(strip), Arc::clone(&running).filtered(|p: &Pod| p.running)).tee(undelta);

    let backoff = BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max(Duration::from_millis(20));
    let config = ReflectorConfig::default()
        .with_backoff(backoff)
        .with_page_size(Some(41))
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(3));
    let reflector = Reflector::new(Pods(source.clone()), stack, config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    assert!(handle.wait_synced().await);

    for round in 0..40u64 {
        for _ in 0..60 {
            let key = format!("pod-{:03}", rng.below(600));
            match rng.below(5) {
                0 => {
                    source.delete(&key);
                }
                _ => {
                    source.put(key, Spec { node: rng.below(5), running: rng.below(2) == 0 });
                }
            }
        }
        match round % 10 {
            2 => source.faults().drop_watches(),
            5 => source.faults().break_watches(),
            8 => {
                // Objects vanish while the watch is down and the history is gone: only a
                // relist (a replace through the whole stack) can remove them.
                source.faults().fail_next_calls(2);
                source.faults().break_watches();
                for _ in 0..20 {
                    source.delete(&format!("pod-{:03}", rng.below(600)));
                }
                source.faults().expire_history();
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let expected = loop {
        let expected = source_state(&source);
        if store_state(all.list()) == expected {
            break expected;
        }
        assert!(tokio::time::Instant::now() < deadline, "cache did not converge: {} vs {}", all.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cancel.cancel();
    task.await.unwrap().unwrap();
    assert!(handle.metrics().relists >= 1, "the expired history must have forced a relist");

    // The undelta store pushed the whole state last (nothing changes after the cancel).
    let pushed = last_push.lock().take().expect("at least one push");
    assert_eq!(store_state(pushed), expected);
    // The transform stripped every object in the cache.
    assert!(all.list().iter().all(|p| p.managed_fields.is_none()));
    // The filtered indexer holds exactly the running objects, untransformed.
    let want_running: State = expected.iter().filter(|(_, v)| v.2).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(store_state(running.list()), want_running);
    assert!(running.list().iter().all(|p| p.managed_fields.is_some()));
    // Its node index agrees with the source.
    for node in 0..5 {
        let node = format!("node-{node}");
        let want: BTreeSet<String> = want_running.iter().filter(|(_, v)| v.1 == node).map(|(k, _)| k.clone()).collect();
        let got: BTreeSet<String> = running.index_keys("node", &node).unwrap().iter().map(|k| k.to_string()).collect();
        assert_eq!(got, want, "index node={node}");
    }
    let values: BTreeSet<String> = running.list_index_values("node").unwrap().into_iter().collect();
    assert_eq!(values, want_running.values().map(|v| v.1.clone()).collect::<BTreeSet<_>>());
}

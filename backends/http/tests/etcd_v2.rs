//! The etcd v2 preset against a real etcd 3.4 with `--enable-v2=true`.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use informer_core::{ListOptions, ListerWatcher, Store, WatchEvent, WatchOptions};
use informer_http::{HttpSource, presets};
use informer_tests::etcd::{EtcdOptions, EtcdServer};
use support::{GateStore, Running, contents, eventually, map_store, reflector_config};

/// A minimal etcd v2 keys client for the test's own writes.
#[derive(Clone)]
struct V2 {
    http: reqwest::Client,
    base: String,
}

impl V2 {
    fn new(etcd: &EtcdServer) -> Self {
        Self {
            http: informer_http::client_builder().unwrap().build().unwrap(),
            base: format!("{}/v2/keys", etcd.url()),
        }
    }

    async fn put(&self, key: &str, value: &str) {
        let response = self
            .http
            .put(format!("{}{key}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("value={value}"))
            .send()
            .await
            .expect("etcd answers a put");
        assert!(response.status().is_success(), "put {key}: {}", response.status());
    }

    async fn delete(&self, key: &str) {
        let response = self.http.delete(format!("{}{key}", self.base)).send().await.expect("etcd answers a delete");
        assert!(response.status().is_success(), "delete {key}: {}", response.status());
    }

    /// Every leaf key under `dir` with its value.
    async fn dump(&self, dir: &str) -> BTreeMap<String, serde_json::Value> {
        let body: serde_json::Value = self
            .http
            .get(format!("{}{dir}?recursive=true", self.base))
            .send()
            .await
            .expect("etcd answers a get")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("etcd answers JSON"))
            .expect("a body");
        let mut out = BTreeMap::new();
        fn walk(node: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
            if node["dir"].as_bool().unwrap_or(false) {
                for child in node["nodes"].as_array().into_iter().flatten() {
                    walk(child, out);
                }
            } else if let Some(key) = node["key"].as_str() {
                out.insert(key.to_string(), node["value"].clone());
            }
        }
        if let Some(node) = body.get("node") {
            walk(node, &mut out);
        }
        out
    }

    /// Puts many keys, `parallel` at a time.
    async fn put_all(&self, keys: Vec<(String, String)>, parallel: usize) {
        futures::stream::iter(keys)
            .for_each_concurrent(parallel, |(k, v)| {
                let this = self.clone();
                async move { this.put(&k, &v).await }
            })
            .await;
    }
}

fn etcd() -> EtcdServer {
    EtcdServer::start_with(EtcdOptions { enable_v2: true, ..Default::default() }).expect("etcd with v2 starts")
}

fn source(etcd: &EtcdServer, dir: &str) -> HttpSource {
    let config = presets::etcd_v2_keys(&etcd.url(), dir).unwrap().with_wait(Duration::from_secs(2));
    HttpSource::new(config).unwrap()
}

/// Key `i` of the mirrored tree: ten nested directories deep enough to need flattening.
fn key(i: usize) -> String {
    format!("/mirror/d{}/sub{}/k{i}", i % 10, i % 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_2000_keys_through_1000_random_changes() {
    let etcd = etcd();
    let v2 = V2::new(&etcd);
    v2.put_all((0..2000).map(|i| (key(i), format!("v{i}"))).collect(), 32).await;
    v2.put("/outside/x", "not mirrored").await;

    let store = map_store();
    let running = Running::start(source(&etcd, "/mirror"), store.clone(), reflector_config());
    assert!(running.handle.wait_synced().await);
    assert_eq!(store.len(), 2000);
    assert_eq!(contents(&store), v2.dump("/mirror").await);

    let mut rng = fastrand::Rng::with_seed(7);
    for n in 0..1000 {
        let i = rng.usize(0..2400);
        if rng.u8(0..4) == 0 {
            // Deleting a key that does not exist answers 404; only delete known ones.
            if v2.dump_has(&key(i)).await {
                v2.delete(&key(i)).await;
            }
        } else {
            v2.put(&key(i), &format!("c{n}")).await;
        }
    }
    let want = v2.dump("/mirror").await;
    assert!(
        eventually(Duration::from_secs(15), || async { contents(&store) == want }).await,
        "store never equalled the server: {} keys vs {}",
        store.len(),
        want.len()
    );
    let metrics = running.handle.metrics();
    assert_eq!(metrics.relists, 0, "{metrics:?}");
    assert!(metrics.events_total() >= 900, "{metrics:?}");
    running.stop().await;
}

impl V2 {
    async fn dump_has(&self, key: &str) -> bool {
        let response = self.http.get(format!("{}{key}", self.base)).send().await.expect("etcd answers");
        response.status().is_success()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_once_when_the_wait_index_falls_out_of_the_1000_event_window() {
    let etcd = etcd();
    let v2 = V2::new(&etcd);
    v2.put_all((0..100).map(|i| (format!("/w/k{i}"), "0".to_string())).collect(), 16).await;

    let store = Arc::new(GateStore::new(map_store()));
    let running = Running::start(source(&etcd, "/w"), store.clone(), reflector_config());
    assert!(running.handle.wait_synced().await);

    // The next write blocks the reflector inside the store: it stops consuming its watch.
    store.pause();
    v2.put("/w/k0", "paused").await;
    // The reflector counts the event, then blocks in the store before applying it.
    assert!(
        eventually(Duration::from_secs(5), || async { running.handle.metrics().events_total() == 1 }).await,
        "the reflector reached the paused store"
    );
    assert_eq!(inner(&store).get_by_key("/w/k0").unwrap().value, "0", "nothing applied while paused");
    // 1 100 changes: the watch's next waitIndex falls out of etcd's 1 000-event window.
    v2.put_all((0..1100).map(|n| (format!("/w/k{}", n % 150), format!("n{n}"))).collect(), 16).await;
    v2.delete("/w/k3").await;
    store.resume();

    let want = v2.dump("/w").await;
    assert!(
        eventually(Duration::from_secs(15), || async { support::contents(&inner(&store)) == want }).await,
        "store never converged"
    );
    let metrics = running.handle.metrics();
    assert_eq!(metrics.relists, 1, "exactly one relist: {metrics:?}");
    assert_eq!(metrics.lists, 2, "{metrics:?}");
    // After the relist the reflector watches again and keeps up.
    v2.put("/w/after", "relist").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            inner(&store).get_by_key("/w/after").is_some_and(|i| i.value == "relist")
        })
        .await
    );
    assert_eq!(running.handle.metrics().relists, 1);
    running.stop().await;
}

fn inner(
    store: &GateStore<Arc<informer_tests::MapStore<informer_http::HttpItem>>>,
) -> Arc<informer_tests::MapStore<informer_http::HttpItem>> {
    store.inner().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_deletes_and_ends_cleanly_at_its_timeout() {
    let etcd = etcd();
    let v2 = V2::new(&etcd);
    let source = source(&etcd, "/t");
    // A missing directory lists as empty.
    let page = source.list(&ListOptions::default()).await.unwrap();
    assert!(page.items.is_empty());
    v2.put("/t/a", "1").await;
    v2.put("/t/a", "2").await;
    v2.delete("/t/a").await;
    let mut options = WatchOptions::default();
    options.timeout = Some(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let events: Vec<_> = source.watch(&page.version, &options).await.unwrap().collect().await;
    let kinds: Vec<_> = events.iter().map(|e| e.as_ref().unwrap().type_name()).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(matches!(events[2].as_ref().unwrap(), WatchEvent::Deleted { object, .. } if object.value == "2"));
    // No change for the rest of the timeout: not an error, a clean end.
    assert!(started.elapsed() >= Duration::from_millis(1400), "{:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5));
}

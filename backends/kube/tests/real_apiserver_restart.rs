//! The kube backend against a real kube-apiserver when versions expire: an apiserver restart
//! (its new watch cache starts at etcd's current revision), and etcd compaction under a
//! resource the apiserver does not cache (`--watch-cache-sizes=configmaps#0`), which expires
//! both an old watch and a continue token. Also a second apiserver with
//! `--feature-gates=WatchList=false`, where a streaming list must fall back to list + watch.
//!
//! These tests restart and compact the control plane, so they run one at a time.

mod real;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use informer_core::{
    ErrorKind, InitialList, ListOptions, ListPage, ListerWatcher, SourceError, Version, WatchOptions, WatchStream,
};
use informer_kube::kube::Client;
use informer_kube::kube::api::{Api, PostParams};
use informer_kube::{KubeSource, key_fn};
use informer_tests::control_plane::{ControlPlane, ControlPlaneOptions};
use informer_tests::reflect::{self, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use real::{admin_of, create_pods, pod, real_config, server_pods, store_pods};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn control_plane() -> &'static ControlPlane {
    static CP: std::sync::OnceLock<ControlPlane> = std::sync::OnceLock::new();
    CP.get_or_init(|| {
        let options = ControlPlaneOptions::default().with_apiserver_arg("--watch-cache-sizes=configmaps#0");
        ControlPlane::start_with(options).unwrap_or_else(|e| panic!("control plane: {e}"))
    })
}

async fn in_background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("blocking work does not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_restart_costs_exactly_one_relist() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cp = control_plane();
    let (client, ns) = admin_of(cp, "restart").await;
    create_pods(&client, &ns, 0..200).await;
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let r = reflect::start(source, key_fn::<Pod>(), real_config()).synced().await;
    let before = r.handle.metrics();
    let starts = cp.apiserver_starts();
    in_background(|| control_plane().restart_apiserver()).await.expect("apiserver restarts");
    assert_eq!(cp.apiserver_starts(), starts + 1);

    // A fresh client: the old one's connections went down with the server.
    let (client, _) = admin_of(cp, "restart-writer").await;
    create_pods(&client, &ns, 200..210).await;
    let server = server_pods(&client, &ns).await;
    let converged = eventually(Duration::from_secs(60), || async { store_pods(&r.store) == server }).await;
    let after = r.handle.metrics();
    println!("[real restart] before {before:?}; after {after:?}");
    assert!(converged, "the store equals the server after the restart");
    assert_eq!(after.relists - before.relists, 1, "the restart expires the watch's version once: {after:?}");
    r.stop().await;
}

/// A source that runs a hook (once) before the first watch, or before the first list page
/// that carries a continue token: where a test compacts etcd behind the reflector's back.
struct Hooked<L> {
    inner: L,
    before_watch: Option<Hook>,
    before_continue: Option<Hook>,
    fired: AtomicBool,
}

type Hook = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

impl<L> Hooked<L> {
    fn new(inner: L) -> Self {
        Self { inner, before_watch: None, before_continue: None, fired: AtomicBool::new(false) }
    }

    async fn fire(&self, hook: &Option<Hook>) {
        if let Some(hook) = hook
            && !self.fired.swap(true, Ordering::SeqCst)
        {
            hook().await;
        }
    }
}

impl<L: ListerWatcher> ListerWatcher for Hooked<L> {
    type Object = L::Object;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<L::Object>, SourceError> {
        if options.continue_token.is_some() {
            self.fire(&self.before_continue).await;
        }
        self.inner.list(options).await
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<L::Object>, SourceError> {
        self.fire(&self.before_watch).await;
        self.inner.watch(version, options).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

async fn create_configmaps(client: &Client, ns: &str, range: std::ops::Range<usize>) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for i in range {
        let cm = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("settings-{i}")},
            "data": {"index": i.to_string(), "payload": "x".repeat(200)}
        }))
        .unwrap();
        api.create(&PostParams::default(), &cm).await.expect("configmap created");
    }
}

async fn configmaps(client: &Client, ns: &str) -> std::collections::BTreeMap<String, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| (format!("{ns}/{}", c.metadata.name.unwrap()), c.metadata.resource_version.unwrap()))
        .collect()
}

/// Two writes, then a physical compaction at etcd's newest revision: every version before
/// the second write is gone.
fn write_twice_then_compact(client: Client, ns: String, from: usize) -> Hook {
    Box::new(move || {
        let (client, ns) = (client.clone(), ns.clone());
        Box::pin(async move {
            create_configmaps(&client, &ns, from..from + 2).await;
            let revision = in_background(|| control_plane().compact_etcd()).await.expect("etcd compacted");
            println!("[real compaction] etcd compacted at revision {revision}");
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_watch_on_an_uncached_resource_expires_after_compaction_and_is_recovered() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cp = control_plane();
    let (client, ns) = admin_of(cp, "compact-watch").await;
    create_configmaps(&client, &ns, 0..30).await;
    let mut source = Hooked::new(KubeSource::<ConfigMap>::namespaced(client.clone(), &ns));
    source.before_watch = Some(write_twice_then_compact(client.clone(), ns.clone(), 30));
    let r = reflect::start(source, key_fn::<ConfigMap>(), real_config());
    let server = {
        // The hook runs inside the reflector's first watch; wait for its two writes.
        let (client, ns) = (client.clone(), ns.clone());
        assert!(eventually(Duration::from_secs(30), || async { configmaps(&client, &ns).await.len() == 32 }).await);
        configmaps(&client, &ns).await
    };
    let store = |r: &reflect::Running<ConfigMap>| -> std::collections::BTreeMap<String, String> {
        r.store
            .snapshot()
            .into_iter()
            .map(|(k, c)| (k.to_string(), c.metadata.resource_version.clone().unwrap_or_default()))
            .collect()
    };
    let converged = eventually(Duration::from_secs(30), || async { store(&r) == server }).await;
    let metrics = r.handle.metrics();
    println!("[real compaction] old watch: {metrics:?}");
    assert!(converged, "the store equals the server after the expired watch");
    assert_eq!(metrics.relists, 1, "the compacted watch version costs one relist: {metrics:?}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_continue_token_after_compaction_restarts_the_list() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cp = control_plane();
    let (client, ns) = admin_of(cp, "compact-continue").await;
    create_configmaps(&client, &ns, 0..50).await;

    // The source itself: the second page's token is expired, named as such.
    let plain = KubeSource::<ConfigMap>::namespaced(client.clone(), &ns).with_read_ahead(false);
    let first = plain.list(&ListOptions::first_page(Some(10))).await.expect("first page");
    let token = first.continue_token.clone().expect("a continue token");
    write_twice_then_compact(client.clone(), ns.clone(), 50)().await;
    let mut next = ListOptions::first_page(Some(10));
    next.continue_token = Some(token);
    let err = plain.list(&next).await.expect_err("the token is too old");
    println!("[real compaction] continue: {err}");
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains("410"), "{err}");

    // The reflector: the list restarts and the store ends equal to the server.
    let mut source = Hooked::new(KubeSource::<ConfigMap>::namespaced(client.clone(), &ns).with_read_ahead(false));
    source.before_continue = Some(write_twice_then_compact(client.clone(), ns.clone(), 52));
    let r = reflect::start(source, key_fn::<ConfigMap>(), real_config().with_page_size(Some(10))).synced().await;
    let metrics = r.handle.metrics();
    let server = configmaps(&client, &ns).await;
    let store: std::collections::BTreeMap<String, String> = r
        .store
        .snapshot()
        .into_iter()
        .map(|(k, c)| (k.to_string(), c.metadata.resource_version.clone().unwrap_or_default()))
        .collect();
    println!("[real compaction] list with an expired continue token: {metrics:?}");
    assert_eq!(server.len(), 54);
    assert_eq!(store, server, "the restarted list sees every configmap at its version");
    assert!(metrics.list_pages > 6, "one page before the expiry, then a whole list: {metrics:?}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watch_list_a_streaming_list_falls_back_to_list_and_watch() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let options = ControlPlaneOptions::default().with_apiserver_arg("--feature-gates=WatchList=false");
    let cp = Arc::new(in_background(move || ControlPlane::start_with(options)).await.expect("second control plane"));
    let (client, ns) = admin_of(&cp, "no-watch-list").await;
    create_pods(&client, &ns, 0..100).await;
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let err = match source.watch_list(None, &WatchOptions::default()).await {
        Err(e) => e,
        Ok(mut stream) => futures::StreamExt::next(&mut stream).await.expect("an answer").expect_err("refused"),
    };
    println!("[real no watch-list] streaming list: {err}");
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    let config = real_config().with_initial_list(InitialList::Streaming);
    let r = reflect::start(source, key_fn::<Pod>(), config).synced().await;
    let metrics = r.handle.metrics();
    println!("[real no watch-list] {metrics:?}");
    // Two initial reads: the refused streaming list, then one paged LIST.
    assert_eq!((metrics.lists, metrics.list_pages), (2, 1), "the fallback lists once: {metrics:?}");
    assert_eq!(store_pods(&r.store), server_pods(&client, &ns).await);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    api.create(&Default::default(), &pod(&ns, 100)).await.unwrap();
    let server = server_pods(&client, &ns).await;
    assert!(eventually(Duration::from_secs(10), || async { store_pods(&r.store) == server }).await, "then watches");
    r.stop().await;
    in_background(move || drop(cp)).await;
}

//! Shared setup of the peer benchmarks (`peer.rs`, `memory.rs`, `watch.rs`): the local API
//! server loaded with realistic pods, kube clients, the informer and kube-runtime sides, the
//! client-go peer, and a gate that holds a watch stream so a batch of changes can pile up
//! before it is timed.

#![allow(dead_code)]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use futures::task::AtomicWaker;
use informer_core::{ListOptions, ListPage, ListerWatcher, SourceError, Version, WatchOptions, WatchStream};
use informer_kube::kube::api::ApiResource;
use informer_kube::kube::{Client, Config};
use informer_kube::{KubeSource, RawObject, RawOptions};
use informer_stores::{IndexFn, IndexValues, Indexers};
use informer_tests::kube_api::{KubeApiServer, PodGenerator, ServerOptions};
use k8s_openapi::api::core::v1::Pod;

/// Pods in the data set.
pub const PODS: usize = 100_000;
/// Seed of the data set.
pub const SEED: u64 = 8;

/// Starts the local API server and loads `count` generated pods straight into its store
/// (Rust calls, no HTTP), on two threads. `INFORMER_BENCH_LIST_LATENCY_MS` makes each list
/// page wait that long before it is answered, standing in for a remote API server's work
/// and round trip per page (default 0: loopback only).
pub async fn loaded_server(count: usize, history: usize) -> KubeApiServer {
    let latency = std::env::var("INFORMER_BENCH_LIST_LATENCY_MS").ok().and_then(|v| v.parse::<u64>().ok());
    let options = ServerOptions::default()
        .with_history(history)
        .with_bookmark_interval(None)
        .with_list_latency(latency.filter(|ms| *ms > 0).map(Duration::from_millis));
    if let Some(ms) = latency {
        eprintln!("each list page waits {ms} ms before its answer (INFORMER_BENCH_LIST_LATENCY_MS)");
    }
    let server = KubeApiServer::start_with(options).await.expect("local API server starts");
    let started = Instant::now();
    let pods = PodGenerator::new(SEED);
    std::thread::scope(|s| {
        for part in [0..count / 2, count / 2..count] {
            let (server, pods) = (&server, &pods);
            s.spawn(move || server.create_pods(pods, part).expect("pods created"));
        }
    });
    eprintln!("loaded {count} pods into the local API server in {:.1?}", started.elapsed());
    server
}

/// A kube client for the server, the same for both sides.
pub fn client(url: &str) -> Client {
    Client::try_from(Config::new(url.parse().expect("server URL"))).expect("kube client")
}

/// The informer source of typed pods, optionally without managedFields.
pub fn typed_source(client: Client, strip: bool) -> KubeSource<Pod> {
    let source = KubeSource::<Pod>::all(client);
    if strip { source.strip_managed_fields() } else { source }
}

/// The informer source of compact raw pods (node name extracted for the index).
pub fn raw_source(client: Client, strip: bool) -> KubeSource<RawObject> {
    let options = RawOptions::default().strip_managed_fields(strip).extract("spec.nodeName");
    KubeSource::raw(client, &ApiResource::erase::<Pod>(&()), None, options)
}

/// Two indexes on typed pods: by node and by the `app.kubernetes.io/name` label.
pub fn typed_indexers() -> Indexers<Pod> {
    Indexers::new()
        .with("node", IndexFn::optional(|p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref())))
        .with(
            "app",
            IndexFn::optional(|p: &Pod| {
                p.metadata.labels.as_ref().and_then(|l| l.get("app.kubernetes.io/name")).map(String::as_str)
            }),
        )
}

/// The same two indexes on raw pods.
pub fn raw_indexers() -> Indexers<RawObject> {
    Indexers::new()
        .with("node", IndexFn::new(|p: &RawObject| IndexValues::from(p.field("spec.nodeName"))))
        .with("app", IndexFn::optional(|p: &RawObject| p.label("app.kubernetes.io/name")))
}

/// Opens or closes a [`Gated`] stream. Closed, the stream yields nothing (its source's
/// events wait undecoded in the HTTP connection and the server).
#[derive(Clone, Default)]
pub struct Gate(Arc<GateInner>);

#[derive(Default)]
pub struct GateInner {
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl Gate {
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
    }

    pub fn open(&self) {
        self.0.closed.store(false, Ordering::SeqCst);
        self.0.waker.wake();
    }

    /// Wraps a stream: it yields only while the gate is open.
    pub fn wrap<S>(&self, inner: S) -> Gated<S> {
        Gated { inner, gate: self.clone() }
    }
}

/// A stream held by a [`Gate`].
pub struct Gated<S> {
    inner: S,
    gate: Gate,
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let gate = &self.gate.0;
        if gate.closed.load(Ordering::Relaxed) {
            gate.waker.register(cx.waker());
            if gate.closed.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// An informer source whose watch streams are held by a [`Gate`].
pub struct GatedSource<L> {
    pub inner: L,
    pub gate: Gate,
}

impl<L: ListerWatcher> ListerWatcher for GatedSource<L>
where
    L::Object: 'static,
{
    type Object = L::Object;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<L::Object>, SourceError> {
        self.inner.list(options).await
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<L::Object>, SourceError> {
        let stream = self.inner.watch(version, options).await?;
        Ok(Box::pin(self.gate.wrap(stream)))
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Waits until `done` holds, checking every millisecond; panics after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Current and peak resident memory of this process, from /proc/self/status (kB).
pub fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A running informer reflector over `source` into `store`.
pub struct InformerSide<S> {
    pub store: Arc<S>,
    pub handle: informer_core::ReflectorHandle,
    cancel: informer_core::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), informer_core::ReflectorError>>,
}

impl<S> InformerSide<S>
where
    S: informer_core::Store + 'static,
{
    /// Starts the reflector (pages of 500, like kube-runtime's default; the initial list as
    /// `INFORMER_BENCH_INITIAL_LIST` says) and waits for the sync; returns the side and the time
    /// to sync.
    pub async fn start<L>(source: L, store: S) -> (Self, Duration)
    where
        L: ListerWatcher<Object = S::Object> + 'static,
    {
        let started = Instant::now();
        let store = Arc::new(store);
        let mut config = informer_core::ReflectorConfig::default().with_page_size(Some(500));
        // INFORMER_BENCH_INITIAL_LIST=list|stream forces one way (default: auto, a streaming
        // list where the server offers it).
        match std::env::var("INFORMER_BENCH_INITIAL_LIST").as_deref() {
            Ok("list") => config = config.with_initial_list(informer_core::InitialList::ListThenWatch),
            Ok("stream") => config = config.with_initial_list(informer_core::InitialList::Streaming),
            _ => {}
        }
        let reflector = informer_core::Reflector::new(source, Arc::clone(&store), config);
        let handle = reflector.handle();
        let cancel = informer_core::CancellationToken::new();
        let task = tokio::spawn(reflector.run(cancel.clone()));
        assert!(handle.wait_synced().await, "informer reflector synced");
        let elapsed = started.elapsed();
        (Self { store, handle, cancel, task }, elapsed)
    }

    /// Stops the reflector and waits for it.
    pub async fn stop(self) -> Arc<S> {
        self.cancel.cancel();
        let _ = self.task.await;
        self.store
    }
}

/// A running kube-runtime reflector (`reflector(writer, watcher(..))`) over all pods.
pub struct KubeRuntimeSide {
    pub reader: kube_runtime::reflector::Store<Pod>,
    task: tokio::task::JoinHandle<()>,
}

impl KubeRuntimeSide {
    /// Starts `reflector(writer, watcher(Api::<Pod>::all, Config::default()))`, the watcher
    /// stream held by `gate` and changed by `modify` (e.g. to drop managedFields), and waits
    /// until the store is ready; returns the side and the time to sync.
    pub async fn start(client: Client, gate: Option<Gate>, strip: bool) -> (Self, Duration) {
        use futures::StreamExt;
        use kube_runtime::WatchStreamExt;
        let started = Instant::now();
        let (reader, writer) = kube_runtime::reflector::store::<Pod>();
        let api = informer_kube::kube::Api::<Pod>::all(client);
        let watcher = kube_runtime::watcher(api, kube_runtime::watcher::Config::default().page_size(500));
        let task = if strip {
            let watcher = watcher.modify(|p| p.metadata.managed_fields = None);
            Self::spawn(kube_runtime::reflector(writer, gate.unwrap_or_default().wrap(watcher.boxed())))
        } else {
            Self::spawn(kube_runtime::reflector(writer, gate.unwrap_or_default().wrap(watcher.boxed())))
        };
        reader.wait_until_ready().await.expect("kube-runtime store ready");
        let elapsed = started.elapsed();
        (Self { reader, task }, elapsed)
    }

    fn spawn<St: Stream + Send + 'static>(stream: St) -> tokio::task::JoinHandle<()> {
        use futures::StreamExt;
        tokio::spawn(stream.for_each(|_| async {}))
    }

    /// Stops the reflector and waits for it.
    pub async fn stop(self) -> kube_runtime::reflector::Store<Pod> {
        self.task.abort();
        let _ = self.task.await;
        self.reader
    }
}

/// The kube-runtime key of a pod.
pub fn object_ref(namespace: &str, name: &str) -> kube_runtime::reflector::ObjectRef<Pod> {
    kube_runtime::reflector::ObjectRef::new(name).within(namespace)
}

/// Builds the client-go peer into `~/.cache/informer/peers` with the machine's Go; `None` (its
/// sides skipped) without Go.
pub fn client_go_peer() -> Option<std::path::PathBuf> {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/client-go");
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let bin = home.join(".cache/informer/peers/client-go-peer");
    let built = std::process::Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&source)
        .env("CGO_ENABLED", "0")
        .status();
    match built {
        Ok(status) if status.success() => Some(bin),
        Ok(status) => panic!("go build of the client-go peer failed: {status}"),
        Err(err) => {
            eprintln!("no Go ({err}): client-go's sides are skipped");
            None
        }
    }
}

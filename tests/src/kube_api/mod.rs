//! A local Kubernetes API server for tests and benchmarks: real HTTP on 127.0.0.1, serving
//! pods, configmaps and one custom resource (`widgets.example.informer.dev/v1`, cluster-scoped)
//! from an [`informer_memory::MemorySource`], with the documented semantics of the Kubernetes
//! "API concepts" page: list bodies with `metadata.resourceVersion` / `continue` /
//! `remainingItemCount`, `limit`, the resourceVersion / resourceVersionMatch rules (the table
//! at the top of `list.rs`), watches as newline-delimited JSON over a chunked
//! response, `BOOKMARK` events, `ERROR` events with a `410 Expired` `Status`, streaming lists
//! (`sendInitialEvents`), `timeoutSeconds`, label, field and shard selectors, namespaced,
//! cluster-wide and group paths, minimal discovery, and `Status` error bodies.
//!
//! It counts list and watch requests ([`KubeApiServer::counters`]) and records each request's
//! query ([`KubeApiServer::requests`]) so tests can assert what a client asked for, and it
//! injects faults: [`drop_watches`](KubeApiServer::drop_watches),
//! [`expire_next_watches`](KubeApiServer::expire_next_watches),
//! [`expire_next_continues`](KubeApiServer::expire_next_continues),
//! [`compact`](KubeApiServer::compact), and a switch that rejects streaming lists like a server
//! without the `WatchList` feature ([`set_watch_list_supported`](KubeApiServer::set_watch_list_supported)).
//!
//! ```
//! use informer_tests::kube_api::{KubeApiServer, PodGenerator};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = KubeApiServer::start().await.unwrap();
//! let pod = server.create(PodGenerator::new(1).pod(0)).unwrap();
//! assert_eq!(pod["metadata"]["resourceVersion"], "1");
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! # }
//! ```
//!
//! # Where this server had to guess
//!
//! * Revisions are global across kinds, like etcd's; objects are stored as compact JSON plus
//!   the labels and selectable fields extracted at write time (not as `serde_json::Value`), so
//!   large lists are served without re-serialising.
//! * "Any" and "not older than" reads return the newest state: the server has no lagging
//!   watch cache (the real one may answer a `resourceVersion=0` list a moment behind).
//!   "Too large resource version" is answered at once instead of after the real server's 3 s
//!   wait.
//! * Bookmarks come every [`ServerOptions::bookmark_interval`] (default 1 s). The real watch
//!   cache sends one about 2 s before a watch's `timeoutSeconds` ends and otherwise once a
//!   minute; here no bookmark is sent right before a `timeoutSeconds` end.
//! * A watch from a revision newer than the server's waits for it instead of failing.
//! * `uid` (random-looking, from a counter) and `creationTimestamp` are filled in on create
//!   when missing; `generation`,
//!   admission, defaulting and validation of objects are not modelled.
//! * Only GET is served over HTTP (list, watch, get); tests write through Rust methods. There
//!   is no authentication or RBAC: `403 Forbidden` is tested against the real apiserver only.
//!
//! # Checked against the real kube-apiserver 1.37
//!
//! `tests/tests/kube_api_vs_real.rs` sends the same requests to this server and to a real
//! kube-apiserver (`crate::control_plane`) and requires the same HTTP code, `Status` reason,
//! body kind and paging. Where they differed, this server was changed:
//!
//! * `resourceVersion=0` with a `limit` (with or without `resourceVersionMatch=NotOlderThan`):
//!   the real watch cache ignores the limit and answers every item in one page, with no
//!   continue token. This server used to page such lists; now it answers as the real one by
//!   default ([`set_paginate_cached_lists`](KubeApiServer::set_paginate_cached_lists) keeps
//!   the paging variant).
//! * A path under a group/version the server does not serve (a deleted CRD's group): the real
//!   server answers `404` with the plain-text body `404 page not found`, not a `Status`. This
//!   server used to answer a `Status` `NotFound`; a `Status` is still the answer for an unknown
//!   resource inside a served group/version, as on the real server.
//!
//! Agreeing from the start: consistent lists page with `limit`; a missing object is a
//! `NotFound` `Status`; `resourceVersionMatch` without `resourceVersion` and
//! `sendInitialEvents` without `resourceVersionMatch` are `422 Invalid`; a garbage continue
//! token and a malformed label selector are `400 BadRequest`; an expired continue token is
//! `410 Expired` with the etcd3 storage's message (seen in `real_apiserver_restart.rs`).
//!
//! Shard selectors (KEP-5866, gate `ShardedListAndWatch`) were written after the real
//! server's code and asked of both from the start: the echo in `metadata.shardInfo`, and the
//! answer to an invalid selector, which on the real server is `500` with no reason (its parser
//! runs in the registry and returns a plain error) and the parser's message. Without the gate
//! both ignore the parameter.

mod db;
mod kubeconfig;
mod list;
mod params;
pub mod pods;
mod resources;
mod selectors;
mod shards;
mod status;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};

pub use pods::PodGenerator;
pub use resources::ResourceDef;
pub use selectors::{FieldSelector, LabelSelector};
pub use status::ApiError;

use db::Db;
use params::Params;
use resources::{Target, parse_path};

/// Settings of a [`KubeApiServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The kinds served. Default: pods, configmaps, widgets.
    pub resources: Vec<ResourceDef>,
    /// How many changes the history keeps for watches and exact reads. Default 200 000.
    pub history: usize,
    /// How often watches that allow bookmarks get one. Default 1 s; `None`: only on
    /// [`KubeApiServer::send_bookmarks`].
    pub bookmark_interval: Option<Duration>,
    /// How long each list page takes before its answer starts, standing in for the real
    /// server's work per page (reading etcd, encoding) and the network round trip. Default none.
    pub list_latency: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            resources: vec![ResourceDef::pods(), ResourceDef::configmaps(), ResourceDef::widgets()],
            history: 200_000,
            bookmark_interval: Some(Duration::from_secs(1)),
            list_latency: None,
        }
    }
}

impl ServerOptions {
    /// Sets the bookmark interval.
    #[must_use]
    pub fn with_bookmark_interval(mut self, interval: Option<Duration>) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Sets the time each list page takes before its answer starts.
    #[must_use]
    pub fn with_list_latency(mut self, latency: Option<Duration>) -> Self {
        self.list_latency = latency;
        self
    }

    /// Sets the history length.
    #[must_use]
    pub fn with_history(mut self, history: usize) -> Self {
        self.history = history;
        self
    }
}

/// Request counters of a [`KubeApiServer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiCounters {
    /// LIST requests (one per page), successful or not.
    pub lists: u64,
    /// WATCH requests, streaming lists included.
    pub watches: u64,
    /// WATCH requests with `sendInitialEvents=true`.
    pub watch_lists: u64,
    /// GET requests of single objects.
    pub gets: u64,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `list`, `watch` or `get`.
    pub verb: &'static str,
    /// The URL path.
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
}

impl RequestRecord {
    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

pub(crate) struct Shared {
    pub(crate) db: Db,
    pub(crate) options: ServerOptions,
    resources: Vec<Arc<ResourceDef>>,
    lists: AtomicU64,
    watches: AtomicU64,
    watch_lists: AtomicU64,
    gets: AtomicU64,
    pub(crate) open_watches: AtomicU64,
    requests: Mutex<Vec<RequestRecord>>,
    pub(crate) bookmark_tx: tokio::sync::watch::Sender<u64>,
    watch_list_supported: AtomicBool,
    shard_selectors_supported: AtomicBool,
    strip_initial_events_end: AtomicBool,
    paginate_cached_lists: AtomicBool,
    forced_expiries: AtomicU32,
    forced_continue_expiries: AtomicU32,
    next_uid: AtomicU64,
    stopped: AtomicBool,
}

impl Shared {
    pub(crate) fn watch_list_supported(&self) -> bool {
        self.watch_list_supported.load(Ordering::SeqCst)
    }

    pub(crate) fn shard_selectors_supported(&self) -> bool {
        self.shard_selectors_supported.load(Ordering::SeqCst)
    }

    pub(crate) fn strip_initial_events_end(&self) -> bool {
        self.strip_initial_events_end.load(Ordering::SeqCst)
    }

    pub(crate) fn paginate_cached_lists(&self) -> bool {
        self.paginate_cached_lists.load(Ordering::SeqCst)
    }

    /// Consumes one forced 410, if any is pending.
    pub(crate) fn take_forced_expiry(&self) -> bool {
        self.forced_expiries.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// Consumes one forced continue-token expiry, if any is pending.
    pub(crate) fn take_forced_continue_expiry(&self) -> bool {
        self.forced_continue_expiries.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn resource_of_kind(&self, api_version: Option<&str>, kind: &str) -> Result<Arc<ResourceDef>, ApiError> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && api_version.is_none_or(|v| v == r.api_version()))
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("no resource of kind {kind:?} is served")))
    }
}

/// A running local API server. Stops (and ends its watches) on drop.
pub struct KubeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for KubeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApiServer").field("url", &self.url()).finish()
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.db.source.faults().drop_watches();
        self.task.abort();
    }
}

impl KubeApiServer {
    /// Starts a server with the default [`ServerOptions`] on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(ServerOptions::default()).await
    }

    /// Starts a server with `options`.
    pub async fn start_with(options: ServerOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (bookmark_tx, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            db: Db::new(options.history),
            resources: options.resources.iter().cloned().map(Arc::new).collect(),
            options,
            lists: AtomicU64::new(0),
            watches: AtomicU64::new(0),
            watch_lists: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            open_watches: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            bookmark_tx,
            watch_list_supported: AtomicBool::new(true),
            shard_selectors_supported: AtomicBool::new(true),
            strip_initial_events_end: AtomicBool::new(false),
            paginate_cached_lists: AtomicBool::new(false),
            forced_expiries: AtomicU32::new(0),
            forced_continue_expiries: AtomicU32::new(0),
            next_uid: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        });
        let router = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::warn!(%err, "local kube API server stopped");
            }
        });
        Ok(Self { shared, addr, task })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request counters now.
    pub fn counters(&self) -> ApiCounters {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        ApiCounters {
            lists: get(&self.shared.lists),
            watches: get(&self.shared.watches),
            watch_lists: get(&self.shared.watch_lists),
            gets: get(&self.shared.gets),
        }
    }

    /// Watches open now that receive changes (a fault like [`drop_watches`](Self::drop_watches)
    /// reaches exactly these).
    pub fn open_watches(&self) -> u64 {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Every list, watch and get request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.lock().clone()
    }

    /// The current revision (the newest resourceVersion).
    pub fn revision(&self) -> u64 {
        self.shared.db.revision()
    }

    fn target_of(&self, object: &Value) -> Result<(Arc<ResourceDef>, Option<String>, String), ApiError> {
        let kind = object["kind"].as_str().ok_or_else(|| ApiError::bad_request("object has no kind"))?;
        let resource = self.shared.resource_of_kind(object["apiVersion"].as_str(), kind)?;
        let name = object["metadata"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("metadata.name: Required value: name is required"))?
            .to_string();
        let namespace =
            resource.namespaced.then(|| object["metadata"]["namespace"].as_str().unwrap_or("default").to_string());
        Ok((resource, namespace, name))
    }

    fn write(&self, object: Value, mode: WriteMode) -> Result<Value, ApiError> {
        let (resource, namespace, name) = self.target_of(&object)?;
        let key = resource.store_key(namespace.as_deref(), &name);
        let uid = self.shared.next_uid.fetch_add(1, Ordering::SeqCst);
        self.shared.db.put(&key, object, |value, _revision, existing| {
            let plural = &resource.plural;
            match (mode, existing) {
                (WriteMode::Create, Some(_)) => {
                    return Err(ApiError {
                        code: 409,
                        reason: "AlreadyExists",
                        message: format!("{plural} \"{name}\" already exists"),
                        details: Some(json!({"name": name, "kind": plural})),
                    });
                }
                (WriteMode::Update, None) => return Err(ApiError::not_found(plural, &resource.group, &name)),
                (WriteMode::Update, Some(old)) => {
                    if let Some(asked) = value["metadata"]["resourceVersion"].as_str() {
                        let current: Value = serde_json::from_slice(&old.json).unwrap_or(Value::Null);
                        if current["metadata"]["resourceVersion"].as_str() != Some(asked) {
                            return Err(ApiError {
                                code: 409,
                                reason: "Conflict",
                                message: format!(
                                    "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; \
                                     please apply your changes to the latest version and try again"
                                ),
                                details: Some(json!({"name": name, "kind": plural})),
                            });
                        }
                    }
                }
                _ => {}
            }
            let meta = &mut value["metadata"];
            if let Some(ns) = &namespace {
                meta["namespace"] = json!(ns);
            }
            if meta["uid"].as_str().is_none() {
                meta["uid"] = json!(random_looking_uid(uid));
            }
            if meta["creationTimestamp"].as_str().is_none() {
                meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            Ok(())
        })
    }

    /// Creates an object (409 if it exists). Its `kind` / `apiVersion` pick the resource;
    /// namespaced objects without a namespace go to `default`. Returns the stored object,
    /// with its `metadata.resourceVersion`.
    pub fn create(&self, object: Value) -> Result<Value, ApiError> {
        self.write(object, WriteMode::Create)
    }

    /// Creates pods `indices` of `generator`, in order, straight into the store (Rust calls, no
    /// HTTP): how tests and benches load the server. Stops at the first refused pod.
    pub fn create_pods(&self, generator: &PodGenerator, indices: std::ops::Range<usize>) -> Result<(), ApiError> {
        indices.into_iter().try_for_each(|i| self.create(generator.pod(i)).map(drop))
    }

    /// Replaces an existing object (404 if missing; 409 if it names a stale
    /// `metadata.resourceVersion`; without one the update is unconditional).
    pub fn update(&self, object: Value) -> Result<Value, ApiError> {
        self.write(object, WriteMode::Update)
    }

    /// Creates or unconditionally replaces an object.
    pub fn apply(&self, object: Value) -> Result<Value, ApiError> {
        let mut object = object;
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        self.write(object, WriteMode::Apply)
    }

    /// Deletes an object of `kind`; returns the deletion's revision (404 if missing).
    pub fn delete(&self, kind: &str, namespace: Option<&str>, name: &str) -> Result<u64, ApiError> {
        let resource = self.shared.resource_of_kind(None, kind)?;
        let key = resource.store_key(namespace, name);
        self.shared
            .db
            .delete(&key)
            .map(|(revision, _)| revision)
            .ok_or_else(|| ApiError::not_found(&resource.plural, &resource.group, name))
    }

    /// The current state of one object.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = self.shared.resource_of_kind(None, kind).ok()?;
        let object = self.shared.db.source.get(&resource.store_key(namespace, name))?;
        serde_json::from_slice(&object.value().json).ok()
    }

    /// Every object of `kind` by its client-go key (`namespace/name`, or `name`), with its
    /// resourceVersion: what a synced informer store must hold.
    pub fn keys_and_versions(&self, kind: &str) -> BTreeMap<String, String> {
        let Ok(resource) = self.shared.resource_of_kind(None, kind) else { return BTreeMap::new() };
        let prefix = resource.store_prefix();
        self.shared
            .db
            .source
            .snapshot()
            .into_iter()
            .filter_map(|(key, object)| {
                let rest = key.strip_prefix(prefix.as_str())?.to_string();
                Some((rest, object.mod_revision().to_string()))
            })
            .collect()
    }

    /// Ends every open watch cleanly, as an API server restart or a load balancer does.
    /// Clients resume from their last version; no relist is needed.
    pub fn drop_watches(&self) {
        self.shared.db.source.faults().drop_watches();
    }

    /// The next `n` watch requests answer `200 OK` with one `ERROR` event carrying a
    /// `410 Expired` `Status` ("too old resource version"), then end.
    pub fn expire_next_watches(&self, n: u32) {
        self.shared.forced_expiries.store(n, Ordering::SeqCst);
    }

    /// The next `n` list requests that carry a `continue` token answer `410 Expired` ("The
    /// provided continue parameter is too old..."), as after a compaction, whatever their
    /// revision.
    pub fn expire_next_continues(&self, n: u32) {
        self.shared.forced_continue_expiries.store(n, Ordering::SeqCst);
    }

    /// Compacts the history at the current revision: watches, exact reads and continue
    /// tokens from older revisions answer 410 from now on. Open watches that are caught up go on.
    pub fn compact(&self) {
        self.shared.db.compact();
    }

    /// Turns streaming lists (`sendInitialEvents`) on or off. Off, such watches are refused
    /// with `422 Invalid` ("forbidden for watch unless the WatchList feature gate is
    /// enabled"), as servers without the feature do.
    pub fn set_watch_list_supported(&self, supported: bool) {
        self.shared.watch_list_supported.store(supported, Ordering::SeqCst);
    }

    /// Turns `shardSelector` (KEP-5866) on (default) or off. Off, the parameter is ignored and
    /// lists carry no `metadata.shardInfo`, as servers without the `ShardedListAndWatch`
    /// feature gate answer.
    pub fn set_shard_selectors_supported(&self, supported: bool) {
        self.shared.shard_selectors_supported.store(supported, Ordering::SeqCst);
    }

    /// `true`: streaming lists send their initial events but never the bookmark that ends them
    /// (`k8s.io/initial-events-end`), as a proxy or an aggregated API server that drops it
    /// does (kubernetes #140890); the watch then goes on with changes. Default `false`.
    pub fn set_strip_initial_events_end(&self, strip: bool) {
        self.shared.strip_initial_events_end.store(strip, Ordering::SeqCst);
    }

    /// `true` (default, Kubernetes 1.34+): `resourceVersion=0` lists honour `limit`. `false`:
    /// they ignore it and return everything in one page, as the watch cache did up to 1.33.
    pub fn set_paginate_cached_lists(&self, paginate: bool) {
        self.shared.paginate_cached_lists.store(paginate, Ordering::SeqCst);
    }

    /// Sends a bookmark on every open watch that allows them, as soon as it has processed
    /// every change made before this call.
    pub fn send_bookmarks(&self) {
        self.shared.bookmark_tx.send_modify(|n| *n += 1);
    }

    /// A kubeconfig (YAML) whose current context points at this server over plain HTTP, with
    /// namespace `default` and no credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::yaml(&self.url())
    }

    /// Writes [`kubeconfig_yaml`](Self::kubeconfig_yaml) to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }
}

/// The `n`th uid this server hands out, shaped like the real server's random version-4 UUIDs
/// and as spread out: shard selectors hash uids, and sequential ones would all hash into a
/// few ranges.
fn random_looking_uid(n: u64) -> String {
    use informer_core::shard::key_hash;
    let (a, b) = (key_hash(&n.to_le_bytes()), key_hash(&(!n).to_le_bytes()));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Create,
    Update,
    Apply,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if shared.stopped.load(Ordering::SeqCst) {
        let mut response =
            ApiError { code: 503, reason: "ServiceUnavailable", message: "server stopped".into(), details: None }
                .into_response();
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        return response;
    }
    if method != Method::GET {
        return ApiError::method_not_allowed(method.as_str()).into_response();
    }
    let path = uri.path();
    if let Some(response) = kubeconfig::discovery(path, &shared.resources) {
        return response;
    }
    let Some(target) = parse_path(path, &shared.resources) else {
        return resources::unknown_path_response(path, &shared.resources);
    };
    let is_list = target.name.is_none() && !matches!(query.get("watch").map(String::as_str), Some("true") | Some("1"));
    if let Some(latency) = shared.options.list_latency.filter(|_| is_list) {
        tokio::time::sleep(latency).await;
    }
    match serve(&shared, path, target, &query) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

fn serve(
    shared: &Arc<Shared>,
    path: &str,
    target: Target,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let is_watch = matches!(query.get("watch").map(String::as_str), Some("true") | Some("1"));
    let verb = match (&target.name, is_watch) {
        (Some(_), _) => "get",
        (None, true) => "watch",
        (None, false) => "list",
    };
    let counter = match verb {
        "get" => &shared.gets,
        "watch" => &shared.watches,
        _ => &shared.lists,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    if verb == "watch" && matches!(query.get("sendInitialEvents").map(String::as_str), Some("true")) {
        shared.watch_lists.fetch_add(1, Ordering::SeqCst);
    }
    shared.requests.lock().push(RequestRecord {
        verb,
        path: path.to_string(),
        query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    });
    if let Some(name) = &target.name {
        let key = target.resource.store_key(target.namespace.as_deref(), name);
        return match shared.db.source.get(&key) {
            Some(object) => Ok(status::json_response(object.value().json.to_vec())),
            None => Err(ApiError::not_found(&target.resource.plural, &target.resource.group, name)),
        };
    }
    let params = Params::parse(query, &target.resource, shared.shard_selectors_supported())?;
    if params.watch {
        let chunks = watch::watch(shared, target, params)?;
        let stream = futures::stream::unfold(chunks, |mut rx| async move {
            rx.recv().await.map(|line| (Ok::<_, std::convert::Infallible>(line), rx))
        });
        let mut response = Body::from_stream(stream).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        return Ok(response);
    }
    let chunks = list::list(shared, &target, &params)?;
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(response)
}

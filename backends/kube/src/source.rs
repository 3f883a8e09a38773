//! [`KubeSource`]: the `ListerWatcher` over one Kubernetes collection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use informer_core::{
    ListOptions, ListPage, ListerWatcher, ShardSelector, SourceError, Version, WatchOptions, WatchStream,
};
use kube::Client;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject};
use serde::de::DeserializeOwned;

use crate::codec::{Codec, Raw, Typed};
use crate::error::Verb;
use crate::raw::{RawObject, RawOptions};
use crate::request::{self, Selectors, Transform};
use crate::shard::{ShardField, check_echo, shard_selector_expression};

/// Lists and watches one Kubernetes collection (one kind, all namespaces or one) through a
/// `kube::Client`: a [`ListerWatcher`] for the informer reflector.
///
/// * `KubeSource<Pod>` (any `k8s_openapi` type): [`all`](Self::all),
///   [`namespaced`](Self::namespaced);
/// * `KubeSource<DynamicObject>` for kinds known at run time: [`dynamic`](KubeSource::dynamic);
/// * `KubeSource<RawObject>`, compact objects: [`raw`](KubeSource::raw).
///
/// Keys: [`key_fn`](crate::key_fn) (typed and dynamic) or `KeyFn::keyed()` ([`RawObject`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use informer_core::{Reflector, ReflectorConfig};
/// use informer_kube::{KubeSource, key_fn};
/// use informer_tests::MapStore;
/// use k8s_openapi::api::core::v1::Pod;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = informer_kube::default_client().await?; // kubeconfig or in-cluster
/// let source = KubeSource::<Pod>::namespaced(client, "shop")
///     .with_label_selector("app=checkout")
///     .strip_managed_fields();
/// let store = Arc::new(MapStore::new(key_fn::<Pod>()));
/// let reflector = Reflector::new(source, store.clone(), ReflectorConfig::default());
/// # Ok(()) }
/// ```
pub struct KubeSource<T> {
    client: Client,
    path: String,
    selectors: Selectors,
    codec: Arc<dyn Codec<T>>,
    transform: Transform<T>,
    read_ahead: bool,
    next_page: NextPage,
    /// A list answered under the shard selector echoed it: the server applies it.
    shard_confirmed: AtomicBool,
}

impl<T> Clone for KubeSource<T> {
    /// A source over the same collection with the same settings (a page read ahead for the
    /// original is not shared).
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            path: self.path.clone(),
            selectors: self.selectors.clone(),
            codec: Arc::clone(&self.codec),
            transform: self.transform.clone(),
            read_ahead: self.read_ahead,
            next_page: NextPage::default(),
            shard_confirmed: AtomicBool::new(false),
        }
    }
}

/// A list page requested before it was asked for: its URI and the task fetching its body.
struct ReadAhead {
    uri: String,
    task: tokio::task::JoinHandle<Result<Bytes, SourceError>>,
}

/// At most one page read ahead; aborted when it is not the one asked for, or when the source
/// is dropped.
#[derive(Default)]
struct NextPage(Mutex<Option<ReadAhead>>);

impl NextPage {
    /// The page read ahead for `uri`, if that is the one waiting; any other is aborted.
    fn take(&self, uri: &str) -> Option<ReadAhead> {
        let waiting = self.0.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        if waiting.uri == uri {
            Some(waiting)
        } else {
            tracing::debug!(read_ahead = %waiting.uri, asked = %uri, "a page read ahead was not asked for; dropped");
            waiting.task.abort();
            None
        }
    }

    fn put(&self, next: ReadAhead) {
        if let Some(old) = self.0.lock().unwrap_or_else(|e| e.into_inner()).replace(next) {
            old.task.abort();
        }
    }
}

impl Drop for NextPage {
    fn drop(&mut self) {
        if let Some(waiting) = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            waiting.task.abort();
        }
    }
}

/// List bodies at least this large are decoded on tokio's blocking pool.
const DECODE_OFF_WORKER_BYTES: usize = 256 * 1024;

/// One list request's body.
async fn fetch_list(client: &Client, source: &str, uri: &str) -> Result<Bytes, SourceError> {
    let response = request::get(client, source, Verb::List, uri).await?;
    response.into_body().collect_bytes().await.map_err(|e| {
        SourceError::transient(format!("{source}: list {uri}: reading the body failed: {e}")).with_source(e)
    })
}

impl<T> std::fmt::Debug for KubeSource<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSource").field("path", &self.path).field("selectors", &self.selectors).finish()
    }
}

impl<K> KubeSource<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Send + Sync + 'static,
{
    /// Every object of kind `K` in all namespaces (or the cluster-scoped kind).
    pub fn all(client: Client) -> Self {
        Self::with_codec(client, K::url_path(&(), None), Arc::new(Typed::<K>::new()))
    }

    /// The objects of kind `K` in one namespace.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::with_codec(client, K::url_path(&(), Some(namespace)), Arc::new(Typed::<K>::new()))
    }
}

impl KubeSource<DynamicObject> {
    /// Objects of a kind known at run time (e.g. a custom resource found by discovery), in
    /// one namespace or (`None`) all namespaces / cluster-scoped.
    pub fn dynamic(client: Client, resource: &ApiResource, namespace: Option<&str>) -> Self {
        Self::with_codec(client, DynamicObject::url_path(resource, namespace), Arc::new(Typed::<DynamicObject>::new()))
    }
}

impl KubeSource<RawObject> {
    /// Compact [`RawObject`]s of any kind, in one namespace or (`None`) all.
    /// `ApiResource::erase::<Pod>(&())` names a typed kind.
    pub fn raw(client: Client, resource: &ApiResource, namespace: Option<&str>, options: RawOptions) -> Self {
        Self::with_codec(client, DynamicObject::url_path(resource, namespace), Arc::new(Raw(options)))
    }
}

impl<K: Resource + Send + Sync + 'static> KubeSource<K> {
    /// Drops `metadata.managedFields` from every object before it reaches the store (often
    /// a third of an object's size, and rarely read by controllers).
    #[must_use]
    pub fn strip_managed_fields(self) -> Self {
        self.with_transform(|object: &mut K| object.meta_mut().managed_fields = None)
    }
}

impl<T: Send + Sync + 'static> KubeSource<T> {
    fn with_codec(client: Client, path: String, codec: Arc<dyn Codec<T>>) -> Self {
        Self {
            client,
            path,
            selectors: Selectors::default(),
            codec,
            transform: None,
            read_ahead: true,
            next_page: NextPage::default(),
            shard_confirmed: AtomicBool::new(false),
        }
    }

    /// Whether a paged list requests page N+1 as soon as page N has arrived, before page N is
    /// decoded (on by default). The server then prepares the next page while this process
    /// decodes the current one, which hides one round trip and the server's work per page.
    /// Costs: one page held in memory, and one request whose answer is dropped when a list is
    /// abandoned midway. The answer is the same either way: pages of one list are a snapshot
    /// at its first page's resourceVersion.
    ///
    /// ```no_run
    /// use informer_kube::KubeSource;
    /// use k8s_openapi::api::core::v1::Pod;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = informer_kube::default_client().await?;
    /// let source = KubeSource::<Pod>::all(client).with_read_ahead(false);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_read_ahead(mut self, read_ahead: bool) -> Self {
        self.read_ahead = read_ahead;
        self
    }

    /// Only objects matching this label selector (`app=web,tier!=db`), passed to the server.
    #[must_use]
    pub fn with_label_selector(mut self, selector: impl Into<String>) -> Self {
        self.selectors.labels = Some(selector.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// Only objects matching this field selector (`spec.nodeName=node-1`), passed to the server.
    #[must_use]
    pub fn with_field_selector(mut self, selector: impl Into<String>) -> Self {
        self.selectors.fields = Some(selector.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// Only the objects of one shard, filtered by the API server (KEP-5866, Kubernetes 1.36+
    /// with the alpha feature gate `ShardedListAndWatch`): every list, watch and streaming
    /// list carries `shardSelector=shardRange(object.metadata.uid, '0x…', '0x…') || …`, the
    /// FNV-1a 64 hash of `field` in one of the selector's ranges.
    ///
    /// The server reads and sends only the shard, unlike client-side sharding
    /// ([`informer_core::Sharded`]), where each shard reads the whole collection.
    ///
    /// A server without the gate ignores the parameter and answers everything. Lists under a
    /// shard selector must echo it (`metadata.shardInfo.selector`); one that does not fails
    /// with a [`Permanent`](informer_core::ErrorKind::Permanent) error saying the server does
    /// not support `shardSelector`, instead of mirroring the whole collection. A streaming list
    /// (which has no echo) is preceded, once per source, by a one-item list that checks it.
    ///
    /// ```no_run
    /// use informer_core::{ShardRange, ShardSelector};
    /// use informer_kube::{KubeSource, ShardField};
    /// use k8s_openapi::api::core::v1::Pod;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = informer_kube::default_client().await?;
    /// let halves = ShardRange::FULL.split(2)?;
    /// let first_half = KubeSource::<Pod>::all(client)
    ///     .with_shard_selector(ShardSelector::from(halves[0]), ShardField::Uid);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_shard_selector(mut self, selector: ShardSelector, field: ShardField) -> Self {
        self.selectors.shard = Some(shard_selector_expression(&selector, field));
        self.shard_confirmed = AtomicBool::new(false);
        self
    }

    /// Checks once, with a one-item list, that the server applies the shard selector (a
    /// streaming list cannot tell: it has no `shardInfo`).
    async fn confirm_shard_support(&self) -> Result<(), SourceError> {
        let Some(expected) = &self.selectors.shard else { return Ok(()) };
        if self.shard_confirmed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let options = ListOptions::first_page(Some(1)).with_consistent(true);
        let uri = self.uri(&request::list_query(&self.selectors, &options));
        let source = self.describe();
        let body = fetch_list(&self.client, &source, &uri).await?;
        let meta = crate::codec::list_meta(&body).ok_or_else(|| {
            SourceError::malformed(format!("{source}: list {uri}: the answer is not a list ({} bytes)", body.len()))
        })?;
        check_echo(&source, &uri, expected, meta.shard_info.as_ref().map(|i| i.selector.as_str()))?;
        self.shard_confirmed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Changes every object (listed or watched) before it reaches the store, e.g. to drop
    /// heavy fields. Runs after any transform set before.
    #[must_use]
    pub fn with_transform(mut self, transform: impl Fn(&mut T) + Send + Sync + 'static) -> Self {
        self.transform = Some(match self.transform.take() {
            Some(first) => Arc::new(move |o: &mut T| {
                first(o);
                transform(o);
            }),
            None => Arc::new(transform),
        });
        self
    }

    /// The collection's URL path, e.g. `/api/v1/namespaces/shop/pods`.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn uri(&self, query: &str) -> String {
        format!("{}?{query}", self.path)
    }

    async fn open_watch(&self, verb: Verb, query: String) -> Result<WatchStream<T>, SourceError> {
        let uri = self.uri(&query);
        let source = self.describe();
        let response = request::get(&self.client, &source, verb, &uri).await?;
        Ok(Box::pin(request::events(
            response,
            Arc::clone(&self.codec),
            self.transform.clone(),
            source.into(),
            verb,
            uri.into(),
        )))
    }
}

impl<T: Send + Sync + 'static> ListerWatcher for KubeSource<T> {
    type Object = T;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<T>, SourceError> {
        let uri = self.uri(&request::list_query(&self.selectors, options));
        let source = self.describe();
        let body = match self.next_page.take(&uri) {
            Some(ahead) => ahead.task.await.map_err(|e| {
                SourceError::transient(format!("{source}: list {uri}: the request sent ahead failed: {e}"))
            })??,
            None => fetch_list(&self.client, &source, &uri).await?,
        };
        if self.read_ahead
            && let Some(token) = crate::codec::list_continue_token(&body)
        {
            let next = request::list_query(&self.selectors, &options.clone().with_continue(Some(token)));
            let next_uri = self.uri(&next);
            let (client, source, task_uri) = (self.client.clone(), source.clone(), next_uri.clone());
            let task = tokio::spawn(async move { fetch_list(&client, &source, &task_uri).await });
            self.next_page.put(ReadAhead { uri: next_uri, task });
        }
        let (codec, transform) = (Arc::clone(&self.codec), self.transform.clone());
        let decode = move |body: Bytes| {
            let mut page = codec.list(&body);
            if let (Ok(page), Some(f)) = (&mut page, &transform) {
                page.items.iter_mut().for_each(|o| f(o));
            }
            (page, body.len())
        };
        // A large page takes tens of milliseconds to decode: off the async workers, so they
        // go on driving other tasks (the page read ahead among them).
        let (page, len) = if body.len() >= DECODE_OFF_WORKER_BYTES {
            tokio::task::spawn_blocking(move || decode(body))
                .await
                .map_err(|e| SourceError::transient(format!("{source}: list {uri}: the decoding task failed: {e}")))?
        } else {
            decode(body)
        };
        let page = page.map_err(|e| {
            SourceError::malformed(format!("{source}: list {uri}: undecodable body ({len} bytes): {e}")).with_source(e)
        })?;
        if let Some(expected) = &self.selectors.shard {
            check_echo(&source, &uri, expected, page.meta.shard_info.as_ref().map(|i| i.selector.as_str()))?;
            self.shard_confirmed.store(true, Ordering::Relaxed);
        }
        let version = page.meta.resource_version.filter(|v| !v.is_empty()).ok_or_else(|| {
            SourceError::malformed(format!("{source}: list {uri}: the list has no metadata.resourceVersion"))
        })?;
        Ok(ListPage {
            items: page.items,
            version: Version::from(version),
            continue_token: page.meta.continue_token.filter(|t| !t.is_empty()),
        })
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<T>, SourceError> {
        self.open_watch(Verb::Watch, request::watch_query(&self.selectors, version, options, false)).await
    }

    /// A streaming list: `sendInitialEvents=true&resourceVersionMatch=NotOlderThan`, from
    /// `min_version` or, without one, from a consistent read (`resourceVersion=""`), as
    /// client-go does. Servers that refuse it (400 / 422) answer
    /// [`ErrorKind::Unsupported`](informer_core::ErrorKind::Unsupported). Under a shard
    /// selector, the first one is preceded by a one-item list that checks the server applies it.
    async fn watch_list(
        &self,
        min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> Result<WatchStream<T>, SourceError> {
        self.confirm_shard_support().await?;
        let version = min_version.map_or("", |v| v.as_str());
        self.open_watch(Verb::WatchList, request::watch_query(&self.selectors, version, options, true)).await
    }

    /// resourceVersions are comparable as decimal integers since Kubernetes 1.35 (KEP-5504).
    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        Some(informer_core::VersionOrder::unsigned_decimal())
    }

    fn describe(&self) -> String {
        let mut text = format!("kube {}", self.path);
        if let Some(l) = &self.selectors.labels {
            text.push_str(&format!(" labels={l}"));
        }
        if let Some(f) = &self.selectors.fields {
            text.push_str(&format!(" fields={f}"));
        }
        if let Some(s) = &self.selectors.shard {
            text.push_str(&format!(" shardSelector={s}"));
        }
        text
    }
}

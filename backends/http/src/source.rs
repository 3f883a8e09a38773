//! [`HttpSource`]: the [`ListerWatcher`] over one HTTP collection endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use informer_core::{ListOptions, ListPage, ListerWatcher, ObjectKey, SourceError, Version, WatchOptions, WatchStream};
use parking_lot::Mutex;

use crate::client::{self, Fetched};
use crate::config::{ConfigError, HttpConfig, WatchMode};
use crate::item::HttpItem;
use crate::watch;

/// How many snapshots a snapshot-mode source remembers (one per recent list or poll answer),
/// so a few reflectors sharing one source, or a re-watch from a slightly older version, still
/// find the state to diff against.
const REMEMBERED_SNAPSHOTS: usize = 4;

/// The state of the collection at one version, as the snapshot differ's starting point.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) version: Version,
    pub(crate) items: Arc<BTreeMap<ObjectKey, HttpItem>>,
}

pub(crate) struct Inner {
    pub(crate) client: reqwest::Client,
    pub(crate) config: HttpConfig,
    pub(crate) name: String,
    snapshots: Mutex<VecDeque<Snapshot>>,
}

impl Inner {
    /// The request timeout for a poll the server holds for `wait`: the wait, Consul's jitter of
    /// up to wait/16, and the configured margin.
    pub(crate) fn held_timeout(&self, wait: Duration) -> Duration {
        wait + wait / 16 + self.config.request_margin
    }

    pub(crate) fn remember(&self, snapshot: Snapshot) {
        let mut snapshots = self.snapshots.lock();
        snapshots.retain(|s| s.version != snapshot.version);
        if snapshots.len() == REMEMBERED_SNAPSHOTS {
            snapshots.pop_front();
        }
        snapshots.push_back(snapshot);
    }

    fn snapshot_at(&self, version: &Version) -> Option<Snapshot> {
        self.snapshots.lock().iter().rev().find(|s| &s.version == version).cloned()
    }
}

/// A [`ListerWatcher`] of [`HttpItem`]s over an HTTP long-poll endpoint. Cheap to clone (the
/// clones share one connection pool and the remembered snapshots).
///
/// * `list` is one GET of the collection (no paging: the answer has everything), whose index
///   becomes the list's version.
/// * `watch` polls in the configured [`WatchMode`] until [`WatchOptions::timeout`] (or
///   forever), then ends cleanly. Polls that return no change are normal.
/// * In a snapshot mode the source remembers the items of its last few list and poll answers
///   keyed by version, and `watch(v)` diffs the next answer against the snapshot of `v`. If it
///   does not remember `v` (a process restart, a foreign version), the watch fails as expired
///   and the reflector relists. This costs a second copy of the collection in memory.
///
/// ```no_run
/// use std::sync::Arc;
/// use informer_core::{KeyFn, Reflector, ReflectorConfig, CancellationToken};
/// use informer_http::{HttpSource, presets};
/// use informer_tests::MapStore;
///
/// # #[tokio::main] async fn main() {
/// let config = presets::consul_kv("http://127.0.0.1:8500", "app/").unwrap()
///     .with_header("X-Consul-Token", "secret").unwrap();
/// let source = HttpSource::new(config).unwrap();
/// let store = Arc::new(MapStore::new(KeyFn::keyed()));
/// let reflector = Reflector::new(source, store.clone(), ReflectorConfig::default());
/// tokio::spawn(reflector.run(CancellationToken::new()));
/// # }
/// ```
#[derive(Clone)]
pub struct HttpSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource").field("config", &self.inner.config).finish()
    }
}

impl HttpSource {
    /// A source with its own HTTP client (rustls with ring, platform certificate verifier).
    pub fn new(config: HttpConfig) -> Result<Self, ConfigError> {
        let client = client::build_client(client::client_builder()?, &config)?;
        Ok(Self::with_client(config, client))
    }

    /// Like [`new`](Self::new), with the CA certificates in `ca_pem` (PEM) trusted besides
    /// the platform's roots ([`client_builder_with_extra_roots`](crate::client_builder_with_extra_roots)).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use informer_http::{HttpSource, ItemsFormat, presets};
    /// let items = ItemsFormat::pointers("/items", "/id");
    /// let config = presets::etag_poll("https://config.internal/items", items, std::time::Duration::from_secs(5))?;
    /// let source = HttpSource::with_extra_roots(config, &std::fs::read("/etc/my-ca/ca.crt")?)?;
    /// # let _ = source; Ok(()) }
    /// ```
    pub fn with_extra_roots(config: HttpConfig, ca_pem: &[u8]) -> Result<Self, ConfigError> {
        let client = client::build_client(client::client_builder_with_extra_roots(ca_pem)?, &config)?;
        Ok(Self::with_client(config, client))
    }

    /// A source that uses the given client (custom roots, client certificates, proxies). The
    /// per-request timeout is still set from the configuration.
    pub fn with_client(config: HttpConfig, client: reqwest::Client) -> Self {
        let name = config.name.clone().unwrap_or_else(|| format!("http {}", config.url()));
        Self { inner: Arc::new(Inner { client, config, name, snapshots: Mutex::new(VecDeque::new()) }) }
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }
}

impl ListerWatcher for HttpSource {
    type Object = HttpItem;

    async fn list(&self, _options: &ListOptions) -> Result<ListPage<HttpItem>, SourceError> {
        let inner = &self.inner;
        let config = &inner.config;
        let timeout = config.connect_timeout + config.request_margin + config.wait;
        let (answer, empty) = match client::get(&inner.client, config, true, &[], None, timeout, false).await? {
            Fetched::Answer(a) => (a, false),
            Fetched::Empty(a) => (a, true),
            Fetched::NotModified | Fetched::TimedOut => {
                return Err(SourceError::malformed(format!(
                    "{}: the list answered 304 Not Modified to a request without If-None-Match",
                    inner.name
                )));
            }
        };
        let version = config.index.read(&answer)?;
        let items = if empty { Vec::new() } else { config.items.decode(&answer)? };
        if config.watch.is_snapshot() {
            let map = items.iter().map(|i| (i.key.clone(), i.clone())).collect();
            inner.remember(Snapshot { version: version.clone(), items: Arc::new(map) });
        }
        Ok(ListPage { items, version, continue_token: None })
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<HttpItem>, SourceError> {
        let inner = Arc::clone(&self.inner);
        match &inner.config.watch {
            WatchMode::EventFeed(_) => Ok(watch::feed_stream(inner, version.clone(), options)),
            WatchMode::BlockingSnapshot { .. } | WatchMode::ETagSnapshot { .. } => {
                let Some(snapshot) = inner.snapshot_at(version) else {
                    return Err(SourceError::expired(format!(
                        "{}: no snapshot of version {version} is remembered to diff against; list again",
                        inner.name
                    )));
                };
                Ok(watch::snapshot_stream(inner, snapshot, options))
            }
        }
    }

    /// An index read from a header (Consul's `X-Consul-Index`, etcd v2's `X-Etcd-Index`) is a
    /// counter; an ETag or a body pointer has no declared order.
    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        match self.inner.config.index {
            crate::format::IndexFrom::Header(_) => Some(informer_core::VersionOrder::unsigned_decimal()),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        self.inner.name.clone()
    }
}

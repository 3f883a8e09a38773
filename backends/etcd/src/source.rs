//! [`EtcdSource`]: the [`ListerWatcher`] over an etcd key range.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use etcd_client::proto::PbKeyValue;
use etcd_client::{Client, KvClient, MaintenanceClient, WatchClient};
use informer_core::{ListOptions, ListPage, ListerWatcher, SourceError, Version, WatchOptions, WatchStream};

use crate::codec::{Codec, DecodeError};
use crate::config::{DecodeFailurePolicy, EtcdConfig};
use crate::error::EtcdError;
use crate::key::{KeyRange, object_key};
use crate::object::EtcdKeyValue;

/// A [`ListerWatcher`] that mirrors every key of an etcd [`KeyRange`], decoding values with a
/// [`Codec`].
///
/// * **list**: a paged range read at one revision. The first page is a linearizable read (or
///   serializable, see [`EtcdConfig::serializable_reads`]) and its header revision is the
///   list's version; later pages are pinned to it. See [`crate::continue_token`] for the token.
/// * **watch** from version `v`: an etcd watch from revision `v + 1` with previous values (for
///   deletes) and progress notifications as bookmarks. A compacted start revision is
///   [`Expired`](informer_core::ErrorKind::Expired) (the reflector relists); a broken stream is
///   [`Transient`](informer_core::ErrorKind::Transient) (it resumes from the last revision).
///
/// # Errors
///
/// | etcd answer | kind | reflector does |
/// | --- | --- | --- |
/// | `OutOfRange` "required revision has been compacted" (list page, watch) | `Expired` | relist |
/// | watch `canceled` with `compact_revision` | `Expired` | relist (never resumes at `compact_revision`) |
/// | `OutOfRange` "required revision is a future revision" | `Expired` | consistent relist |
/// | `OutOfRange` "message length too large" (the client's decode limit) | `Permanent` | backs off; raise the limit |
/// | `Unavailable`, `DeadlineExceeded`, `Cancelled`, `Aborted`, `ResourceExhausted`, transport errors, a broken or cancelled watch stream | `Transient` | backs off, resumes from the last revision |
/// | `Unauthenticated`, `PermissionDenied`, `InvalidArgument` | `Permanent` | backs off |
///
/// `OutOfRange` is classified by its message, not by the code alone: etcd uses it for
/// compaction and future revisions, tonic for oversized messages.
///
/// Cheap to clone: clones share the connection and the counters.
///
/// ```no_run
/// use std::sync::Arc;
/// use informer_core::{KeyFn, Reflector, ReflectorConfig};
/// use informer_etcd::{EtcdConfig, EtcdSource, KeyRange, TextCodec};
/// use informer_tests::MapStore;
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = EtcdConfig::new(["127.0.0.1:2379"], KeyRange::prefix("/app/"));
/// let source = EtcdSource::connect(config, TextCodec).await?;
/// let store = Arc::new(MapStore::new(KeyFn::keyed()));
/// let reflector = Reflector::new(source.clone(), store.clone(), ReflectorConfig::default());
/// let handle = reflector.handle();
/// tokio::spawn(reflector.run(CancellationToken::new()));
/// handle.wait_synced().await;
/// println!("{} keys, {} undecodable", store.len(), source.decode_failures());
/// # Ok(()) }
/// ```
pub struct EtcdSource<C: Codec> {
    pub(crate) inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for EtcdSource<C> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

pub(crate) struct Inner<C> {
    pub(crate) kv: KvClient,
    pub(crate) watch: WatchClient,
    pub(crate) maintenance: MaintenanceClient,
    pub(crate) codec: C,
    pub(crate) config: EtcdConfig,
    pub(crate) name: String,
    decode_failures: AtomicU64,
    last_decode_failure: Mutex<Option<String>>,
    /// When the server's version was last checked, and whether requested progress is safe.
    pub(crate) progress_safe: Mutex<Option<(tokio::time::Instant, bool)>>,
}

/// A value the codec could not decode.
pub(crate) struct ValueError {
    pub(crate) key: Vec<u8>,
    pub(crate) revision: i64,
    pub(crate) reason: DecodeError,
}

impl<C: Codec> EtcdSource<C> {
    /// Connects to the configured endpoints. Without credentials this does not wait for a
    /// server (connections are made on first use, and an unavailable etcd is a transient error
    /// of the list or watch); with a user it authenticates and fails if that fails.
    pub async fn connect(config: EtcdConfig, codec: C) -> Result<Self, EtcdError> {
        if config.endpoints.is_empty() {
            return Err(EtcdError::NoEndpoints { range: config.range.to_string() });
        }
        let client = Client::connect(&config.endpoints, Some(config.connect_options()))
            .await
            .map_err(|source| EtcdError::Connect { endpoints: config.endpoints_for_display(), source })?;
        Ok(Self::from_client(&client, config, codec))
    }

    /// A source on an existing client; `config.endpoints` is used only in descriptions and
    /// its connection settings are ignored (they belong to the client).
    pub fn from_client(client: &Client, config: EtcdConfig, codec: C) -> Self {
        let name = format!("etcd {} {}", config.endpoints_for_display().join(","), config.range);
        let limit = config.max_decoding_message_size;
        Self {
            inner: Arc::new(Inner {
                kv: client.kv_client().max_decoding_message_size(limit),
                watch: client.watch_client().max_decoding_message_size(limit),
                maintenance: client.maintenance_client(),
                codec,
                config,
                name,
                decode_failures: AtomicU64::new(0),
                last_decode_failure: Mutex::new(None),
                progress_safe: Mutex::new(None),
            }),
        }
    }

    /// How many times a value was skipped because the codec could not decode it
    /// ([`DecodeFailurePolicy::Skip`]); a value seen again (by a relist) counts again.
    pub fn decode_failures(&self) -> u64 {
        self.inner.decode_failures.load(Ordering::Relaxed)
    }

    /// The message of the last skipped value (key, revision and the codec's reason).
    pub fn last_decode_failure(&self) -> Option<String> {
        self.inner.last_decode_failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key range mirrored.
    pub fn range(&self) -> &KeyRange {
        &self.inner.config.range
    }
}

impl<C: Codec> Inner<C> {
    /// Decodes one key-value pair.
    pub(crate) fn decode(&self, kv: PbKeyValue) -> Result<EtcdKeyValue<C::Value>, ValueError> {
        let PbKeyValue { key, create_revision, mod_revision, version, value, lease } = kv;
        match self.codec.decode(value) {
            Ok(value) => Ok(EtcdKeyValue {
                key: object_key(&key),
                raw_key: key,
                value,
                create_revision,
                mod_revision,
                version,
                lease,
            }),
            Err(reason) => Err(ValueError { key, revision: mod_revision, reason }),
        }
    }

    /// Applies the decode-failure policy: `Ok` if the value is to be skipped.
    pub(crate) fn value_failed(&self, err: ValueError) -> Result<(), SourceError> {
        let message = format!(
            "{}: value of key {:?} at revision {} is not valid {}: {}",
            self.name,
            object_key(&err.key),
            err.revision,
            self.codec.name(),
            err.reason
        );
        match self.config.decode_failures {
            DecodeFailurePolicy::Fail => Err(SourceError::malformed(message).with_source(err.reason)),
            DecodeFailurePolicy::Skip => {
                self.decode_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %self.name, "{message}; skipped");
                *self.last_decode_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                Ok(())
            }
        }
    }
}

impl<C: Codec> fmt::Debug for EtcdSource<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdSource")
            .field("config", &self.inner.config)
            .field("codec", &self.inner.codec.name())
            .field("decode_failures", &self.decode_failures())
            .finish()
    }
}

impl<C: Codec> ListerWatcher for EtcdSource<C> {
    type Object = EtcdKeyValue<C::Value>;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Self::Object>, SourceError> {
        crate::list::list(&self.inner, options).await
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<Self::Object>, SourceError> {
        crate::watch::watch(Arc::clone(&self.inner), version, options).await
    }

    /// etcd revisions are counters.
    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        Some(informer_core::VersionOrder::unsigned_decimal())
    }

    fn describe(&self) -> String {
        self.inner.name.clone()
    }
}

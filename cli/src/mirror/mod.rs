//! [`run_mirrors`]: the one code path every backend shares.
//!
//! ```text
//!  source ─► CountingSource ─► Reflector ─► MirrorStore ─┬─► sorted mirror ─► snapshot writer
//!            (progress)                     (--events)   └─► Indexer (--index, --query)
//!                      handle + counters ─► metrics server, progress display
//! ```
//!
//! A backend only supplies a [`ListerWatcher`](informer_core::ListerWatcher) and an [`ObjectAdapter`] (how to key an
//! object, render it as JSON, and read its version), as a [`MirrorSource`]; everything else is
//! here. Several SOURCEs run side by side, each through its own copy of the pipeline above,
//! sharing the process, the signal handler, the metrics endpoint, the progress display and the
//! snapshot file.

mod counting;
pub mod index;
mod run;
mod source;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use informer_core::{KeyFn, ReflectorError, Version};
use serde_json::Value;

pub use counting::{CountingSource, ListProgress};
pub use index::{JsonIndex, pointer_values};
pub use run::{Shutdown, run_mirror, run_mirrors};
pub use source::MirrorSource;
pub use store::MirrorStore;

use crate::args::{IndexSpec, QuerySpec};

type JsonFn<T> = dyn Fn(&T) -> Value + Send + Sync;
type VersionFn<T> = dyn Fn(&T) -> Option<Version> + Send + Sync;
type FromJsonFn<T> = dyn Fn(&str, &str) -> Result<T, String> + Send + Sync;
type RawJsonFn<T> = dyn for<'a> Fn(&'a T) -> &'a [u8] + Send + Sync;

/// How the command sees one backend's objects: their key, their JSON form (for snapshots,
/// indexes and `--events`), and their version.
///
/// ```
/// use informer_cli::mirror::ObjectAdapter;
/// use informer_core::{KeyFn, ObjectKey, Version};
/// let adapter = ObjectAdapter::new(KeyFn::new(|s: &String| Ok(ObjectKey::new(s))), |s: &String| s.len().into())
///     .with_version(|s: &String| Some(Version::new(s)));
/// assert_eq!(adapter.to_json(&"abc".to_string()), serde_json::json!(3));
/// ```
pub struct ObjectAdapter<T> {
    /// The key function.
    pub key: KeyFn<T>,
    to_json: Arc<JsonFn<T>>,
    version: Option<Arc<VersionFn<T>>>,
    from_json: Option<Arc<FromJsonFn<T>>>,
    raw_json: Option<Arc<RawJsonFn<T>>>,
}

impl<T> Clone for ObjectAdapter<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            to_json: Arc::clone(&self.to_json),
            version: self.version.clone(),
            from_json: self.from_json.clone(),
            raw_json: self.raw_json.clone(),
        }
    }
}

impl<T> ObjectAdapter<T> {
    /// An adapter from a key function and a JSON rendering.
    pub fn new(key: KeyFn<T>, to_json: impl Fn(&T) -> Value + Send + Sync + 'static) -> Self {
        Self { key, to_json: Arc::new(to_json), version: None, from_json: None, raw_json: None }
    }

    /// Reads an object back from its snapshot form (key and JSON text), for `--resume`; the
    /// error says what is wrong with the item. The text is handed over as it stands in the file,
    /// so a backend that keeps objects as JSON bytes does not parse them twice.
    #[must_use]
    pub fn with_from_json(
        mut self,
        from_json: impl Fn(&str, &str) -> Result<T, String> + Send + Sync + 'static,
    ) -> Self {
        self.from_json = Some(Arc::new(from_json));
        self
    }

    /// How to read an object back from its snapshot item (key, JSON text), for `--resume`;
    /// `None` if this adapter cannot.
    pub fn reader(&self) -> Option<&FromJsonFn<T>> {
        self.from_json.as_deref()
    }

    /// Reads each object's version (its last change), shown in `--events` lines.
    #[must_use]
    pub fn with_version(mut self, version: impl Fn(&T) -> Option<Version> + Send + Sync + 'static) -> Self {
        self.version = Some(Arc::new(version));
        self
    }

    /// Says where objects keep their JSON as compact bytes (the same JSON value `to_json`
    /// gives): snapshots then copy those bytes instead of building and serializing a tree.
    #[must_use]
    pub fn with_raw_json(mut self, raw_json: impl for<'a> Fn(&'a T) -> &'a [u8] + Send + Sync + 'static) -> Self {
        self.raw_json = Some(Arc::new(raw_json));
        self
    }

    /// The object as JSON.
    pub fn to_json(&self, object: &T) -> Value {
        (self.to_json)(object)
    }

    /// Writes the object's JSON to `out`: its raw bytes where the adapter knows them, else
    /// [`to_json`](Self::to_json) serialized.
    pub fn write_json<W: std::io::Write + ?Sized>(&self, out: &mut W, object: &T) -> std::io::Result<()> {
        match &self.raw_json {
            Some(raw) => out.write_all(raw(object)),
            None => serde_json::to_writer(out, &self.to_json(object)).map_err(std::io::Error::from),
        }
    }

    /// The object's version, if the adapter knows how to read one.
    pub fn version(&self, object: &T) -> Option<Version> {
        self.version.as_ref().and_then(|f| f(object))
    }

    /// True if two states of one object are the same: equal versions when both have one,
    /// else equal JSON.
    pub fn same(&self, a: &T, b: &T) -> bool {
        match (self.version(a), self.version(b)) {
            (Some(x), Some(y)) => x == y,
            _ => self.to_json(a) == self.to_json(b),
        }
    }
}

impl<T> std::fmt::Debug for ObjectAdapter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectAdapter").field("has_version", &self.version.is_some()).finish()
    }
}

/// Everything `run_mirror` needs besides the source; built from the command line.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// The SOURCE as given, written into snapshots, for [`run_mirror`] (one SOURCE); a
    /// [`MirrorSource`] of [`run_mirrors`] carries its own.
    pub source: String,
    /// Exit after the initial sync, writing the snapshot.
    pub once: bool,
    /// The snapshot file, if any.
    pub snapshot: Option<PathBuf>,
    /// Minimum time between two snapshot writes.
    pub snapshot_interval: Duration,
    /// Print event lines.
    pub events: bool,
    /// Indexes to build.
    pub indexes: Vec<IndexSpec>,
    /// Queries to answer after the initial sync.
    pub queries: Vec<QuerySpec>,
    /// Where to serve metrics.
    pub metrics: Option<SocketAddr>,
    /// The reflector's configuration (page size, resync, backoff).
    pub reflector: informer_core::ReflectorConfig,
    /// Start from the snapshot file (`--resume`) instead of listing.
    pub resume: bool,
}

impl MirrorOptions {
    /// Options that mirror `source` until a signal, with no output but the mirror itself:
    /// no snapshot file, no events, no indexes, no metrics, the default reflector settings,
    /// snapshots at most every 200 ms.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            once: false,
            snapshot: None,
            snapshot_interval: Duration::from_millis(200),
            events: false,
            indexes: Vec::new(),
            queries: Vec::new(),
            metrics: None,
            reflector: informer_core::ReflectorConfig::default(),
            resume: false,
        }
    }
}

/// How many attempts in a row a `--once` run makes before a permanent failure (401, 403,
/// 404, an invalid request) ends it with exit code 1. A long-running mirror keeps retrying.
pub const ONCE_PERMANENT_ATTEMPTS: u32 = 3;

/// Why `informer mirror` failed; [`MirrorError::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// Bad arguments or an unreadable SOURCE (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The reflector gave up after `--max-retries` consecutive failures (exit code 1).
    #[error(transparent)]
    GaveUp(#[from] ReflectorError),
    /// A `--once` run met a permanent failure (unauthorized, forbidden, not found, invalid)
    /// [`ONCE_PERMANENT_ATTEMPTS`] times in a row (exit code 1); the message names the reason.
    #[error("not synced: {0}")]
    NotSynced(informer_core::SyncFailure),
    /// The snapshot could not be written (exit code 1).
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Anything else that failed while running (exit code 1).
    #[error("{0}")]
    Runtime(String),
}

impl MirrorError {
    /// 2 for usage errors, 1 for failures at run time.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}

//! The source side: what a backend implements so a [`Reflector`](crate::Reflector) can mirror it.
//!
//! A [`ListerWatcher`] answers two questions about a remote collection:
//!
//! * **list**: "what is in the collection?", one page at a time, every page of one list
//!   describing the collection at the same [`Version`];
//! * **watch**: "what changed after version *v*?", as a stream of [`WatchEvent`]s.
//!
//! Failures are [`SourceError`]s whose [`ErrorKind`] tells the reflector what to do next:
//! relist ([`ErrorKind::Expired`]), retry after backoff ([`ErrorKind::Transient`],
//! [`ErrorKind::Malformed`]), or fall back to list+watch ([`ErrorKind::Unsupported`]).
//!
//! # Why native `async fn` in traits
//!
//! The trait methods return `impl Future + Send` (stable since Rust 1.75) instead of using
//! `#[async_trait]`: no heap allocation per call, no macro in the public signature, and the
//! `Send` bound is written out once here so implementors cannot forget it. The price is that
//! `dyn ListerWatcher` is not possible; programs that choose a backend at run time (the CLI)
//! monomorphise one reflector per backend instead, which is also faster.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::stream::BoxStream;

use crate::key::Version;
use crate::order::VersionOrder;
use crate::reason::SyncFailureKind;

/// Options of one list request (one page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// At most this many items in the page; `None` asks for everything at once.
    pub limit: Option<u32>,
    /// The continue token of the previous page of the same list; `None` for the first page.
    pub continue_token: Option<String>,
    /// The newest version the caller has already seen. A backend must not answer with an
    /// older state than this ("not older than"); `None` on the very first list, where the
    /// backend may answer from a cache.
    pub min_version: Option<Version>,
    /// Ask for a consistent (quorum) read of the newest state instead of a possibly cached
    /// one. The reflector sets it after the backend said `min_version` is unavailable.
    pub consistent: bool,
}

impl ListOptions {
    /// Options for a first page of `limit` items.
    ///
    /// ```
    /// let opts = informer_core::ListOptions::first_page(Some(500));
    /// assert_eq!(opts.limit, Some(500));
    /// assert!(opts.continue_token.is_none());
    /// ```
    pub fn first_page(limit: Option<u32>) -> Self {
        Self { limit, ..Self::default() }
    }

    /// Sets the continue token (builder style).
    #[must_use]
    pub fn with_continue(mut self, token: Option<String>) -> Self {
        self.continue_token = token;
        self
    }

    /// Sets the not-older-than version (builder style).
    #[must_use]
    pub fn with_min_version(mut self, version: Option<Version>) -> Self {
        self.min_version = version;
        self
    }

    /// Asks for a consistent read (builder style).
    #[must_use]
    pub fn with_consistent(mut self, consistent: bool) -> Self {
        self.consistent = consistent;
        self
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<T> {
    /// The objects of this page.
    pub items: Vec<T>,
    /// The version of the collection this list describes. Every page of one list carries the
    /// same version; the reflector uses the one of the last page.
    pub version: Version,
    /// The token for the next page, or `None` when this is the last page.
    pub continue_token: Option<String>,
}

/// Options of a watch request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Ask the server to end the watch after this long (Kubernetes `timeoutSeconds`). The
    /// reflector jitters it so that many clients do not reconnect in lockstep.
    pub timeout: Option<Duration>,
    /// Ask the server for bookmark events.
    pub bookmarks: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self { timeout: None, bookmarks: true }
    }
}

/// A bookmark: the collection reached `version` and nothing the watcher should see changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark {
    /// The version to resume from.
    pub version: Version,
    /// True on the bookmark that ends the initial events of a streaming list
    /// (Kubernetes annotation `k8s.io/initial-events-end`).
    pub initial_events_end: bool,
}

/// One change seen by a watch.
///
/// `version` is the version of the collection right after the change; it is where a watch
/// resumes. For `Deleted`, `object` is the last known state of the deleted object.
///
/// Several changes made at one version (an etcd transaction) carry the same version, follow
/// each other, and are delivered together: the stream has all of them ready once it yields
/// the first. The reflector applies them as one batch ([`Store::apply_batch`](crate::Store::apply_batch)).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    /// An object was created.
    Added {
        /// The new object.
        object: T,
        /// The collection's version after the change.
        version: Version,
    },
    /// An object changed.
    Modified {
        /// The new state.
        object: T,
        /// The collection's version after the change.
        version: Version,
    },
    /// An object was deleted.
    Deleted {
        /// The last known state of the object.
        object: T,
        /// The collection's version after the change.
        version: Version,
    },
    /// The collection reached a version; no object changed.
    Bookmark(Bookmark),
}

impl<T> WatchEvent<T> {
    /// The version this event moves the watcher to.
    ///
    /// ```
    /// use informer_core::{Bookmark, Version, WatchEvent};
    /// let e: WatchEvent<()> = WatchEvent::Bookmark(Bookmark {
    ///     version: Version::from("9"),
    ///     initial_events_end: false,
    /// });
    /// assert_eq!(e.version(), "9");
    /// ```
    pub fn version(&self) -> &Version {
        match self {
            Self::Added { version, .. } | Self::Modified { version, .. } | Self::Deleted { version, .. } => version,
            Self::Bookmark(b) => &b.version,
        }
    }

    /// The event's type as a short upper-case name (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Added { .. } => "ADDED",
            Self::Modified { .. } => "MODIFIED",
            Self::Deleted { .. } => "DELETED",
            Self::Bookmark(_) => "BOOKMARK",
        }
    }
}

/// A stream of watch events, as returned by [`ListerWatcher::watch`].
///
/// The stream ends cleanly when the server closes the watch (timeout, restart); an `Err` item
/// says why it broke. After an `Err` the reflector drops the stream.
pub type WatchStream<T> = BoxStream<'static, Result<WatchEvent<T>, SourceError>>;

/// What kind of failure a [`SourceError`] is; it decides the reflector's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The version asked for is no longer available (Kubernetes `410 Gone`, etcd compaction,
    /// an expired continue token) or is newer than the server has ("too large resource
    /// version"). The reflector lists again.
    Expired,
    /// The connection broke, timed out, or the server answered 5xx / unavailable. The
    /// reflector retries from the same version after backoff.
    Transient,
    /// The server's answer could not be understood (bad JSON, a missing field). Treated like
    /// transient, but reported separately: retrying rarely fixes it.
    Malformed,
    /// The server does not support the request (e.g. streaming lists). The reflector falls
    /// back to a plain list + watch.
    Unsupported,
    /// The request can never succeed as configured (unauthorized, forbidden, unknown
    /// resource). The reflector still retries with backoff, since credentials can be rotated
    /// and resources installed, unless a retry limit is configured.
    Permanent,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => "expired",
            Self::Transient => "transient",
            Self::Malformed => "malformed",
            Self::Unsupported => "unsupported",
            Self::Permanent => "permanent",
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a [`ListerWatcher`]: its [`ErrorKind`], a message that names the source and
/// what was involved (URL, key, version), and the underlying error if any.
///
/// ```
/// use informer_core::{ErrorKind, SourceError};
/// let err = SourceError::expired("watch from revision 5: compacted at 9");
/// assert_eq!(err.kind(), ErrorKind::Expired);
/// assert!(err.to_string().contains("compacted at 9"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind} error: {message}")]
pub struct SourceError {
    kind: ErrorKind,
    message: String,
    reason: Option<SyncFailureKind>,
    #[source]
    source: Option<BoxError>,
}

impl SourceError {
    /// An error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), reason: None, source: None }
    }

    /// The version asked for is gone (or too new): relist.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Expired, message)
    }

    /// A failure worth retrying after backoff.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// An answer that could not be understood.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    /// The server does not support what was asked.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// A failure that configuration, not time, must fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// Attaches the underlying error (builder style).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Says why the request failed, in the backend's own terms mapped to a
    /// [`SyncFailureKind`] (builder style): a 403 is [`SyncFailureKind::Forbidden`].
    ///
    /// ```
    /// use informer_core::{SourceError, SyncFailureKind};
    /// let err = SourceError::permanent("kube https://127.0.0.1:6443 v1/pods: list answered 403")
    ///     .with_reason(SyncFailureKind::Forbidden);
    /// assert_eq!(err.reason(), SyncFailureKind::Forbidden);
    /// assert_eq!(SourceError::transient("reset").reason(), SyncFailureKind::Unavailable);
    /// ```
    #[must_use]
    pub fn with_reason(mut self, reason: SyncFailureKind) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Why the request failed: the reason the backend set, else the default of its kind
    /// ([`SyncFailureKind::of_kind`]).
    pub fn reason(&self) -> SyncFailureKind {
        self.reason.unwrap_or_else(|| SyncFailureKind::of_kind(self.kind))
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True if the reflector must list again.
    pub fn is_expired(&self) -> bool {
        self.kind == ErrorKind::Expired
    }
}

/// A source of a collection that can be listed and watched (client-go's `ListerWatcher`).
///
/// # Contract
///
/// * All pages of one list (first page, then each `continue_token`) describe the collection at
///   the same version, which every page reports. A list never answers with a state older than
///   [`ListOptions::min_version`].
/// * `watch(v)` delivers, in order, every change made after version `v`, each with the
///   version right after it; then possibly bookmarks. If changes after `v` are no longer
///   available the watch fails with [`ErrorKind::Expired`] (either from `watch` itself or as
///   the stream's first item).
/// * The changes of one version share it and are ready in the stream together (one server
///   response). A stream that cannot deliver all of a version's changes delivers none of them
///   (it fails before the first), so a watch resumed from the last version seen never misses
///   the rest of a version.
/// * A watch stream may end at any time; the caller resumes with `watch(last version seen)`.
/// * Errors carry an [`ErrorKind`] and a message naming the source and the request.
///
/// # Example
///
/// A source with one fixed object that never changes:
///
/// ```
/// use futures::stream;
/// use informer_core::{ListOptions, ListPage, ListerWatcher, SourceError, Version,
///     WatchOptions, WatchStream};
///
/// struct One;
///
/// impl ListerWatcher for One {
///     type Object = String;
///
///     async fn list(&self, _: &ListOptions) -> Result<ListPage<String>, SourceError> {
///         Ok(ListPage { items: vec!["hello".into()], version: Version::from("1"),
///                       continue_token: None })
///     }
///
///     async fn watch(&self, _: &Version, _: &WatchOptions)
///         -> Result<WatchStream<String>, SourceError> {
///         Ok(Box::pin(stream::pending()))
///     }
///
///     fn describe(&self) -> String { "one".into() }
/// }
/// ```
pub trait ListerWatcher: Send + Sync + 'static {
    /// The objects of the collection, as the backend decodes them.
    type Object: Send + Sync + 'static;

    /// Reads one page of the collection.
    fn list(&self, options: &ListOptions) -> impl Future<Output = Result<ListPage<Self::Object>, SourceError>> + Send;

    /// Watches the changes after `version`.
    fn watch(
        &self,
        version: &Version,
        options: &WatchOptions,
    ) -> impl Future<Output = Result<WatchStream<Self::Object>, SourceError>> + Send;

    /// A streaming list (Kubernetes `sendInitialEvents=true`): a watch that first sends every
    /// current object as `Added`, then a [`Bookmark`] with `initial_events_end`, then changes.
    ///
    /// `min_version` has the meaning of [`ListOptions::min_version`]. The default answers
    /// [`ErrorKind::Unsupported`], which makes the reflector use list + watch.
    fn watch_list(
        &self,
        min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> impl Future<Output = Result<WatchStream<Self::Object>, SourceError>> + Send {
        let _ = (min_version, options);
        async { Err(SourceError::unsupported(format!("{}: streaming lists are not supported", self.describe()))) }
    }

    /// The order of this source's versions, if it defines one (etcd revisions, Consul
    /// indexes, Kubernetes resourceVersions since 1.35): it makes
    /// [`ReflectorHandle::wait_for_version`](crate::ReflectorHandle::wait_for_version) work.
    /// The default is `None`: versions are opaque and core never compares them.
    fn version_order(&self) -> Option<VersionOrder> {
        None
    }

    /// A short description of the source for logs and errors, e.g. `etcd 127.0.0.1:2379 /app/`.
    /// Must not contain credentials.
    fn describe(&self) -> String;
}

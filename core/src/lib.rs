//! # informer-core
//!
//! The backend-agnostic heart of `informer`: a [`Reflector`] lists a remote collection once,
//! then watches it and applies every change to a [`Store`], so programs read a local,
//! always-current mirror instead of asking the server again.
//!
//! ```text
//!  server ──► ListerWatcher ──► Reflector ──► Store
//!             (a backend)       (this crate)  (informer-stores, or your own)
//! ```
//!
//! This crate knows no backend and no store implementation. It defines:
//!
//! * the model: [`ObjectKey`], [`Version`] (opaque), [`KeyFn`] / [`Keyed`];
//! * the source side: [`ListerWatcher`], [`ListPage`], [`WatchEvent`], [`SourceError`] with
//!   an [`ErrorKind`] that separates *expired* from *transient*;
//! * the store side: the [`Store`] trait and its contract;
//! * the [`Reflector`] with its [`ReflectorConfig`], [`Backoff`], and a [`ReflectorHandle`]
//!   for readiness, the last synced version and counters ([`MetricsSnapshot`]);
//! * the names of the metrics a reflector records through the `metrics` facade: [`telemetry`];
//! * shards: the hash ranges a mirror keeps ([`shard`]: [`ShardRange`], [`ShardSelector`]) and
//!   [`Sharded`], which keeps one shard of any source on the client side.

pub mod key;
pub mod order;
pub mod reason;
pub mod reflector;
pub mod shard;
mod sharded;
pub mod source;
pub mod store;
pub mod telemetry;

pub use key::{KeyError, KeyFn, Keyed, ObjectKey, Version};
pub use order::{CompareVersions, VersionOrder};
pub use reason::SyncFailureKind;
pub use reflector::{
    Backoff, BackoffConfig, InitialList, MetricsSnapshot, Reflector, ReflectorConfig, ReflectorError, ReflectorHandle,
    SyncFailure, SyncState, VersionWaitError,
};
pub use shard::{ShardError, ShardRange, ShardSelector};
pub use sharded::{ShardCounts, Sharded};
pub use source::{
    Bookmark, ErrorKind, ListOptions, ListPage, ListerWatcher, SourceError, WatchEvent, WatchOptions, WatchStream,
};
pub use store::{Change, Store, StoreError, apply_each};
pub use tokio_util::sync::CancellationToken;

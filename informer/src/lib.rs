//! # informer
//!
//! Keep a local, always-current mirror of a remote collection, and read it without asking the
//! server again: the idea of Kubernetes client-go's `tools/cache`, done in Rust and not tied to
//! Kubernetes. This crate is the one to depend on; it re-exports the pieces below.
//!
//! ## The data's way
//!
//! ```text
//!  server ──► ListerWatcher ──► Reflector ──► Store ─┬─► Indexer   (reads: get, list, by_index)
//!  (kube,     (a backend)                     (trait)├─► DeltaFifo (pop → your handler)
//!   etcd,                                            ├─► Undelta   (push whole state)
//!   http,                                            └─► any stack: Tee, Transform, Filter, ...
//!   memory)
//! ```
//!
//! A backend turns its server's protocol into list pages and a stream of [`WatchEvent`]s; the
//! [`Reflector`] lists once, then watches and applies every change to a [`Store`]; stores never
//! talk to the network. Data flows one way.
//!
//! ## Ten lines
//!
//! ```
//! use std::sync::Arc;
//! use informer::{CancellationToken, Indexer, KeyFn, Reflector, ReflectorConfig, Store};
//! use informer::memory::MemorySource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = MemorySource::<String>::new();          // or EtcdSource, KubeSource, HttpSource
//! source.put("greeting", "hello".to_string());
//! let store = Arc::new(Indexer::new(KeyFn::keyed()));  // or Cache, DeltaFifo, a stack, ...
//! let reflector = Reflector::new(source.clone(), store.clone(), ReflectorConfig::default());
//! let handle = reflector.handle();
//! let cancel = CancellationToken::new();
//! tokio::spawn(reflector.run(cancel.clone()));
//! handle.wait_synced().await;                          // the store mirrors the source now
//! assert_eq!(store.get_by_key("greeting").map(|o| o.value().to_string()), Some("hello".into()));
//! cancel.cancel();
//! # }
//! ```
//!
//! ## Where each concept lives
//!
//! | concept | here | defined in |
//! | --- | --- | --- |
//! | keys, opaque versions, key functions | [`ObjectKey`], [`Version`], [`KeyFn`], [`Keyed`] | `informer-core` |
//! | the source side | [`ListerWatcher`], [`ListPage`], [`WatchEvent`], [`SourceError`], [`ErrorKind`] | `informer-core` |
//! | the store contract | [`Store`], [`Change`], [`StoreError`] | `informer-core` |
//! | list + watch + resume + relist + backoff | [`Reflector`], [`ReflectorConfig`], [`ReflectorHandle`], [`Backoff`] | `informer-core` |
//! | plain and indexed caches | [`Cache`], [`Indexer`], [`IndexFn`], [`Indexers`] | `informer-stores` |
//! | queues a controller pops from | [`Fifo`], [`DeltaFifo`], [`WorkQueue`] | `informer-stores` |
//! | whole-state push, store stacks | [`Undelta`], [`Tee`], [`Transform`], [`Filter`], [`StoreExt`] | `informer-stores` |
//! | reflector → queue → indexer → handlers | [`Informer`], [`InformerConfig`] | `informer-stores` |
//! | in-process source (feature `memory`, default) | `informer::memory` | `informer-memory` |
//! | Kubernetes (feature `kube`) | `informer::kube` | `informer-kube` |
//! | etcd v3 (feature `etcd`) | `informer::etcd` | `informer-etcd` |
//! | HTTP long-poll, etcd v2, Consul (feature `http`) | `informer::http` | `informer-http` |
//! | lease-owned shards over etcd, and Kubernetes Leases with `kube` (feature `shards`) | `informer::shards` | `informer-shards` |
//! | every metric name, its type and labels | [`telemetry`] | each crate records through `metrics` |
//!
//! ## Features
//!
//! `memory` (default), `kube`, `etcd`, `http`: each adds its backend as a module of the same
//! name. `shards` adds `informer::shards` (etcd leases; with `kube` also `KubeLeases`). Core
//! and stores are always there.

pub use informer_core::*;
pub use informer_stores::*;

pub mod telemetry;

#[cfg(feature = "memory")]
#[doc(inline)]
pub use informer_memory as memory;

#[cfg(feature = "kube")]
#[doc(inline)]
pub use informer_kube as kube;

#[cfg(feature = "etcd")]
#[doc(inline)]
pub use informer_etcd as etcd;

#[cfg(feature = "http")]
#[doc(inline)]
pub use informer_http as http;

#[cfg(feature = "shards")]
#[doc(inline)]
pub use informer_shards as shards;

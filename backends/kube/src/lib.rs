//! # informer-kube
//!
//! The Kubernetes backend of `informer`: a [`ListerWatcher`](informer_core::ListerWatcher)
//! over the [`kube`] client, so a [`Reflector`](informer_core::Reflector) can mirror any
//! Kubernetes collection into a store.
//!
//! * [`KubeSource`] for typed `k8s_openapi` objects, [`DynamicObject`](kube::api::DynamicObject)s
//!   (kinds known at run time), and compact [`RawObject`]s (JSON bytes plus the fields stores
//!   need, decoded on read);
//! * cluster-wide or one namespace, label and field selectors, server-side shards
//!   ([`KubeSource::with_shard_selector`], KEP-5866);
//! * keys like client-go's `MetaNamespaceKeyFunc`: [`key_fn`], [`meta_namespace_key`];
//! * a transform hook ([`KubeSource::with_transform`], [`KubeSource::strip_managed_fields`]);
//! * clients from kubeconfig or in-cluster configuration, as `kube` builds them
//!   ([`default_client`], [`client_from_kubeconfig`]), or any `kube::Client` you already have.
//!
//! # Protocol
//!
//! * **List** in pages (`limit` / `continue`). The first list reads "any" version
//!   (`resourceVersion=0&resourceVersionMatch=NotOlderThan`, served from the API server's
//!   watch cache); for a consistent (quorum) first read set
//!   [`ReflectorConfig::with_consistent_first_list`](informer_core::ReflectorConfig::with_consistent_first_list).
//!   A relist asks for "not older than" the last version seen, so the store never goes back
//!   in time (kubernetes #59848); only after the server answers 410 Gone or "too large
//!   resource version" does the reflector ask for a consistent read (kubernetes #107133). An
//!   expired continue token (410) restarts the list. Page N+1 is requested as soon as page N
//!   arrives, while page N is decoded ([`KubeSource::with_read_ahead`]), and pages of 256 KiB
//!   or more are decoded on tokio's blocking pool, not on an async worker.
//! * **Watch** with `allowWatchBookmarks=true`, resuming from the last version seen, with
//!   `timeoutSeconds` from [`WatchOptions::timeout`](informer_core::WatchOptions) (jittered by
//!   the reflector). An `ERROR` event with a 410 `Status`, or HTTP 410, is *expired*; see
//!   [Errors](#errors) for every other answer.
//! * **Streaming list** (`sendInitialEvents=true&resourceVersionMatch=NotOlderThan`), ending at
//!   the bookmark annotated `k8s.io/initial-events-end`; a server that rejects it answers
//!   *unsupported* and the reflector falls back to list + watch.
//!
//! # Errors
//!
//! What each answer of the API server means to the reflector
//! ([`ErrorKind`](informer_core::ErrorKind)):
//!
//! | answer | kind | why |
//! | --- | --- | --- |
//! | 410 Gone (HTTP, or a watch `ERROR` event): expired resourceVersion or continue token | Expired | the version is gone; relist |
//! | 504 with cause `ResourceVersionTooLarge` ("Too large resource version") | Expired | the server is behind the version asked; the reflector then lists with a consistent read (kubernetes #107133) |
//! | 400 / 422 to a streaming list | Unsupported | the server rejects `sendInitialEvents`; fall back to list + watch |
//! | 401, 403, 404 | Permanent | wrong credentials, missing RBAC rights, or a kind (CRD) or path that does not exist: only a configuration change fixes it; the reflector still retries with backoff, since credentials rotate and CRDs get installed |
//! | 400 / 422 to a list or watch | Permanent | the request itself is invalid (e.g. a malformed selector) |
//! | 429, 5xx, other codes, connection failures | Transient | retry after backoff |
//! | a body that is not the JSON expected | Malformed | |
//! | a list under a shard selector without `metadata.shardInfo` (the server lacks `ShardedListAndWatch`) | Permanent | the server would answer the whole collection; see [`KubeSource::with_shard_selector`] |
//!
//! Clients built by [`default_client`] and [`client_from_kubeconfig`] turn off the `kube`
//! client's own retry layer (which retries 429 / 503 / 504 up to 15 times): the reflector
//! backs off itself, and a "too large resource version" 504 must reach it at once.
//!
//! # Kubernetes API version
//!
//! `k8s-openapi` needs exactly one Kubernetes version feature in a build. This crate enables
//! `latest` (Kubernetes 1.37 with `k8s-openapi` 0.29, the version `kube` 5 pairs with). A
//! program that enables another version feature of the same `k8s-openapi` must not also get
//! `latest` from here; in that case depend on a fork of this crate's manifest with that feature.

mod client;
mod codec;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod raw;
mod request;
mod shard;
mod source;

pub use client::{ClientError, client_from_kubeconfig, default_client};
pub use codec::INITIAL_EVENTS_END;
pub use key::{key_fn, meta_namespace_key};
pub use raw::{RawError, RawObject, RawOptions};
pub use shard::{ShardField, shard_selector_expression};
pub use source::KubeSource;

/// Re-exports of the `kube` and `k8s-openapi` crates this backend is built on.
pub use {k8s_openapi, kube};

//! # informer-http
//!
//! An `informer` backend for HTTP **long-poll** sources: servers where a client sends the last
//! index it saw and the server holds the request until something changes or a wait time
//! passes. [`HttpSource`] turns such an endpoint into a [`ListerWatcher`] of [`HttpItem`]s
//! (a key, an optional version, a JSON value), so a
//! [`Reflector`](informer_core::Reflector) can keep a local mirror of it.
//!
//! ## Two ways servers report changes
//!
//! * **Event feed** ([`WatchMode::EventFeed`]): each answer is the next change(s) after a
//!   cursor: etcd v2 `?wait=true&waitIndex=`, CouchDB `_changes?feed=longpoll&since=`. The
//!   backend turns each answer into events and moves the cursor.
//! * **Snapshot** ([`WatchMode::BlockingSnapshot`], [`WatchMode::ETagSnapshot`]): each answer
//!   is the whole collection again once it changed: Consul blocking queries (`?index=&wait=`),
//!   `If-None-Match` polling with `304 Not Modified`. The backend diffs each answer against the
//!   previous one into `Added`/`Modified`/`Deleted`. The first watch after a list diffs
//!   against that list: the source remembers the items of its last few answers keyed by
//!   version (see [`HttpSource`]).
//!
//! ## Index rules
//!
//! * An index that goes backwards (a reset server, Consul's rule) and a server's "index too
//!   old" answer (etcd v2 HTTP 400 `errorCode` 401) are [`ErrorKind::Expired`]: relist.
//! * A wait that ends with no change is normal: the watch polls again, and ends cleanly at
//!   [`WatchOptions::timeout`](informer_core::WatchOptions). Request timeouts are the wait plus
//!   1/16 plus a margin; for servers that hold without a limit (etcd v2) the client ends the
//!   poll after the wait and that is "no change" too.
//! * 5xx, 408, 429, connection failures and timeouts are [`ErrorKind::Transient`] (the
//!   reflector backs off); other 4xx are [`ErrorKind::Permanent`]; bodies that are not JSON,
//!   a missing index header or a JSON pointer that matches nothing are
//!   [`ErrorKind::Malformed`], naming the URL and what was missing.
//! * Headers (auth tokens) are sensitive: never logged, never in `Debug` or errors.
//!
//! ## Presets
//!
//! [`presets::etcd_v2_keys`], [`presets::consul_kv`], [`presets::etag_poll`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use informer_core::{CancellationToken, KeyFn, Reflector, ReflectorConfig};
//! use informer_http::{HttpSource, presets};
//! use informer_tests::MapStore;
//!
//! # #[tokio::main] async fn main() {
//! let source = HttpSource::new(presets::etcd_v2_keys("http://127.0.0.1:2379", "/app").unwrap()).unwrap();
//! let store = Arc::new(MapStore::new(KeyFn::keyed()));
//! let reflector = Reflector::new(source, store.clone(), ReflectorConfig::default());
//! let handle = reflector.handle();
//! tokio::spawn(reflector.run(CancellationToken::new()));
//! handle.wait_synced().await;
//! println!("{} keys", store.len());
//! # }
//! ```
//!
//! [`ListerWatcher`]: informer_core::ListerWatcher
//! [`ErrorKind::Expired`]: informer_core::ErrorKind::Expired
//! [`ErrorKind::Transient`]: informer_core::ErrorKind::Transient
//! [`ErrorKind::Permanent`]: informer_core::ErrorKind::Permanent
//! [`ErrorKind::Malformed`]: informer_core::ErrorKind::Malformed

mod answer;
mod client;
mod config;
mod format;
mod item;
pub mod presets;
mod source;
mod watch;

pub use answer::Answer;
pub use client::{client_builder, client_builder_with_extra_roots};
pub use config::{
    ConfigError, CursorFn, EventFeed, FeedBatch, FeedDecoder, HttpConfig, RateLimit, WaitFormat, WaitParam, WatchMode,
};
pub use format::{IndexFrom, ItemPointers, ItemsDecoder, ItemsFormat, StatusRule, Verdict};
pub use item::HttpItem;
pub use source::HttpSource;

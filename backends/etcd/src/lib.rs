//! # informer-etcd
//!
//! Mirror an etcd v3 key prefix (or key range) into an `informer` store: [`EtcdSource`] is a
//! [`ListerWatcher`](informer_core::ListerWatcher) over [`etcd-client`](etcd_client), and a
//! [`Reflector`](informer_core::Reflector) keeps any [`Store`](informer_core::Store) equal to
//! the keys under the prefix, through disconnects, restarts and compactions.
//!
//! ## How it maps etcd onto list + watch
//!
//! * **List** = a paged range read at *one* revision: the first page's header revision is the
//!   list's version, later pages are pinned to it with `revision` and start at the last key
//!   plus `\0` (like etcd's own `clientv3/mirror` syncer). Reads are linearizable by default,
//!   so a list is never older than anything seen before. The continue token is documented in
//!   [`continue_token`].
//! * **Watch** from version `v` = an etcd watch from revision `v + 1` with previous values (so
//!   a delete carries the key's last state) and progress notifications as bookmarks. A watch
//!   that etcd cancels because its start revision was compacted is *expired* (the reflector
//!   relists; it never resumes at the compaction revision); a broken or cancelled stream, or
//!   an unavailable endpoint, is *transient* (it resumes from the last revision). Events of one
//!   transaction carry its revision and arrive in one response, so the reflector applies them
//!   as one batch, and a watch that breaks inside a transaction replays it whole. How every
//!   etcd answer maps to an error kind is tabled on [`EtcdSource`].
//! * **Objects** are [`EtcdKeyValue<V>`]: the key (lossless string form, see
//!   [`key_to_string`], plus raw bytes), the value decoded by a [`Codec`] ([`RawCodec`],
//!   [`TextCodec`], [`JsonCodec`]) and etcd's revisions.
//! * **Connection**: several endpoints, HTTP/2 keep-alive also while idle (a dead or paused
//!   server is noticed within seconds), a raised response size limit, user/password auth and
//!   TLS (feature `tls`, on by default): see [`EtcdConfig`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use informer_core::{KeyFn, Reflector, ReflectorConfig};
//! use informer_etcd::{EtcdConfig, EtcdSource, JsonCodec, KeyRange};
//! use informer_tests::MapStore;
//! use tokio_util::sync::CancellationToken;
//!
//! #[derive(serde::Deserialize)]
//! struct Service { port: u16 }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = EtcdConfig::new(["127.0.0.1:2379"], KeyRange::prefix("/services/"));
//! let source = EtcdSource::connect(config, JsonCodec::<Service>::new()).await?;
//! let store = Arc::new(MapStore::new(KeyFn::keyed()));
//! let reflector = Reflector::new(source, store.clone(), ReflectorConfig::default());
//! let handle = reflector.handle();
//! tokio::spawn(reflector.run(CancellationToken::new()));
//! handle.wait_synced().await;
//! if let Some(web) = store.snapshot().get("/services/web") {
//!     println!("web listens on {}", web.value.port);
//! }
//! # Ok(()) }
//! ```

mod codec;
mod config;
pub mod continue_token;
mod error;
mod events;
mod key;
mod list;
mod object;
pub mod sink;
mod source;
mod watch;

pub use codec::{Codec, DecodeError, JsonCodec, RawCodec, TextCodec};
pub use config::{DecodeFailurePolicy, EtcdConfig};
pub use error::EtcdError;
/// The etcd client crate, re-exported for [`EtcdSource::from_client`] and TLS options.
pub use etcd_client;
pub use key::{KeyFormatError, KeyRange, key_to_bytes, key_to_string, object_key};
pub use object::EtcdKeyValue;
pub use sink::{EtcdSink, MirrorState, RawKeyValue, SinkConfig, SinkError, SinkStats, default_state_key};
pub use source::EtcdSource;

//! WATCH: newline-delimited JSON events over a chunked response.
//!
//! * `resourceVersion` unset or `"0"` (without `sendInitialEvents`): synthetic `ADDED` events
//!   for the current objects, then changes (the documented "get state and start at most
//!   recent" / "start at any").
//! * `resourceVersion=N`: every change after N; if N was compacted away, the response is
//!   `200 OK` with a single `ERROR` event carrying a `410 Expired` `Status`, as the watch
//!   cache does.
//! * `sendInitialEvents=true` (with `resourceVersionMatch=NotOlderThan`): `ADDED` events for
//!   the state at a revision not older than N (rv unset: the newest), then a `BOOKMARK` whose
//!   object carries the annotation `k8s.io/initial-events-end: "true"`, then changes.
//! * `allowWatchBookmarks=true`: `BOOKMARK` events every
//!   [`ServerOptions::bookmark_interval`](super::ServerOptions::bookmark_interval) and on
//!   [`KubeApiServer::send_bookmarks`](super::KubeApiServer::send_bookmarks). A bookmark's
//!   version is the newest revision this watch has processed (of any kind, as revisions are
//!   global), never one whose events it has not sent yet. The real server sends them about
//!   once a minute; the interval is a test convenience.
//! * `timeoutSeconds`: the response ends cleanly after that long (no bookmark first: a guess;
//!   newer servers may send one shortly before the end).
//! * Modifications that move an object into or out of the label/field selector are sent as
//!   `ADDED` / `DELETED`, like the watch cache's filtering does.
//! * `DELETED` objects carry the resourceVersion of the deletion.
//! * `shardSelector` filters events like the other selectors (an object's uid and namespace
//!   never change, so it never moves in or out of a shard).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use informer_core::{ListerWatcher, Version, WatchEvent, WatchOptions};
use serde_json::json;
use tokio::sync::mpsc;

use super::Shared;
use super::db::Stored;
use super::params::{Params, parse_revision};
use super::resources::Target;
use super::shards::ShardFilter;
use super::status::ApiError;

/// The chunks of a watch response.
pub(crate) type Chunks = mpsc::Receiver<Bytes>;

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn error_line(err: &ApiError) -> Bytes {
    event_line("ERROR", &serde_json::to_vec(&err.to_status()).unwrap_or_default())
}

struct Watcher {
    shared: Arc<Shared>,
    target: Target,
    params: Params,
    shard: Option<ShardFilter>,
    tx: mpsc::Sender<Bytes>,
    /// The newest revision processed (sent or filtered out).
    processed: u64,
}

impl Watcher {
    fn matches(&self, stored: &Stored) -> bool {
        self.params.labels.matches(&stored.labels)
            && self.params.fields.matches(&stored.fields)
            && self.shard.as_ref().is_none_or(|s| s.matches(stored))
    }

    async fn send(&self, line: Bytes) -> bool {
        self.tx.send(line).await.is_ok()
    }

    async fn bookmark(&self, initial_events_end: bool) -> bool {
        let resource = &self.target.resource;
        let mut metadata = json!({"resourceVersion": self.processed.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata});
        self.send(event_line("BOOKMARK", &serde_json::to_vec(&object).unwrap_or_default())).await
    }

    /// Sends the state at the newest revision as ADDED events; returns that revision. The
    /// events are produced one at a time, so a large collection is never copied whole.
    async fn initial_events(&mut self) -> Result<u64, ApiError> {
        let view = self.shared.db.view(None, ApiError::too_old)?;
        let prefix = self.target.scan_prefix();
        self.processed = view.revision;
        for (_, stored) in view.range(&prefix, &prefix) {
            if self.matches(stored) && !self.send(event_line("ADDED", &stored.json)).await {
                break;
            }
        }
        Ok(view.revision)
    }

    async fn run(mut self, from: u64, initial: bool, send_initial_end: bool) {
        let from = if initial {
            match self.initial_events().await {
                Ok(rev) => rev,
                Err(err) => {
                    self.send(error_line(&err)).await;
                    return;
                }
            }
        } else {
            self.processed = from;
            from
        };
        if send_initial_end && !self.shared.strip_initial_events_end() && !self.bookmark(true).await {
            return;
        }
        let mut options = WatchOptions::default();
        options.bookmarks = false;
        let mut stream = match self.shared.db.source.watch(&Version::new(from.to_string()), &options).await {
            Ok(stream) => stream,
            Err(_) => {
                self.send(error_line(&ApiError::too_old(from, self.shared.db.oldest() + 1))).await;
                return;
            }
        };
        let _open = OpenWatch::new(&self.shared);
        let mut bookmark_rx = self.shared.bookmark_tx.subscribe();
        let interval = self.shared.options.bookmark_interval.filter(|_| self.params.allow_bookmarks);
        let deadline = self.params.timeout_seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut ticker = interval.map(|i| tokio::time::interval_at(tokio::time::Instant::now() + i, i));
        // A bookmark was asked for; send it once every change up to this revision is processed.
        let mut bookmark_due: Option<u64> = None;
        let prefix = self.target.scan_prefix();
        loop {
            if let Some(due) = bookmark_due
                && self.processed >= due
            {
                bookmark_due = None;
                if !self.bookmark(false).await {
                    return;
                }
            }
            let tick = async {
                match ticker.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let until_deadline = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = until_deadline => return,
                _ = self.tx.closed() => return,
                changed = bookmark_rx.changed() => {
                    if changed.is_ok() && self.params.allow_bookmarks {
                        bookmark_due = Some(self.shared.db.revision());
                    }
                }
                _ = tick => bookmark_due = Some(self.shared.db.revision()),
                next = stream.next() => {
                    let event = match next {
                        None => return,
                        Some(Err(err)) => {
                            if err.is_expired() {
                                self.send(error_line(&ApiError::too_old(self.processed, self.shared.db.oldest() + 1))).await;
                            }
                            return;
                        }
                        Some(Ok(event)) => event,
                    };
                    let revision = event.version().parse::<u64>().unwrap_or(self.processed);
                    let line = match &event {
                        WatchEvent::Added { object, .. } if object.object_key().starts_with(prefix.as_str()) => {
                            self.matches(object.value()).then(|| event_line("ADDED", &object.value().json))
                        }
                        WatchEvent::Modified { object, .. } if object.object_key().starts_with(prefix.as_str()) => {
                            let now = self.matches(object.value());
                            let before = match self.shared.db.before(revision) {
                                Some(Some(prev)) => self.matches(&prev),
                                Some(None) => false,
                                None => now,
                            };
                            match (before, now) {
                                (true, true) => Some(event_line("MODIFIED", &object.value().json)),
                                (false, true) => Some(event_line("ADDED", &object.value().json)),
                                (true, false) => Some(event_line("DELETED", &object.value().json)),
                                (false, false) => None,
                            }
                        }
                        WatchEvent::Deleted { object, .. } if object.object_key().starts_with(prefix.as_str()) => {
                            self.matches(object.value()).then(|| event_line("DELETED", &object.value().json_at(revision)))
                        }
                        _ => None,
                    };
                    self.processed = revision;
                    if let Some(line) = line && !self.send(line).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Counts a watch as open from when it receives changes until it ends.
struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.open_watches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Starts serving one WATCH request; returns the response chunks.
pub(crate) fn watch(shared: &Arc<Shared>, target: Target, params: Params) -> Result<Chunks, ApiError> {
    params.validate_watch(shared.watch_list_supported())?;
    let shard = params.shard_filter()?;
    let send_initial = params.send_initial_events == Some(true);
    let (tx, rx) = mpsc::channel(256);
    if shared.take_forced_expiry() {
        let asked = params.resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or(0);
        let line = error_line(&ApiError::too_old(asked, shared.db.revision()));
        // The channel has room for one line; the receiver is not polled yet.
        let _ = tx.try_send(line);
        return Ok(rx);
    }
    let (from, initial) = match params.resource_version.as_deref() {
        None | Some("0") if params.send_initial_events == Some(false) => (shared.db.revision(), false),
        None | Some("0") => (0, true),
        Some(rv) => {
            let asked = parse_revision(rv)?;
            if send_initial {
                let current = shared.db.revision();
                if asked > current {
                    return Err(ApiError::too_large(asked, current));
                }
                (asked, true)
            } else {
                let oldest = shared.db.oldest();
                if asked < oldest {
                    let _ = tx.try_send(error_line(&ApiError::too_old(asked, oldest + 1)));
                    return Ok(rx);
                }
                (asked, false)
            }
        }
    };
    let watcher = Watcher { shared: Arc::clone(shared), target, params, shard, tx, processed: from };
    tokio::spawn(watcher.run(from, initial, send_initial));
    Ok(rx)
}

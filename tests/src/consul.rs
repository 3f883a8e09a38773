//! A local server with Consul's KV blocking-query semantics, for tests of long-poll clients.
//!
//! Implements what Consul documents for `GET /v1/kv/<key>`:
//!
//! * `X-Consul-Index` on every answer: for a key or prefix, the highest `ModifyIndex` of the
//!   matching entries or of a deletion under it (Consul keeps tombstones for that), so a write
//!   elsewhere does not wake a query;
//! * `?recurse` lists every entry under the prefix; without it, the one key. No match: 404
//!   (still with `X-Consul-Index`);
//! * `?index=N&wait=D`: a blocking query, held until the index passes `N` or `D` passes
//!   (default 5 minutes, at most 10, plus up to `D/16` of jitter), then answered with the
//!   current state, changed or not;
//! * entries as `{"Key","Value"(base64 or null),"Flags","CreateIndex","ModifyIndex","LockIndex"}`;
//! * `PUT /v1/kv/<key>` (body = value) and `DELETE /v1/kv/<key>[?recurse]`, answering `true`.
//!
//! [`ConsulServer::reset`] simulates a restored snapshot or a new cluster: the data is replaced
//! and the index restarts lower, so `X-Consul-Index` goes backwards, which clients must treat
//! as "start over".
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! let consul = informer_tests::consul::ConsulServer::start().await.unwrap();
//! consul.put("app/a", "hello");
//! println!("GET {}/v1/kv/app/?recurse=true", consul.url());
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use parking_lot::Mutex;

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    /// The raw value.
    pub value: Vec<u8>,
    /// Opaque client flags.
    pub flags: u64,
    /// The index that created the key.
    pub create_index: u64,
    /// The index of the last change.
    pub modify_index: u64,
}

#[derive(Debug, Default)]
struct Data {
    index: u64,
    entries: BTreeMap<String, KvEntry>,
    /// Key → index of its deletion.
    tombstones: BTreeMap<String, u64>,
}

impl Data {
    fn prefix_index(&self, prefix: &str, recurse: bool) -> u64 {
        let matches = |k: &String| if recurse { k.starts_with(prefix) } else { k == prefix };
        let live = self.entries.iter().filter(|(k, _)| matches(k)).map(|(_, e)| e.modify_index).max();
        let dead = self.tombstones.iter().filter(|(k, _)| matches(k)).map(|(_, i)| *i).max();
        // Consul never answers index 0 for a table that has seen writes; the table index
        // stands in when nothing under the prefix ever existed.
        live.max(dead).unwrap_or(self.index)
    }
}

struct Shared {
    data: Mutex<Data>,
    changed: tokio::sync::watch::Sender<u64>,
    requests: AtomicU64,
    blocking_requests: AtomicU64,
}

impl Shared {
    fn put(&self, key: &str, value: &[u8]) -> u64 {
        let index = {
            let mut data = self.data.lock();
            data.index += 1;
            let index = data.index;
            let create_index = data.entries.get(key).map_or(index, |e| e.create_index);
            let entry = KvEntry { value: value.to_vec(), flags: 0, create_index, modify_index: index };
            data.entries.insert(key.to_string(), entry);
            data.tombstones.remove(key);
            index
        };
        self.changed.send_replace(index);
        index
    }

    fn delete(&self, key: &str) -> u64 {
        let index = {
            let mut data = self.data.lock();
            if data.entries.remove(key).is_none() {
                return data.index;
            }
            data.index += 1;
            let index = data.index;
            data.tombstones.insert(key.to_string(), index);
            index
        };
        self.changed.send_replace(index);
        index
    }
}

/// A running Consul-style KV server on 127.0.0.1. Stops when dropped.
pub struct ConsulServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ConsulServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulServer").field("addr", &self.addr).finish()
    }
}

impl ConsulServer {
    /// Starts the server on a free port (inside a tokio runtime).
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (changed, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            data: Mutex::new(Data { index: 1, ..Data::default() }),
            changed,
            requests: AtomicU64::new(0),
            blocking_requests: AtomicU64::new(0),
        });
        let app =
            Router::new().route("/v1/kv/{*key}", get(read).put(write).delete(remove)).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets a key; returns the new index.
    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> u64 {
        self.shared.put(key, value.as_ref())
    }

    /// Deletes a key (no-op if absent); returns the index.
    pub fn delete(&self, key: &str) -> u64 {
        self.shared.delete(key)
    }

    /// Replaces the whole state, as a restored snapshot or a new cluster would: the entries
    /// become `entries` (all at index `new_index`), tombstones are gone, and the index
    /// restarts at `new_index` (usually lower than before, so it goes backwards).
    pub fn reset(&self, entries: &[(&str, &str)], new_index: u64) {
        {
            let mut data = self.shared.data.lock();
            data.index = new_index;
            data.tombstones.clear();
            data.entries = entries
                .iter()
                .map(|(k, v)| {
                    let e = KvEntry {
                        value: v.as_bytes().to_vec(),
                        flags: 0,
                        create_index: new_index,
                        modify_index: new_index,
                    };
                    (k.to_string(), e)
                })
                .collect();
        }
        self.shared.changed.send_replace(new_index);
    }

    /// The current entries.
    pub fn entries(&self) -> BTreeMap<String, KvEntry> {
        self.shared.data.lock().entries.clone()
    }

    /// The current index (of the whole store).
    pub fn index(&self) -> u64 {
        self.shared.data.lock().index
    }

    /// GET requests served so far, and how many of them were blocking queries.
    pub fn requests(&self) -> (u64, u64) {
        (self.shared.requests.load(Ordering::SeqCst), self.shared.blocking_requests.load(Ordering::SeqCst))
    }
}

impl Drop for ConsulServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Parses a Go duration like `5s`, `100ms`, `2m`.
fn parse_wait(raw: &str) -> Option<Duration> {
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return None,
    })
}

async fn read(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let recurse = q.contains_key("recurse");
    if let Some(raw) = q.get("index") {
        let Ok(min_index) = raw.parse::<u64>() else {
            return (StatusCode::BAD_REQUEST, format!("Invalid index {raw:?}")).into_response();
        };
        shared.blocking_requests.fetch_add(1, Ordering::SeqCst);
        let wait = match q.get("wait") {
            None => Duration::from_secs(300),
            Some(w) => match parse_wait(w) {
                Some(w) => w.min(Duration::from_secs(600)),
                None => return (StatusCode::BAD_REQUEST, format!("Invalid wait time {w:?}")).into_response(),
            },
        };
        let jitter = wait.mul_f64(fastrand::f64() / 16.0);
        let deadline = tokio::time::Instant::now() + wait + jitter;
        let mut rx = shared.changed.subscribe();
        loop {
            if shared.data.lock().prefix_index(&key, recurse) > min_index {
                break;
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                break;
            }
        }
    }
    let data = shared.data.lock();
    let index = data.prefix_index(&key, recurse);
    let matching: Vec<serde_json::Value> = data
        .entries
        .iter()
        .filter(|(k, _)| if recurse { k.starts_with(&key) } else { **k == key })
        .map(|(k, e)| {
            serde_json::json!({
                "Key": k,
                "Value": if e.value.is_empty() { serde_json::Value::Null } else {
                    serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&e.value))
                },
                "Flags": e.flags,
                "CreateIndex": e.create_index,
                "ModifyIndex": e.modify_index,
                "LockIndex": 0,
            })
        })
        .collect();
    drop(data);
    let mut headers = HeaderMap::new();
    headers.insert("X-Consul-Index", HeaderValue::from(index));
    headers.insert("X-Consul-KnownLeader", HeaderValue::from_static("true"));
    if matching.is_empty() {
        return (StatusCode::NOT_FOUND, headers).into_response();
    }
    headers.insert("Content-Type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, serde_json::Value::Array(matching).to_string()).into_response()
}

async fn write(State(shared): State<Arc<Shared>>, Path(key): Path<String>, body: Bytes) -> Response {
    shared.put(&key, &body);
    "true".into_response()
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let keys: Vec<String> = if q.contains_key("recurse") {
        shared.data.lock().entries.keys().filter(|k| k.starts_with(&key)).cloned().collect()
    } else {
        vec![key]
    };
    for k in keys {
        shared.delete(&k);
    }
    "true".into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_wait("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_wait("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_wait("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_wait("5"), None);
    }

    #[test]
    fn prefix_index_counts_deletions_under_the_prefix_only() {
        let mut data = Data { index: 1, ..Data::default() };
        data.entries.insert("app/a".into(), KvEntry { value: vec![], flags: 0, create_index: 2, modify_index: 2 });
        data.tombstones.insert("app/b".into(), 5);
        data.entries.insert("other".into(), KvEntry { value: vec![], flags: 0, create_index: 9, modify_index: 9 });
        data.index = 9;
        assert_eq!(data.prefix_index("app/", true), 5);
        assert_eq!(data.prefix_index("app/a", false), 2);
        assert_eq!(data.prefix_index("none/", true), 9);
    }
}

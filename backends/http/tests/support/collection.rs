//! A JSON collection server on 127.0.0.1 for the ETag and bad-input tests:
//! `GET /items` answers `{"items": [{"id", "rev", "value"}]}` with an `ETag` that changes with
//! every write, `304 Not Modified` to a matching `If-None-Match`, and can be switched to
//! answer badly (non-JSON, no `ETag`, a body without `items`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Good,
    NotJson,
    NoETag,
    NoItems,
}

#[derive(Debug)]
struct Data {
    rev: u64,
    items: BTreeMap<String, (u64, String)>,
    mode: Mode,
}

#[derive(Debug)]
struct Shared {
    data: Mutex<Data>,
    ok: AtomicU64,
    not_modified: AtomicU64,
    authorization: Mutex<Vec<String>>,
}

pub struct CollectionServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl CollectionServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            data: Mutex::new(Data { rev: 1, items: BTreeMap::new(), mode: Mode::Good }),
            ok: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            authorization: Mutex::new(Vec::new()),
        });
        let app = Router::new().route("/items", get(items)).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/items", self.addr)
    }

    pub fn put(&self, id: &str, value: &str) {
        let mut data = self.shared.data.lock();
        data.rev += 1;
        let rev = data.rev;
        data.items.insert(id.to_string(), (rev, value.to_string()));
    }

    pub fn delete(&self, id: &str) {
        let mut data = self.shared.data.lock();
        data.rev += 1;
        data.items.remove(id);
    }

    /// Switches the answers; a bad mode also moves the ETag so pollers see "a change".
    pub fn set_mode(&self, mode: Mode) {
        let mut data = self.shared.data.lock();
        data.mode = mode;
        data.rev += 1;
    }

    /// id → value.
    pub fn contents(&self) -> BTreeMap<String, serde_json::Value> {
        self.shared
            .data
            .lock()
            .items
            .iter()
            .map(|(k, (_, v))| (k.clone(), serde_json::json!({"id": k, "value": v})))
            .collect()
    }

    /// (200 answers, 304 answers).
    pub fn answers(&self) -> (u64, u64) {
        (self.shared.ok.load(Ordering::SeqCst), self.shared.not_modified.load(Ordering::SeqCst))
    }

    /// Every `Authorization` header received.
    pub fn authorizations(&self) -> Vec<String> {
        self.shared.authorization.lock().clone()
    }
}

impl Drop for CollectionServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn items(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        shared.authorization.lock().push(auth.to_string());
    }
    let data = shared.data.lock();
    let etag = format!("\"rev-{}\"", data.rev);
    if data.mode == Mode::Good && headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        shared.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [("ETag", etag)]).into_response();
    }
    shared.ok.fetch_add(1, Ordering::SeqCst);
    let list: Vec<_> =
        data.items.iter().map(|(id, (rev, value))| serde_json::json!({"id": id, "rev": rev, "value": value})).collect();
    match data.mode {
        Mode::Good => {
            (StatusCode::OK, [("ETag", etag)], serde_json::json!({ "items": list }).to_string()).into_response()
        }
        Mode::NotJson => (StatusCode::OK, [("ETag", etag)], "<html>maintenance</html>").into_response(),
        Mode::NoETag => (StatusCode::OK, serde_json::json!({ "items": list }).to_string()).into_response(),
        Mode::NoItems => {
            (StatusCode::OK, [("ETag", etag)], serde_json::json!({ "data": list }).to_string()).into_response()
        }
    }
}

//! End-to-end runs of the binary against a plain JSON endpoint polled by `ETag`
//! (`http://URL --items --key`), served by a small HTTP/1.1 server in this test.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use serde_json::{Value, json};

/// A collection of `{"id", "rev", "data"}` items served at `/items` as
/// `{"items": [...]}` with `ETag: "<revision>"`, answering `304` to a matching `If-None-Match`.
#[derive(Clone, Default)]
struct Collection(Arc<Mutex<(u64, BTreeMap<String, Value>)>>);

impl Collection {
    fn put(&self, id: &str, data: &str) {
        let mut state = self.0.lock().unwrap();
        state.0 += 1;
        let rev = state.0;
        state.1.insert(id.to_string(), json!({"id": id, "rev": rev, "data": data}));
    }

    fn remove(&self, id: &str) {
        let mut state = self.0.lock().unwrap();
        state.0 += 1;
        state.1.remove(id);
    }

    fn items(&self) -> BTreeMap<String, Value> {
        self.0.lock().unwrap().1.clone()
    }

    fn serve(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let me = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let me = me.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut if_none_match = None;
                    let mut first = String::new();
                    let _ = reader.read_line(&mut first);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("if-none-match")
                        {
                            if_none_match = Some(value.trim().to_string());
                        }
                    }
                    let (rev, items) = {
                        let state = me.0.lock().unwrap();
                        (state.0, state.1.values().cloned().collect::<Vec<_>>())
                    };
                    let etag = format!("\"{rev}\"");
                    let response = if !first.starts_with("GET /items") {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                    } else if if_none_match.as_deref() == Some(etag.as_str()) {
                        format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
                    } else {
                        let body = json!({"items": items}).to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: {etag}\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = stream.write_all(response.as_bytes());
                });
            }
        });
        addr
    }
}

fn items(snapshot: &Value) -> BTreeMap<String, Value> {
    snapshot["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn snapshot_equals_an_etag_polled_endpoint_after_changes_and_sigterm() {
    let collection = Collection::default();
    for i in 0..30 {
        collection.put(&format!("item-{i:02}"), &format!("data {i}"));
    }
    let addr = collection.serve();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.json");
    let source = format!("http://{addr}/items");
    let mut child =
        informer(&["mirror", &source, "--items", "/items", "--key", "/id", "--snapshot", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let first = wait_for_snapshot(&path, Duration::from_secs(15));
    assert_eq!(items(&first), collection.items());
    assert_eq!(first["version"], "\"30\"");

    for i in 0..20 {
        match i % 3 {
            0 => collection.put(&format!("item-{:02}", i), "changed"),
            1 => collection.remove(&format!("item-{:02}", i + 5)),
            _ => collection.put(&format!("new-{i}"), "new"),
        }
    }
    // The endpoint is polled once a second.
    std::thread::sleep(Duration::from_millis(2500));
    sigterm(&child);
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(15)).code(), Some(0));
    let last = read_snapshot(&path);
    assert_eq!(items(&last), collection.items());
    assert_eq!(last["version"], "\"50\"");
}

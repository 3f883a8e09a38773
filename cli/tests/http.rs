//! End-to-end runs of the binary against HTTP long-poll endpoints served by a small HTTP/1.1
//! server in this test: a plain JSON list polled by `ETag`, the same list watched with
//! blocking queries on an index header (`--index-header`), and Consul's KV API.

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

/// How the test server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `ETag` / `If-None-Match`.
    ETag,
    /// `X-Index` header; `?index=N` holds the request until the revision passes N.
    IndexHeader,
    /// Consul KV: `/v1/kv/app/?recurse=true`, entries with base64 values, `X-Consul-Index`,
    /// `?index=N` blocking, 404 when empty.
    Consul,
}

/// The `index` query parameter of a request line, if any.
fn index_param(request_line: &str) -> Option<u64> {
    let target = request_line.split_whitespace().nth(1)?;
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix("index=")?.parse().ok())
}

fn consul_entry(item: &Value) -> Value {
    use base64::Engine;
    let data = item["data"].as_str().unwrap();
    json!({
        "Key": format!("app/{}", item["id"].as_str().unwrap()),
        "CreateIndex": item["rev"], "ModifyIndex": item["rev"], "LockIndex": 0, "Flags": 0,
        "Value": base64::engine::general_purpose::STANDARD.encode(data),
    })
}

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

    fn serve(&self, mode: Mode) -> String {
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
                    // Blocking queries: hold until the revision passes the index sent (at most 10 s).
                    if mode != Mode::ETag
                        && let Some(index) = index_param(&first)
                    {
                        for _ in 0..1000 {
                            if me.0.lock().unwrap().0 > index {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    let (rev, items) = {
                        let state = me.0.lock().unwrap();
                        (state.0, state.1.values().cloned().collect::<Vec<_>>())
                    };
                    let etag = format!("\"{rev}\"");
                    let path = if mode == Mode::Consul { "GET /v1/kv/app/" } else { "GET /items" };
                    let response = if !first.starts_with(path) {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                    } else if mode == Mode::Consul {
                        let entries: Vec<Value> = items.iter().map(consul_entry).collect();
                        let (status, body) = if entries.is_empty() {
                            ("404 Not Found", String::new())
                        } else {
                            ("200 OK", json!(entries).to_string())
                        };
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Consul-Index: {rev}\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else if mode == Mode::IndexHeader {
                        let body = json!({"items": items}).to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Index: {rev}\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
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
    let addr = collection.serve(Mode::ETag);
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

/// Runs the binary on `source` with `extra` options, changes the collection, sends SIGTERM,
/// and returns (the collection then, the final snapshot).
fn mirror_with_changes(collection: &Collection, source: &str, extra: &[&str]) -> (BTreeMap<String, Value>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let mut args = vec!["mirror", source, "--snapshot", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut child = informer(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_snapshot(&path, Duration::from_secs(15));
    for i in 0..20 {
        match i % 3 {
            0 => collection.put(&format!("item-{:02}", i), "changed"),
            1 => collection.remove(&format!("item-{:02}", i + 5)),
            _ => collection.put(&format!("new-{i}"), "new"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(800));
    sigterm(&child);
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(15)).code(), Some(0));
    (collection.items(), read_snapshot(&path))
}

#[test]
fn blocking_queries_on_an_index_header_follow_every_change() {
    let collection = Collection::default();
    for i in 0..30 {
        collection.put(&format!("item-{i:02}"), &format!("data {i}"));
    }
    let addr = collection.serve(Mode::IndexHeader);
    let source = format!("http://{addr}/items");
    let (want, snapshot) =
        mirror_with_changes(&collection, &source, &["--items", "/items", "--key", "/id", "--index-header", "X-Index"]);
    assert_eq!(items(&snapshot), want);
    assert_eq!(snapshot["version"], "50");
}

#[test]
fn consul_kv_prefix_is_mirrored_with_decoded_values() {
    let collection = Collection::default();
    for i in 0..30 {
        collection.put(&format!("item-{i:02}"), &format!("data {i}"));
    }
    let addr = collection.serve(Mode::Consul);
    let source = format!("consul+http://{addr}/v1/kv/app/");
    let (want, snapshot) = mirror_with_changes(&collection, &source, &[]);
    let want: BTreeMap<String, Value> = want
        .values()
        .map(|item| {
            let mut entry = consul_entry(item);
            entry["Value"] = item["data"].clone();
            (entry["Key"].as_str().unwrap().to_string(), entry)
        })
        .collect();
    assert_eq!(items(&snapshot), want);
    assert_eq!(snapshot["version"], "50");
}

#[test]
fn https_sources_verify_certificates_and_trust_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    informer_tests::tls::make_certificates(dir.path());
    let server = informer_tests::tls::HttpsServer::start(dir.path(), r#"{"items":[{"id":"a","value":"1"}]}"#);
    let url = server.url("/items");
    let ca = dir.path().join("ca.crt");
    let base = ["mirror", url.as_str(), "--items", "/items", "--key", "/id", "--once"];
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    let mut args = base.to_vec();
    args.extend(["--ca-file", ca.to_str().unwrap()]);
    let out = common::run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let snapshot = common::check_snapshot_text(&text(&out.stdout));
    assert_eq!(items(&snapshot).keys().collect::<Vec<_>>(), ["a"]);

    // Without the CA file the certificate is refused; after one retry the command gives up.
    let mut args = base.to_vec();
    args.extend(["--max-retries", "1", "--max-backoff", "100ms"]);
    let out = common::run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).to_lowercase().contains("certificate"), "{}", text(&out.stderr));

    // A CA file that cannot be read is a usage error naming it.
    let mut args = base.to_vec();
    args.extend(["--ca-file", "/nonexistent/ca.pem"]);
    let out = common::run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/nonexistent/ca.pem"), "{}", text(&out.stderr));
}

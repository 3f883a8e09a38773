//! End-to-end runs of the binary against etcd's v2 keys API (the HTTP long-poll backend):
//! churn, SIGTERM, and the snapshot must equal the server's keys and values.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use informer_tests::etcd::{EtcdOptions, EtcdServer};
use serde_json::Value;

/// One HTTP/1.0 request (so the answer is never chunked); returns the body.
fn request(addr: &str, method: &str, path: &str, form: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = form.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 2") || head.starts_with("HTTP/1.1 2"), "{method} {path}: {head}\n{body}");
    body.to_string()
}

fn put(addr: &str, key: &str, value: &str) {
    request(addr, "PUT", &format!("/v2/keys{key}"), Some(&format!("value={}", value.replace(' ', "+"))));
}

fn delete(addr: &str, key: &str) {
    request(addr, "DELETE", &format!("/v2/keys{key}"), None);
}

/// Every leaf key under `dir` with its value, read from the server.
fn server_keys(addr: &str, dir: &str) -> BTreeMap<String, Value> {
    fn flatten(node: &Value, out: &mut BTreeMap<String, Value>) {
        if node["dir"].as_bool().unwrap_or(false) {
            for child in node["nodes"].as_array().into_iter().flatten() {
                flatten(child, out);
            }
        } else {
            out.insert(node["key"].as_str().unwrap().to_string(), node["value"].clone());
        }
    }
    let body: Value =
        serde_json::from_str(&request(addr, "GET", &format!("/v2/keys{dir}?recursive=true"), None)).unwrap();
    let mut out = BTreeMap::new();
    flatten(&body["node"], &mut out);
    out
}

fn items(snapshot: &Value) -> BTreeMap<String, Value> {
    snapshot["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn snapshot_equals_etcd_v2_keys_after_churn_and_sigterm() {
    let etcd = EtcdServer::start_with(EtcdOptions { enable_v2: true, ..EtcdOptions::default() }).expect("start etcd");
    let addr = etcd.endpoint();
    for i in 0..40 {
        put(&addr, &format!("/app/key-{i:02}"), &format!("value {i}"));
    }
    put(&addr, "/app/db/host", "db.local");
    put(&addr, "/other/ignored", "x");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.json");
    let source = format!("etcd2+http://{addr}/v2/keys/app");
    let mut child = informer(&["mirror", &source, "--snapshot", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = wait_for_snapshot(&path, Duration::from_secs(15));
    assert_eq!(items(&first), server_keys(&addr, "/app"));
    assert_eq!(items(&first)["/app/db/host"], "db.local");

    for i in 0..60u32 {
        match i % 3 {
            0 => put(&addr, &format!("/app/key-{:02}", i % 40), &format!("changed {i}")),
            1 => put(&addr, &format!("/app/new/n-{i}"), "new"),
            _ => {
                let key = format!("/app/key-{:02}", (i * 7) % 40);
                if server_keys(&addr, "/app").contains_key(&key) {
                    delete(&addr, &key);
                }
            }
        }
    }
    put(&addr, "/other/also-ignored", "y");
    let want = server_keys(&addr, "/app");
    std::thread::sleep(Duration::from_millis(800));
    sigterm(&child);
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(15)).code(), Some(0));

    let last = read_snapshot(&path);
    assert_eq!(last["source"], source.as_str());
    assert_eq!(items(&last), want);
}

#[test]
fn plain_http_without_key_is_a_usage_error() {
    let out = common::run(&["mirror", "http://127.0.0.1:1/items", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--key JSONPOINTER") && stderr.contains("--index-header"), "{stderr}");
}

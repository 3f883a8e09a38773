//! End-to-end runs of the binary against a real etcd: churn, SIGTERM, and the snapshot must
//! equal the server's keys, values and revisions.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use informer_etcd::etcd_client::{Client, GetOptions};
use informer_tests::etcd::EtcdServer;
use serde_json::{Value, json};

/// The server's view of `prefix` in the snapshot's item format, and the header revision.
async fn server_items(client: &mut Client, prefix: &str) -> (BTreeMap<String, Value>, i64) {
    let resp = client.get(prefix, Some(GetOptions::new().with_prefix())).await.unwrap();
    let revision = resp.header().unwrap().revision();
    let items = resp
        .kvs()
        .iter()
        .map(|kv| {
            let mut item = json!({
                "create_revision": kv.create_revision(),
                "mod_revision": kv.mod_revision(),
                "version": kv.version(),
                "lease": kv.lease(),
            });
            match std::str::from_utf8(kv.value()) {
                Ok(text) => item["value"] = json!(text),
                Err(_) => {
                    use base64::Engine;
                    item["value_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(kv.value()));
                }
            }
            (String::from_utf8(kv.key().to_vec()).unwrap(), item)
        })
        .collect();
    (items, revision)
}

fn items(snapshot: &Value) -> BTreeMap<String, Value> {
    snapshot["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_equals_etcd_after_churn_and_sigterm() {
    let etcd = EtcdServer::start().expect("start etcd");
    let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
    for i in 0..200 {
        client.put(format!("/app/key-{i:04}"), format!("value {i}"), None).await.unwrap();
    }
    client.put("/other/ignored", "x", None).await.unwrap();
    client.put("/app/binary", vec![0xff, 0x00, 0xfe], None).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etcd.json");
    let source = format!("etcd://{}/app/", etcd.endpoint());
    let mut child = informer(&["mirror", &source, "--snapshot", path.to_str().unwrap(), "--page-size", "64"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || wait_for_snapshot(&path, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert_eq!(items(&first).len(), 201);

    // Churn: updates, deletes, creates, a transaction.
    for i in 0..300u32 {
        match i % 5 {
            0 | 1 => client.put(format!("/app/key-{:04}", i % 200), format!("changed {i}"), None).await.map(|_| ()),
            2 => client.delete(format!("/app/key-{:04}", (i * 7) % 200), None).await.map(|_| ()),
            3 => client.put(format!("/app/new-{i}"), "new", None).await.map(|_| ()),
            _ => client.put(format!("/other/{i}"), "not mirrored", None).await.map(|_| ()),
        }
        .unwrap();
    }
    let (want, revision) = server_items(&mut client, "/app/").await;
    // Let the mirror catch up, then stop it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || {
        let status = wait_timeout(&mut child, Duration::from_secs(15));
        (status, child)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0));

    let last = read_snapshot(&path);
    assert_eq!(last["source"], source.as_str());
    assert_eq!(items(&last), want);
    assert_eq!(items(&last)["/app/binary"]["value_base64"], "/wD+");
    let version: i64 = last["version"].as_str().unwrap().parse().unwrap();
    assert!(version >= want.values().map(|v| v["mod_revision"].as_i64().unwrap()).max().unwrap());
    assert!(version <= revision);
}

#[test]
fn gives_up_with_exit_code_1_when_etcd_is_unreachable() {
    let port = informer_tests::etcd::free_port().unwrap();
    let out = common::run(&[
        "mirror",
        &format!("etcd://127.0.0.1:{port}/app/"),
        "--max-retries",
        "2",
        "--max-backoff",
        "50ms",
        "--once",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gave up after") && stderr.contains(&port.to_string()), "{stderr}");
}

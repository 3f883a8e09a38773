//! End-to-end runs of the binary against the local Kubernetes API server, configured through
//! a kubeconfig in `KUBECONFIG`: churn, SIGTERM, and the snapshot must equal the server's pods.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use informer_tests::kube_api::pods::{PodGenerator, strip_managed_fields};
use informer_tests::kube_api::{KubeApiServer, ServerOptions};
use serde_json::Value;

fn items(snapshot: &Value) -> BTreeMap<String, Value> {
    snapshot["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Every pod the server holds, keyed `namespace/name`, without managedFields.
fn server_pods(server: &KubeApiServer) -> BTreeMap<String, Value> {
    server
        .keys_and_versions("Pod")
        .into_keys()
        .map(|key| {
            let (ns, name) = key.split_once('/').unwrap();
            let mut pod = server.get("Pod", Some(ns), name).unwrap();
            strip_managed_fields(&mut pod);
            (key, pod)
        })
        .collect()
}

struct Cluster {
    server: KubeApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

async fn cluster(pods: usize) -> Cluster {
    let server = KubeApiServer::start_with(ServerOptions::default().with_bookmark_interval(None)).await.unwrap();
    let generator = PodGenerator::new(11).with_namespaces(3).with_nodes(5);
    server.create_pods(&generator, 0..pods).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    Cluster { server, _dir: dir, kubeconfig }
}

fn with_kubeconfig(mut cmd: Command, cluster: &Cluster) -> Command {
    cmd.env("KUBECONFIG", &cluster.kubeconfig).env_remove("KUBERNETES_SERVICE_HOST");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_equals_the_api_server_after_churn_and_sigterm() {
    let cluster = cluster(150).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pods.json");
    let cmd = informer(&[
        "mirror",
        "kube://v1/pods",
        "--snapshot",
        path.to_str().unwrap(),
        "--page-size",
        "40",
        "--transform",
        "strip-managed-fields",
    ]);
    let mut child = with_kubeconfig(cmd, &cluster).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || wait_for_snapshot(&path, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert_eq!(items(&first).len(), 150);

    let generator = PodGenerator::new(11).with_namespaces(3).with_nodes(5);
    for step in 0..200u64 {
        let index = (step as usize * 13) % 150;
        match step % 4 {
            0 | 1 => {
                let ns = generator.namespace_of(index);
                let name = generator.pod(index)["metadata"]["name"].as_str().unwrap().to_string();
                if let Some(mut pod) = cluster.server.get("Pod", Some(&ns), &name) {
                    PodGenerator::touch(&mut pod, step);
                    cluster.server.apply(pod).unwrap();
                }
            }
            2 => {
                let ns = generator.namespace_of(index);
                let name = generator.pod(index)["metadata"]["name"].as_str().unwrap().to_string();
                let _ = cluster.server.delete("Pod", Some(&ns), &name);
            }
            _ => {
                cluster.server.create(generator.pod(1000 + step as usize)).unwrap();
            }
        }
    }
    let want = server_pods(&cluster.server);
    tokio::time::sleep(Duration::from_millis(700)).await;
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || wait_timeout(&mut child, Duration::from_secs(15))).await.unwrap();
    assert_eq!(status.code(), Some(0));

    let last = read_snapshot(&path);
    assert_eq!(last["source"], "kube://v1/pods");
    let got = items(&last);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    assert_eq!(got, want);
    assert!(got.values().all(|pod| pod["metadata"].get("managedFields").is_none()));
    assert_eq!(last["version"].as_str().unwrap(), cluster.server.revision().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_and_index_query_select_the_expected_pods() {
    let cluster = cluster(60).await;
    let cmd = informer(&[
        "mirror",
        "kube://v1/pods?namespace=ns-1",
        "--index",
        "node=/spec/nodeName",
        "--query",
        "node=node-2",
        "--once",
    ]);
    let mut cmd = with_kubeconfig(cmd, &cluster);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let query: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let snapshot = common::check_snapshot_text(lines.next().unwrap());

    let all = server_pods(&cluster.server);
    let in_ns: Vec<&String> = all.keys().filter(|k| k.starts_with("ns-1/")).collect();
    assert_eq!(items(&snapshot).keys().collect::<Vec<_>>(), in_ns);
    let on_node: Vec<Value> = in_ns
        .iter()
        .filter(|k| all[k.as_str()]["spec"]["nodeName"] == "node-2")
        .map(|k| Value::from(k.as_str()))
        .collect();
    assert!(!on_node.is_empty());
    assert_eq!(query["keys"], Value::Array(on_node));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_relists_and_prints_the_differences_then_relisted() {
    let cluster = cluster(10).await;
    let cmd = informer(&["mirror", "kube://v1/pods", "--events", "--max-backoff", "100ms"]);
    let mut child = with_kubeconfig(cmd, &cluster).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let rx = common::lines(&mut child);
    let next = |rx: &std::sync::mpsc::Receiver<String>| -> Value {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("an event line");
        serde_json::from_str(&line).unwrap()
    };
    let rx = tokio::task::spawn_blocking(move || {
        while next(&rx)["type"] != "SYNCED" {}
        rx
    })
    .await
    .unwrap();

    // The next watch is answered 410 Gone; a pod created meanwhile shows up in the relist.
    cluster.server.expire_next_watches(1);
    let generator = PodGenerator::new(11).with_namespaces(3).with_nodes(5);
    let created = cluster.server.create(generator.pod(500)).unwrap();
    cluster.server.drop_watches();
    let events = tokio::task::spawn_blocking(move || {
        let mut events = Vec::new();
        loop {
            let event = next(&rx);
            let done = event["type"] == "RELISTED";
            events.push(event);
            if done {
                return events;
            }
        }
    })
    .await
    .unwrap();
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || wait_timeout(&mut child, Duration::from_secs(10))).await.unwrap();
    assert_eq!(status.code(), Some(0));

    let key = format!(
        "{}/{}",
        created["metadata"]["namespace"].as_str().unwrap(),
        created["metadata"]["name"].as_str().unwrap()
    );
    let relisted = events.last().unwrap();
    assert_eq!(relisted["key"], Value::Null);
    assert_eq!(relisted["version"].as_str().unwrap(), cluster.server.revision().to_string());
    // The new pod arrives either by the watch (before the 410) or as a relist difference.
    assert!(events.iter().any(|e| e["type"] == "ADDED" && e["key"] == key.as_str()), "{events:?}");
}

/// Runs `informer mirror kube://v1/pods --snapshot PATH [extra]` until the snapshot names the
/// server's revision, then stops it with SIGTERM.
async fn mirror_until_current(cluster: &Cluster, path: &std::path::Path, extra: &[&str]) {
    let mut args = vec!["mirror", "kube://v1/pods", "--snapshot", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd = with_kubeconfig(informer(&args), cluster);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let target = cluster.server.revision().to_string();
    let path = path.to_path_buf();
    let current = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if path.exists() && read_snapshot(&path)["version"].as_str() == Some(target.as_str()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await
    .unwrap();
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || wait_timeout(&mut child, Duration::from_secs(15))).await.unwrap();
    assert!(current, "the snapshot never reached the server's revision");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_restarts_warm_from_the_snapshot_without_listing_pods_again() {
    let cluster = cluster(80).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pods.json");
    // Reads of the whole collection: paged lists and streaming lists (the default).
    let initial_reads = |c: &Cluster| c.server.counters().lists + c.server.counters().watch_lists;
    mirror_until_current(&cluster, &path, &["--resume"]).await;
    assert_eq!(initial_reads(&cluster), 1, "no snapshot yet: the first run reads every pod");

    // While no mirror runs: changes, a deletion and a new pod.
    let generator = PodGenerator::new(11).with_namespaces(3).with_nodes(5);
    for index in 0..20 {
        let pod = generator.pod(index);
        let name = pod["metadata"]["name"].as_str().unwrap();
        let mut current = cluster.server.get("Pod", Some(&generator.namespace_of(index)), name).unwrap();
        PodGenerator::touch(&mut current, index as u64);
        cluster.server.apply(current).unwrap();
    }
    let gone = generator.pod(30);
    cluster
        .server
        .delete("Pod", Some(&generator.namespace_of(30)), gone["metadata"]["name"].as_str().unwrap())
        .unwrap();
    cluster.server.create(generator.pod(900)).unwrap();

    mirror_until_current(&cluster, &path, &["--resume"]).await;
    assert_eq!(initial_reads(&cluster), 1, "the warm restart watched from the snapshot's version");
    let want = server_pods(&cluster.server);
    let got = items(&read_snapshot(&path));
    // The mirror ran without --transform: compare without managedFields on both sides.
    let got: BTreeMap<String, Value> = got
        .into_iter()
        .map(|(k, mut v)| {
            strip_managed_fields(&mut v);
            (k, v)
        })
        .collect();
    assert_eq!(got.len(), 80);
    assert_eq!(got, want);
}

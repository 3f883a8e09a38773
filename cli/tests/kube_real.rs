//! The binary against a real kube-apiserver 1.37 (`informer_tests::control_plane`), configured
//! through the harness's kubeconfig in `KUBECONFIG`: the snapshot equals the server's pods
//! after churn, and again after the apiserver restarts under the running mirror.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use informer_kube::k8s_openapi::api::core::v1::Pod;
use informer_kube::kube::Client;
use informer_kube::kube::api::{Api, DeleteParams, Patch, PatchParams};
use informer_tests::control_plane::{ControlPlane, ControlPlaneOptions, User, pod_manifest, resource_versions};
use informer_tests::kube_api::PodGenerator;
use serde_json::{Value, json};

/// `namespace/name` → resourceVersion of every pod in `ns`, from the server.
async fn server_pods(client: &Client, ns: &str) -> BTreeMap<String, String> {
    resource_versions(client, &format!("/api/v1/namespaces/{ns}/pods")).await.expect("pods listed")
}

/// The same map read from a snapshot file, or `None` while none is written.
fn snapshot_pods(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let snapshot: Value = serde_json::from_str(&text).ok()?;
    let items = snapshot["items"].as_object()?;
    Some(
        items
            .iter()
            .map(|(k, pod)| (k.clone(), pod["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

async fn snapshot_reaches(path: &Path, want: &BTreeMap<String, String>, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if snapshot_pods(path).as_ref() == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// 60 changes: annotate, delete (at once: no kubelet) and create pods.
async fn churn(client: &Client, ns: &str, generator: &PodGenerator, round: usize) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = |i: usize| generator.pod(i)["metadata"]["name"].as_str().unwrap_or_default().to_string();
    for step in 0..60usize {
        let i = round * 1_000 + step;
        match step % 3 {
            0 => {
                let patch = json!({"metadata": {"annotations": {"informer.dev/round": format!("{round}-{step}")}}});
                api.patch(&name(step), &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
            }
            1 => {
                let _ = api.delete(&name(i), &DeleteParams::default().grace_period(0)).await;
                let pod = serde_json::from_value(pod_manifest(generator, i, ns)).unwrap();
                api.create(&Default::default(), &pod).await.expect("create");
            }
            _ => {
                let victim = 100 + round * 20 + step / 3;
                api.delete(&name(victim), &DeleteParams::default().grace_period(0)).await.expect("delete");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_equals_the_real_apiserver_after_churn_and_after_an_apiserver_restart() {
    let cp = tokio::task::spawn_blocking(|| ControlPlane::start_with(ControlPlaneOptions::default()))
        .await
        .unwrap()
        .expect("control plane starts");
    let client = cp.client(User::Admin).await.unwrap();
    let ns = cp.create_namespace(&client, "cli").await.unwrap();
    let generator = PodGenerator::new(37).with_nodes(5);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for i in 0..200 {
        api.create(&Default::default(), &serde_json::from_value(pod_manifest(&generator, i, &ns)).unwrap())
            .await
            .expect("pod created");
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pods.json");
    let source = format!("kube://v1/pods?namespace={ns}");
    let mut cmd = informer(&[
        "mirror",
        &source,
        "--snapshot",
        path.to_str().unwrap(),
        "--page-size",
        "50",
        "--transform",
        "strip-managed-fields",
        "--max-backoff",
        "300ms",
    ]);
    cmd.env("KUBECONFIG", cp.kubeconfig(User::Admin).unwrap()).env_remove("KUBERNETES_SERVICE_HOST");
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || wait_for_snapshot(&path, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(first["items"].as_object().map(|m| m.len()), Some(200));

    churn(&client, &ns, &generator, 1).await;
    let want = server_pods(&client, &ns).await;
    assert!(snapshot_reaches(&path, &want, Duration::from_secs(20)).await, "the snapshot follows the churn");

    let restart = tokio::task::spawn_blocking(move || {
        cp.restart_apiserver().expect("apiserver restarts");
        cp
    });
    let cp = restart.await.unwrap();
    let client = cp.client(User::Admin).await.unwrap();
    churn(&client, &ns, &generator, 2).await;
    let want = server_pods(&client, &ns).await;
    assert!(snapshot_reaches(&path, &want, Duration::from_secs(60)).await, "and again after the restart");

    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || wait_timeout(&mut child, Duration::from_secs(15))).await.unwrap();
    assert_eq!(status.code(), Some(0));
    let last = read_snapshot(&path);
    assert_eq!(last["source"], source.as_str());
    assert_eq!(snapshot_pods(&path), Some(want));
    assert!(last["items"].as_object().unwrap().values().all(|pod| pod["metadata"].get("managedFields").is_none()));
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_without_rbac_rights_exits_1_after_three_attempts_naming_forbidden() {
    let cp = tokio::task::spawn_blocking(ControlPlane::shared).await.unwrap();
    let kubeconfig = cp.kubeconfig(User::Unprivileged).unwrap();
    let mut cmd = informer(&["mirror", "kube://v1/pods?namespace=default", "--once", "--max-backoff", "200ms"]);
    cmd.env("KUBECONFIG", kubeconfig).env_remove("KUBERNETES_SERVICE_HOST");
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = wait_timeout(&mut child, Duration::from_secs(20));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    });
    let (status, stderr) = status.await.unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not synced: forbidden"), "the message names the reason: {stderr}");
    assert!(stderr.contains("3 attempts in a row"), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
}

//! The local Kubernetes API server (`informer_tests::kube_api`) against the real kube-apiserver
//! 1.37 (`informer_tests::control_plane`): the same requests to both, and the answers must
//! agree in what clients act on (HTTP code, `Status` reason, body kind, paging). Each place the
//! two answered differently was fixed in the local server; its module docs list them. What the
//! local server cannot do (authentication, RBAC) is not asked.

use informer_kube::kube::Client;
use informer_tests::control_plane::{ControlPlane, ControlPlaneOptions, User, pod_manifest};
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use serde_json::Value;

/// What a client acts on in an answer.
#[derive(Debug, PartialEq)]
struct Answer {
    code: u16,
    /// `Status.reason` for a Status body, `text` for a plain-text body, `list` for a list.
    kind: String,
    /// For lists: the number of items and whether a continue token came back.
    items: Option<(usize, bool)>,
}

async fn ask(client: &Client, path: &str) -> Answer {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let response = client.send(request.map(Into::into)).await.expect("an HTTP answer");
    let code = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
    let (kind, items) = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v["kind"] == "Status" => (v["reason"].as_str().unwrap_or_default().to_string(), None),
        Ok(v) if v["items"].is_array() => {
            let more = v["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty());
            ("list".to_string(), Some((v["items"].as_array().map_or(0, Vec::len), more)))
        }
        Ok(v) => (format!("json {}", v["kind"]), None),
        Err(_) => ("text".to_string(), None),
    };
    Answer { code, kind, items }
}

async fn local_client(server: &KubeApiServer, dir: &std::path::Path) -> Client {
    let path = dir.join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    informer_kube::client_from_kubeconfig(&path, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_server_answers_as_the_real_one_does() {
    let cp = tokio::task::spawn_blocking(|| ControlPlane::start_with(ControlPlaneOptions::default()))
        .await
        .unwrap()
        .expect("control plane starts");
    let real = cp.client(User::Admin).await.unwrap();
    let ns = cp.create_namespace(&real, "probe").await.unwrap();
    let local_server = KubeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = local_client(&local_server, dir.path()).await;

    let generator = PodGenerator::new(5).with_namespaces(1);
    let pods: informer_kube::kube::Api<informer_kube::k8s_openapi::api::core::v1::Pod> =
        informer_kube::kube::Api::namespaced(real.clone(), &ns);
    for i in 0..5 {
        let manifest = pod_manifest(&generator, i, &ns);
        pods.create(&Default::default(), &serde_json::from_value(manifest.clone()).unwrap()).await.unwrap();
        local_server.create(manifest).unwrap();
    }

    let collection = format!("/api/v1/namespaces/{ns}/pods");
    let questions = [
        // Paging: a consistent read honours the limit; resourceVersion=0 (the watch cache) does not.
        format!("{collection}?limit=2"),
        format!("{collection}?limit=2&resourceVersion=0"),
        format!("{collection}?limit=2&resourceVersion=0&resourceVersionMatch=NotOlderThan"),
        // Errors.
        format!("{collection}/no-such-pod"),
        format!("{collection}?resourceVersionMatch=NotOlderThan"),
        format!("{collection}?continue=garbage"),
        format!("{collection}?labelSelector=a%20in%20"),
        format!("{collection}?watch=true&sendInitialEvents=true&timeoutSeconds=1"),
        format!("/api/v1/namespaces/{ns}/gadgets"),
        format!("/apis/nothing.informer.dev/v1/namespaces/{ns}/gadgets"),
    ];
    let mut differences = Vec::new();
    for question in &questions {
        let (want, got) = (ask(&real, question).await, ask(&local, question).await);
        println!("[probe] {question}\n    real  {want:?}\n    local {got:?}");
        if want != got {
            differences.push(format!("{question}: real {want:?}, local {got:?}"));
        }
    }
    assert!(differences.is_empty(), "the local server answers differently:\n{}", differences.join("\n"));
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

//! The local Kubernetes API server (`informer_tests::kube_api`) against the real kube-apiserver
//! 1.37 (`informer_tests::control_plane`): the same requests to both, and the answers must
//! agree in what clients act on (HTTP code, `Status` reason, body kind, paging). Each place the
//! two answered differently was fixed in the local server; its module docs list them. What the
//! local server cannot do (authentication, RBAC) is not asked.

use informer_core::shard::{ShardRange, ShardSelector, fnv1a64};
use informer_core::{ErrorKind, ListOptions, ListerWatcher, WatchOptions};
use informer_kube::kube::Client;
use informer_kube::{KubeSource, ShardField, shard_selector_expression};
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
    /// For lists: `metadata.shardInfo.selector`, the shard selector the server applied.
    shard_info: Option<String>,
    /// For errors: the start of the `Status` message, where it says what was wrong.
    message: Option<String>,
}

/// `text` as a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn ask(client: &Client, path: &str) -> Answer {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let response = client.send(request.map(Into::into)).await.expect("an HTTP answer");
    let code = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
    let (mut shard_info, mut message) = (None, None);
    let (kind, items) = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v["kind"] == "Status" => {
            // Messages are compared for shard selectors only: elsewhere the two servers word them apart.
            let text = v["message"].as_str().unwrap_or_default();
            if text.starts_with("invalid shard selector") {
                message = Some(text.to_string());
            }
            (v["reason"].as_str().unwrap_or_default().to_string(), None)
        }
        Ok(v) if v["items"].is_array() => {
            let more = v["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty());
            shard_info = v["metadata"]["shardInfo"]["selector"].as_str().map(str::to_string);
            ("list".to_string(), Some((v["items"].as_array().map_or(0, Vec::len), more)))
        }
        Ok(v) => (format!("json {}", v["kind"]), None),
        Err(_) => ("text".to_string(), None),
    };
    Answer { code, kind, items, shard_info, message }
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
    // Shard selectors (KEP-5866). Uids differ between the two servers, so selections that must
    // agree on items hash the namespace (the same name on both) or cover the whole space.
    let ns_hash = fnv1a64(ns.as_bytes());
    let quarters = ShardRange::FULL.split(4).unwrap();
    let (holding, other) = match quarters.iter().position(|q| q.contains(ns_hash)) {
        Some(i) => (quarters[i], quarters[(i + 1) % 4]),
        None => panic!("every hash is in one quarter"),
    };
    let by_namespace =
        |range: ShardRange| shard_selector_expression(&ShardSelector::from(range), ShardField::Namespace);
    let full_uid = shard_selector_expression(&ShardSelector::full(), ShardField::Uid);
    let shard_questions = [
        format!("{collection}?shardSelector={}", encode(&by_namespace(holding))),
        format!("{collection}?shardSelector={}", encode(&by_namespace(other))),
        format!("{collection}?limit=2&shardSelector={}", encode(&full_uid)),
        format!("{collection}?limit=2&resourceVersion=0&shardSelector={}", encode(&full_uid)),
        // Rewritten in the echo as the server writes it; overlapping ranges are accepted.
        format!(
            "{collection}?shardSelector={}",
            encode(
                "shardRange(object.metadata.uid,'0x0000000000000000','0x8000000000000000')||\
                 shardRange(object.metadata.uid, \"0x0000000000000000\", '0x10000000000000000')"
            )
        ),
        format!("{collection}?shardSelector="),
        // Bad selectors: an empty range, a bound of the wrong length, an unknown field, mixed fields.
        format!(
            "{collection}?shardSelector={}",
            encode("shardRange(object.metadata.uid, '0x8000000000000000', '0x8000000000000000')")
        ),
        format!(
            "{collection}?shardSelector={}",
            encode("shardRange(object.metadata.uid, '0x0', '0x8000000000000000')")
        ),
        format!(
            "{collection}?shardSelector={}",
            encode("shardRange(object.metadata.name, '0x0000000000000000', '0x8000000000000000')")
        ),
        format!(
            "{collection}?shardSelector={}",
            encode(
                "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000') || \
                 shardRange(object.metadata.namespace, '0x8000000000000000', '0x10000000000000000')"
            )
        ),
        format!(
            "{collection}?watch=true&timeoutSeconds=1&shardSelector={}",
            encode("shardRange(object.metadata.uid, '0x9000000000000000', '0x8000000000000000')")
        ),
        // Validation of the other options comes first.
        format!("{collection}?resourceVersionMatch=NotOlderThan&shardSelector=garbage"),
    ];
    let questions: Vec<String> = questions.into_iter().chain(shard_questions).collect();
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

/// Without the `ShardedListAndWatch` gate the real server drops `shardSelector`: it answers
/// the whole collection, with no `shardInfo`, even to a selector it would refuse. The local
/// server with shard selectors turned off answers the same, and a `KubeSource` with a shard
/// selector refuses to mirror such a server instead of taking the whole collection for its
/// shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_gate_shard_selectors_are_ignored_and_a_sharded_source_says_so() {
    let options = ControlPlaneOptions::default().with_sharded_list_and_watch(false);
    let cp = tokio::task::spawn_blocking(move || ControlPlane::start_with(options))
        .await
        .unwrap()
        .expect("control plane starts");
    let real = cp.client(User::Admin).await.unwrap();
    let ns = cp.create_namespace(&real, "nogate").await.unwrap();
    let local_server = KubeApiServer::start().await.unwrap();
    local_server.set_shard_selectors_supported(false);
    let dir = tempfile::tempdir().unwrap();
    let local = local_client(&local_server, dir.path()).await;
    let generator = PodGenerator::new(3).with_namespaces(1);
    let pods: informer_kube::kube::Api<informer_kube::k8s_openapi::api::core::v1::Pod> =
        informer_kube::kube::Api::namespaced(real.clone(), &ns);
    for i in 0..3 {
        let manifest = pod_manifest(&generator, i, &ns);
        pods.create(&Default::default(), &serde_json::from_value(manifest.clone()).unwrap()).await.unwrap();
        local_server.create(manifest).unwrap();
    }

    let collection = format!("/api/v1/namespaces/{ns}/pods");
    let half = ShardSelector::from(ShardRange::FULL.split(2).unwrap()[0]);
    let questions = [
        format!("{collection}?shardSelector={}", encode(&shard_selector_expression(&half, ShardField::Uid))),
        format!(
            "{collection}?shardSelector={}",
            encode("shardRange(object.metadata.uid, '0x8000000000000000', '0x8000000000000000')")
        ),
    ];
    for question in &questions {
        let (want, got) = (ask(&real, question).await, ask(&local, question).await);
        println!("[probe, no gate] {question}\n    real  {want:?}\n    local {got:?}");
        assert_eq!(
            want,
            Answer { code: 200, kind: "list".into(), items: Some((3, false)), shard_info: None, message: None }
        );
        assert_eq!(got, want, "{question}");
    }

    for (name, client) in [("real", real.clone()), ("local", local.clone())] {
        let source = KubeSource::<informer_kube::k8s_openapi::api::core::v1::Pod>::namespaced(client, &ns)
            .with_shard_selector(half.clone(), ShardField::Uid);
        let err = source.list(&ListOptions::first_page(Some(10))).await.expect_err("a list the server did not shard");
        assert_eq!(err.kind(), ErrorKind::Permanent, "{name}: {err}");
        assert!(err.to_string().contains("does not support shardSelector"), "{name}: {err}");
        let err = source.watch_list(None, &WatchOptions::default()).await.err().expect("no streaming list unsharded");
        assert!(err.to_string().contains("does not support shardSelector"), "{name}: {err}");
    }
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

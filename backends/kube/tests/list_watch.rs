//! The kube backend with the real `kube` client against the local API server: typed and
//! dynamic objects, paged lists, watches under load, selectors, transforms.

mod common;

use std::time::Duration;

use common::{create_pods, eventually, fast_config, rv, setup, start, store_versions};
use informer_core::{KeyFn, ReflectorConfig, Store};
use informer_kube::kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use informer_kube::{KubeSource, RawObject, RawOptions, key_fn};
use informer_tests::kube_api::PodGenerator;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_pods_list_in_pages_of_500_with_ten_requests() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    let pods = PodGenerator::new(1);
    create_pods(&s.server, &pods, 5_000);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let r = start(source, key_fn::<Pod>(), fast_config().with_page_size(Some(500))).synced().await;
    assert_eq!(r.store.len(), 5_000);
    assert_eq!(s.server.counters().lists, 10, "5 000 pods in pages of 500");
    let lists: Vec<_> = s.server.requests().into_iter().filter(|q| q.verb == "list").collect();
    assert_eq!(lists[0].param("limit"), Some("500"));
    assert_eq!(lists[0].param("resourceVersion"), Some("0"), "the first list may come from the watch cache");
    assert!(lists[1..].iter().all(|q| q.param("continue").is_some() && q.param("resourceVersion").is_none()));
    assert_eq!(store_versions(&r.store, rv), s.server.keys_and_versions("Pod"));
    assert_eq!(r.handle.last_synced_version().unwrap().as_str(), s.server.revision().to_string());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_cache_lists_that_ignore_the_limit_arrive_in_one_page() {
    let s = setup().await;
    s.server.set_paginate_cached_lists(false);
    create_pods(&s.server, &PodGenerator::new(2), 1_200);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config()).synced().await;
    assert_eq!((r.store.len(), s.server.counters().lists), (1_200, 1));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_first_list_sends_no_resource_version() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(3), 20);
    let config = fast_config().with_consistent_first_list(true);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), config).synced().await;
    let first = s.server.requests().into_iter().find(|q| q.verb == "list").unwrap();
    assert_eq!(first.param("resourceVersion"), None);
    assert_eq!(r.store.len(), 20);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_changes_while_watching_leave_the_store_equal_to_the_server() {
    let s = setup().await;
    let pods = PodGenerator::new(4);
    create_pods(&s.server, &pods, 300);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config()).synced().await;
    let mut rng = fastrand::Rng::with_seed(4);
    let mut next = 300;
    let mut changes = 0u64;
    while changes < 2_000 {
        let step = changes;
        match rng.u8(..10) {
            0..=5 => {
                let i = rng.usize(..next);
                let mut pod = pods.pod(i);
                PodGenerator::touch(&mut pod, step);
                s.server.apply(pod).unwrap();
                changes += 1;
            }
            6..=7 => {
                s.server.create(pods.pod(next)).unwrap();
                next += 1;
                changes += 1;
            }
            _ => {
                let i = rng.usize(..next);
                let pod = pods.pod(i);
                // A pod that is already gone answers 404 and is not a change.
                let deleted = s.server.delete(
                    "Pod",
                    pod["metadata"]["namespace"].as_str(),
                    pod["metadata"]["name"].as_str().unwrap(),
                );
                changes += u64::from(deleted.is_ok());
            }
        }
    }
    let expected = s.server.keys_and_versions("Pod");
    eventually("store equals server", Duration::from_secs(15), || store_versions(&r.store, rv) == expected).await;
    assert_eq!(s.server.counters().lists, 1, "no relist");
    assert!(r.handle.metrics().events_total() >= 2_000, "{:?}", r.handle.metrics());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_and_field_selectors_are_passed_through() {
    let s = setup().await;
    let pods = PodGenerator::new(5).with_nodes(4);
    create_pods(&s.server, &pods, 400);
    let source = KubeSource::<Pod>::all(s.client.clone())
        .with_label_selector("team=payments")
        .with_field_selector("spec.nodeName=node-1");
    let r = start(source, key_fn::<Pod>(), fast_config()).synced().await;
    let matching =
        |p: &serde_json::Value| p["metadata"]["labels"]["team"] == "payments" && p["spec"]["nodeName"] == "node-1";
    let expected: Vec<String> = (0..400)
        .map(|i| pods.pod(i))
        .filter(matching)
        .map(|p| {
            format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap())
        })
        .collect();
    assert!(!expected.is_empty() && expected.len() < 400);
    let mut keys: Vec<String> = r.store.snapshot().keys().map(|k| k.to_string()).collect();
    let mut expected_sorted = expected.clone();
    keys.sort();
    expected_sorted.sort();
    assert_eq!(keys, expected_sorted);
    for request in s.server.requests() {
        assert_eq!(request.param("labelSelector"), Some("team=payments"));
        assert_eq!(request.param("fieldSelector"), Some("spec.nodeName=node-1"));
    }
    // A pod that stops matching leaves the store (the server sends DELETED), one that starts
    // matching arrives (ADDED).
    let first = (0..400).map(|i| pods.pod(i)).find(matching).unwrap();
    let mut moved = first.clone();
    moved["metadata"]["labels"]["team"] = json!("growth");
    s.server.apply(moved).unwrap();
    let newcomer = (0..400).map(|i| pods.pod(i)).find(|p| !matching(p) && p["spec"]["nodeName"] == "node-1").unwrap();
    let mut joined = newcomer.clone();
    joined["metadata"]["labels"]["team"] = json!("payments");
    s.server.apply(joined).unwrap();
    let key = |p: &serde_json::Value| {
        format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap())
    };
    eventually("selector moves are mirrored", Duration::from_secs(10), || {
        Store::get_by_key(&*r.store, &key(&first)).is_none() && Store::get_by_key(&*r.store, &key(&newcomer)).is_some()
    })
    .await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_typed_configmaps_see_only_their_namespace() {
    let s = setup().await;
    for ns in ["a", "b"] {
        for i in 0..5 {
            s.server
                .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "namespace": ns}, "data": {"i": i.to_string()}}))
                .unwrap();
        }
    }
    let r = start(KubeSource::<ConfigMap>::namespaced(s.client.clone(), "b"), key_fn::<ConfigMap>(), fast_config())
        .synced()
        .await;
    let keys: Vec<String> = r.store.snapshot().keys().map(|k| k.to_string()).collect();
    assert_eq!(keys, (0..5).map(|i| format!("b/cm-{i}")).collect::<Vec<_>>());
    s.server.delete("ConfigMap", Some("b"), "cm-0").unwrap();
    s.server.delete("ConfigMap", Some("a"), "cm-1").unwrap();
    eventually("delete mirrored", Duration::from_secs(10), || r.store.len() == 4).await;
    assert!(s.server.requests().iter().all(|q| q.path == "/api/v1/namespaces/b/configmaps"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_cluster_scoped_custom_resources_are_keyed_by_name() {
    let s = setup().await;
    for i in 0..7 {
        s.server
            .create(json!({"apiVersion": "example.informer.dev/v1", "kind": "Widget",
                "metadata": {"name": format!("w{i}")}, "spec": {"size": i}}))
            .unwrap();
    }
    let gvk = GroupVersionKind::gvk("example.informer.dev", "v1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let source = KubeSource::<DynamicObject>::dynamic(s.client.clone(), &resource, None);
    assert_eq!(source.path(), "/apis/example.informer.dev/v1/widgets");
    let r = start(source, key_fn::<DynamicObject>(), fast_config()).synced().await;
    assert_eq!(r.store.len(), 7);
    let w3 = Store::get_by_key(&*r.store, "w3").expect("keyed by name");
    assert_eq!(w3.data["spec"]["size"], 3);
    let mut changed = s.server.get("Widget", None, "w3").unwrap();
    changed["spec"]["size"] = json!(30);
    s.server.update(changed).unwrap();
    eventually("update mirrored", Duration::from_secs(10), || {
        Store::get_by_key(&*r.store, "w3").is_some_and(|w| w.data["spec"]["size"] == 30)
    })
    .await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_managed_fields_transform_keeps_them_out_of_the_store() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(6), 50);
    let source = KubeSource::<Pod>::all(s.client.clone()).strip_managed_fields();
    let r = start(source, key_fn::<Pod>(), fast_config()).synced().await;
    let server_pod =
        s.server.get("Pod", Some("ns-0"), PodGenerator::new(6).pod(0)["metadata"]["name"].as_str().unwrap());
    assert!(server_pod.unwrap()["metadata"]["managedFields"].is_array(), "the server sends managedFields");
    assert!(r.store.snapshot().values().all(|p| p.metadata.managed_fields.is_none()));
    assert!(r.store.snapshot().values().all(|p| p.metadata.labels.is_some()));
    // Watched objects are transformed too.
    let mut pod = PodGenerator::new(6).pod(60);
    pod["metadata"]["namespace"] = json!("ns-0");
    s.server.create(pod).unwrap();
    eventually("new pod mirrored", Duration::from_secs(10), || r.store.len() == 51).await;
    assert!(r.store.snapshot().values().all(|p| p.metadata.managed_fields.is_none()));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_objects_mirror_compact_json_and_decode_on_read() {
    let s = setup().await;
    let pods = PodGenerator::new(7);
    create_pods(&s.server, &pods, 200);
    let options = RawOptions::default().strip_managed_fields(true).extract("spec.nodeName");
    let source = KubeSource::raw(s.client.clone(), &ApiResource::erase::<Pod>(&()), None, options);
    let r = start(source, KeyFn::<RawObject>::keyed(), fast_config()).synced().await;
    assert_eq!(store_versions(&r.store, |o| o.resource_version().to_string()), s.server.keys_and_versions("Pod"));
    for raw in r.store.snapshot().values() {
        assert!(raw.json().len() < 5_500, "managedFields stripped: {} bytes", raw.json().len());
        let pod: Pod = raw.decode().expect("raw JSON decodes as a Pod");
        assert_eq!(pod.metadata.name.as_deref(), Some(raw.name()));
        assert_eq!(pod.spec.as_ref().and_then(|s| s.node_name.as_deref()), raw.field("spec.nodeName"));
        assert!(pod.metadata.managed_fields.is_none());
    }
    let mut pod = pods.pod(3);
    PodGenerator::touch(&mut pod, 99);
    let written = s.server.apply(pod).unwrap();
    let key = format!(
        "{}/{}",
        written["metadata"]["namespace"].as_str().unwrap(),
        written["metadata"]["name"].as_str().unwrap()
    );
    let version = written["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    eventually("modification mirrored", Duration::from_secs(10), || {
        Store::get_by_key(&*r.store, &key).is_some_and(|o| o.resource_version() == version)
    })
    .await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_config_reflector_syncs_through_a_kubeconfig_client() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(8), 10);
    let r = start(KubeSource::<Pod>::namespaced(s.client.clone(), "ns-1"), key_fn::<Pod>(), ReflectorConfig::default())
        .synced()
        .await;
    assert!(r.store.snapshot().keys().all(|k| k.starts_with("ns-1/")));
    assert!(!r.store.is_empty());
    r.stop().await;
}

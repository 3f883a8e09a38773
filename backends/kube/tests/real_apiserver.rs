//! The kube backend against a real kube-apiserver 1.37 on etcd 3.7 (built from their Go
//! modules by `.ci/setup`; see `informer_tests::control_plane`): typed, dynamic and raw objects,
//! paged lists, watches under churn, streaming lists, bookmarks, selectors, a custom resource
//! whose definition goes away, and a user without RBAC rights.
//!
//! One control plane serves every test of this binary; each test works in its own namespace.
//! Tests that restart the apiserver or compact etcd are in `real_apiserver_restart.rs`.

mod real;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use informer_core::{ErrorKind, InitialList, KeyFn, ListOptions, ListerWatcher, WatchOptions};
use informer_kube::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use informer_kube::{KubeSource, RawOptions, key_fn};
use informer_tests::control_plane::{ControlPlane, User};
use informer_tests::reflect::{self, eventually};
use k8s_openapi::api::core::v1::Pod;
use real::{admin, create_pods, delete_now, pod, real_config, server_pods, store_pods};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_pods_mirror_in_ten_pages_of_500_with_a_consistent_first_list() {
    let (client, ns) = admin("pages").await;
    create_pods(&client, &ns, 0..5_000).await;
    let server = server_pods(&client, &ns).await;

    // A consistent read (no resourceVersion) honours the limit: 10 pages of 500.
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let config = real_config().with_page_size(Some(500)).with_consistent_first_list(true);
    let r = reflect::start(source, key_fn::<Pod>(), config).synced().await;
    let metrics = r.handle.metrics();
    println!("[real pages] consistent first list: {metrics:?}");
    assert_eq!(r.store.len(), 5_000);
    assert_eq!((metrics.lists, metrics.list_pages), (1, 10), "one list of 10 pages of 500: {metrics:?}");
    assert_eq!(store_pods(&r.store), server, "the store equals a fresh list");
    r.stop().await;

    // The default first list (resourceVersion=0, from the watch cache): kube-apiserver 1.37
    // ignores the limit there and answers the whole collection in one page.
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let r = reflect::start(source, key_fn::<Pod>(), real_config().with_page_size(Some(500))).synced().await;
    let metrics = r.handle.metrics();
    println!("[real pages] resourceVersion=0 first list: {metrics:?}");
    assert_eq!((metrics.lists, metrics.list_pages), (1, 1), "the watch cache ignores the limit: {metrics:?}");
    assert_eq!(store_pods(&r.store), server);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_changes_while_watching_raw_objects_leave_the_store_equal_to_the_server() {
    let (client, ns) = admin("churn").await;
    create_pods(&client, &ns, 0..200).await;
    let resource = ApiResource::erase::<Pod>(&());
    let source =
        KubeSource::raw(client.clone(), &resource, Some(&ns), RawOptions::default().strip_managed_fields(true));
    let r = reflect::start(source, KeyFn::keyed(), real_config()).synced().await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut rng = fastrand::Rng::with_seed(2_000);
    let (mut next, mut live) = (200usize, (0..200).collect::<Vec<usize>>());
    let mut counts = BTreeMap::<&str, u32>::new();
    for step in 0..2_000u32 {
        let kind = match rng.u8(..10) {
            _ if live.is_empty() => "create",
            0..=3 => "annotate",
            4..=5 => "relabel",
            6..=7 => "create",
            _ => "delete",
        };
        match kind {
            "create" => {
                api.create(&Default::default(), &pod(&ns, next)).await.expect("create");
                live.push(next);
                next += 1;
            }
            "delete" => {
                let i = live.swap_remove(rng.usize(..live.len()));
                delete_now(&api, &real::name(i)).await;
            }
            _ => {
                let i = live[rng.usize(..live.len())];
                let patch = if kind == "annotate" {
                    json!({"metadata": {"annotations": {"informer.dev/step": step.to_string()}}})
                } else {
                    let tier = ["frontend", "backend", "data"][rng.usize(..3)];
                    json!({"metadata": {"labels": {"tier": tier}}})
                };
                api.patch(&real::name(i), &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
            }
        }
        *counts.entry(kind).or_default() += 1;
    }
    let server = server_pods(&client, &ns).await;
    let raw_versions = || {
        r.store
            .snapshot()
            .into_iter()
            .map(|(k, o)| (k.to_string(), o.resource_version().to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let converged = eventually(Duration::from_secs(30), || async { raw_versions() == server }).await;
    let metrics = r.handle.metrics();
    println!("[real churn] {counts:?}; {} pods; {metrics:?}", server.len());
    assert!(converged, "the store equals the server after 2 000 changes");
    assert_eq!(metrics.relists, 0, "a healthy watch needs no relist: {metrics:?}");
    assert!(metrics.events_total() >= 2_000, "every change arrived as an event: {metrics:?}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_mirrors_through_watch_list_without_listing() {
    let (client, ns) = admin("stream").await;
    create_pods(&client, &ns, 0..300).await;
    let config = real_config().with_initial_list(InitialList::Streaming);
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let r = reflect::start(source, key_fn::<Pod>(), config).synced().await;
    let metrics = r.handle.metrics();
    println!("[real streaming] {metrics:?}");
    assert_eq!((metrics.lists, metrics.list_pages), (1, 0), "WatchList is on in 1.37: no LIST request: {metrics:?}");
    assert_eq!(store_pods(&r.store), server_pods(&client, &ns).await);
    // The stream goes on as a watch.
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    api.create(&Default::default(), &pod(&ns, 300)).await.unwrap();
    let server = server_pods(&client, &ns).await;
    assert!(eventually(Duration::from_secs(10), || async { store_pods(&r.store) == server }).await);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_arrive_on_an_idle_watch() {
    let (client, ns) = admin("bookmarks").await;
    create_pods(&client, &ns, 0..3).await;
    // The watch cache sends a bookmark about 2 s before a watch's timeout (and once a minute).
    let config = real_config().with_watch_timeout(Some(Duration::from_secs(6)));
    let source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
    let r = reflect::start(source, key_fn::<Pod>(), config).synced().await;
    let got = eventually(Duration::from_secs(40), || async { r.handle.metrics().bookmarks > 0 }).await;
    let metrics = r.handle.metrics();
    println!("[real bookmarks] {metrics:?}");
    assert!(got, "a bookmark within 40 s on an idle watch: {metrics:?}");
    assert_eq!(metrics.relists, 0, "{metrics:?}");
    // A resourceVersion=0 list may come from a watch cache a moment behind: the 3 pods arrive
    // in the list or as watch events, and the store holds them either way.
    assert_eq!(store_pods(&r.store), server_pods(&client, &ns).await);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_and_field_selectors_select_what_the_server_selects() {
    let (client, ns) = admin("selectors").await;
    create_pods(&client, &ns, 0..120).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for (label, field) in
        [("tier=backend", None), ("team in (payments,growth),tier!=data", None), ("", Some("spec.nodeName=node-7"))]
    {
        let mut source = KubeSource::<Pod>::namespaced(client.clone(), &ns);
        let mut params = informer_kube::kube::api::ListParams::default();
        if !label.is_empty() {
            source = source.with_label_selector(label);
            params = params.labels(label);
        }
        if let Some(field) = field {
            source = source.with_field_selector(field);
            params = params.fields(field);
        }
        let r = reflect::start(source, key_fn::<Pod>(), real_config()).synced().await;
        let expected: BTreeMap<String, String> = api
            .list(&params)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| (format!("{ns}/{}", p.metadata.name.unwrap()), p.metadata.resource_version.unwrap()))
            .collect();
        println!("[real selectors] {label:?} {field:?}: {} of 120 pods", expected.len());
        assert!(!expected.is_empty() && expected.len() < 120, "the selector selects some pods: {label} {field:?}");
        assert_eq!(store_pods(&r.store), expected, "{label} {field:?}");
        r.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_mirrors_through_the_dynamic_api_and_its_removal_is_reported() {
    let (client, ns) = admin("crd").await;
    let group = format!("{ns}.informer.dev");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    });
    let crds = real::crds(&client);
    crds.create(&Default::default(), &serde_json::from_value(crd).unwrap()).await.expect("CRD created");
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, "v1", "Gadget"), "gadgets");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let established =
        eventually(Duration::from_secs(30), || async { gadgets.list(&Default::default()).await.is_ok() }).await;
    assert!(established, "the CRD is served within 30 s");
    for i in 0..20 {
        let gadget = json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
            "metadata": {"name": format!("gadget-{i}")}, "spec": {"size": i}});
        gadgets.create(&Default::default(), &serde_json::from_value(gadget).unwrap()).await.expect("gadget created");
    }
    let source = KubeSource::dynamic(client.clone(), &resource, Some(&ns));
    let r = reflect::start(source.clone(), key_fn::<DynamicObject>(), real_config()).synced().await;
    assert_eq!(r.store.len(), 20);
    let sizes: Vec<i64> =
        r.store.snapshot().values().filter_map(|g| g.data["spec"]["size"].as_i64()).collect::<Vec<_>>();
    assert_eq!(sizes.iter().sum::<i64>(), (0..20).sum::<i64>(), "the dynamic objects carry their spec");

    crds.delete(&format!("gadgets.{group}"), &Default::default()).await.expect("CRD deleted");
    // Once the definition is gone the collection is 404: a permanent error naming the path.
    let gone = eventually(Duration::from_secs(60), || async {
        matches!(source.list(&ListOptions::first_page(Some(10))).await, Err(e) if e.kind() == ErrorKind::Permanent)
    })
    .await;
    assert!(gone, "the list fails for good once the CRD is deleted");
    let err = source.list(&ListOptions::first_page(Some(10))).await.unwrap_err();
    println!("[real crd] after deletion: {err}; {:?}", r.handle.metrics());
    assert!(err.to_string().contains("404") && err.to_string().contains("gadgets"), "{err}");
    assert!(
        eventually(Duration::from_secs(60), || async { r.handle.metrics().errors > 0 }).await,
        "the running mirror's watch ends and its errors count: {:?}",
        r.handle.metrics()
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_rights_gets_forbidden_with_the_servers_reason() {
    let cp = ControlPlane::shared();
    let (admin_client, ns) = admin("forbidden").await;
    create_pods(&admin_client, &ns, 0..2).await;
    let nobody = cp.client(User::Unprivileged).await.expect("client");
    let source = KubeSource::<Pod>::namespaced(nobody, &ns);
    let err = source.list(&ListOptions::first_page(Some(10))).await.unwrap_err();
    println!("[real forbidden] list: {err}");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    let text = err.to_string();
    assert!(text.contains("403") && text.contains("Forbidden"), "{text}");
    assert!(text.contains("\"informer-nobody\" cannot list resource \"pods\""), "the server's reason: {text}");
    let watch = source.watch(&"1".into(), &WatchOptions::default()).await;
    let err = match watch {
        Err(e) => e,
        Ok(mut stream) => stream.next().await.expect("an answer").expect_err("forbidden"),
    };
    println!("[real forbidden] watch: {err}");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("cannot watch resource \"pods\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reports_kubernetes_1_37() {
    let (client, _) = admin("version").await;
    let version = client.apiserver_version().await.expect("/version");
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "37"));
    assert!(version.git_version.starts_with("v1.37."), "{version:?}");
}

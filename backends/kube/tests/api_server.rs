//! The local API server's own semantics, checked through the `kube` client's raw requests
//! and its own watch-event decoder (so the wire format is what `kube` expects).

mod common;

use std::time::Duration;

use common::{create_pods, setup};
use futures::StreamExt;
use informer_kube::kube::core::WatchEvent;
use informer_kube::kube::{Client, Error};
use informer_tests::kube_api::PodGenerator;
use serde_json::{Value, json};

async fn get(client: &Client, uri: &str) -> Result<Value, Error> {
    let text = client.request_text(http::Request::get(uri).body(Vec::new()).unwrap()).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

fn code(err: Error) -> (u16, String) {
    match err {
        Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_carry_version_continue_and_remaining_count() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(51).with_namespaces(1), 25);
    let page = get(&s.client, "/api/v1/namespaces/ns-0/pods?limit=10").await.unwrap();
    assert_eq!((page["kind"].as_str(), page["apiVersion"].as_str()), (Some("PodList"), Some("v1")));
    assert_eq!(page["metadata"]["resourceVersion"], s.server.revision().to_string());
    assert_eq!(page["metadata"]["remainingItemCount"], 15);
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    assert!(page["items"][0]["metadata"]["resourceVersion"].is_string());
    let token = page["metadata"]["continue"].as_str().unwrap();
    let rest = get(&s.client, &format!("/api/v1/namespaces/ns-0/pods?limit=100&continue={token}")).await.unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 15);
    assert!(rest["metadata"].get("continue").is_none());
    // Selectors filter, and pages with selectors carry no remainingItemCount.
    let filtered = get(&s.client, "/api/v1/pods?limit=1&labelSelector=tier%3Dbackend").await.unwrap();
    assert!(filtered["metadata"].get("remainingItemCount").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_reads_return_the_past_and_not_older_than_the_present() {
    let s = setup().await;
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}, "data": {"v": v}});
    s.server.create(cm("one")).unwrap();
    s.server.apply(cm("two")).unwrap();
    let past = get(&s.client, "/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact").await.unwrap();
    assert_eq!(past["metadata"]["resourceVersion"], "1");
    assert_eq!(past["items"][0]["data"]["v"], "one");
    let now = get(&s.client, "/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=NotOlderThan").await.unwrap();
    assert_eq!(now["items"][0]["data"]["v"], "two");
    // Without a match, a limit makes rv=N exact (the documented legacy rule).
    let legacy = get(&s.client, "/api/v1/configmaps?resourceVersion=1&limit=5").await.unwrap();
    assert_eq!(legacy["items"][0]["data"]["v"], "one");
    s.server.compact();
    let gone = get(&s.client, "/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact").await.unwrap_err();
    assert_eq!(code(gone), (410, "Expired".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_options_get_the_real_servers_status_codes() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(52), 3);
    let c = &s.client;
    assert_eq!(code(get(c, "/api/v1/pods?continue=abc&resourceVersion=5").await.unwrap_err()).0, 400);
    assert_eq!(
        code(get(c, "/api/v1/pods?resourceVersionMatch=NotOlderThan").await.unwrap_err()),
        (422, "Invalid".into())
    );
    assert_eq!(code(get(c, "/api/v1/pods?resourceVersion=0&resourceVersionMatch=Exact").await.unwrap_err()).0, 422);
    assert_eq!(code(get(c, "/api/v1/pods?sendInitialEvents=true").await.unwrap_err()).0, 422);
    assert_eq!(code(get(c, "/api/v1/pods?watch=true&resourceVersionMatch=NotOlderThan").await.unwrap_err()).0, 422);
    assert_eq!(code(get(c, "/api/v1/pods?labelSelector=a%3D(").await.unwrap_err()).0, 400);
    assert_eq!(code(get(c, "/api/v1/services").await.unwrap_err()), (404, "NotFound".into()));
    assert_eq!(code(get(c, "/api/v1/namespaces/x/pods/missing").await.unwrap_err()), (404, "NotFound".into()));
    let name = PodGenerator::new(52).pod(0)["metadata"]["name"].as_str().unwrap().to_string();
    let pod = get(c, &format!("/api/v1/namespaces/ns-0/pods/{name}")).await.unwrap();
    assert_eq!(pod["metadata"]["name"], name.as_str());
    let discovery = get(c, "/apis/example.informer.dev/v1").await.unwrap();
    assert_eq!(discovery["resources"][0]["name"], "widgets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_decode_with_kubes_own_decoder() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(53), 2);
    let request = http::Request::get("/api/v1/pods?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=")
        .body(Vec::new())
        .unwrap();
    let events = s.client.request_events::<Value>(request).await.unwrap();
    let mut events = Box::pin(events);
    let mut next =
        async || tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(next().await, WatchEvent::Added(_)));
    assert!(matches!(next().await, WatchEvent::Added(_)));
    match next().await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.resource_version, s.server.revision().to_string());
            assert_eq!(b.metadata.annotations.get("k8s.io/initial-events-end").map(String::as_str), Some("true"));
        }
        other => panic!("expected the initial-events-end bookmark, got {other:?}"),
    }
    s.server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}))
        .unwrap();
    s.server.send_bookmarks();
    match next().await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata.resource_version,
                s.server.revision().to_string(),
                "bookmarks follow global revisions"
            );
            assert!(b.metadata.annotations.is_empty());
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    s.server.expire_next_watches(1);
    let request = http::Request::get("/api/v1/pods?watch=true&resourceVersion=1").body(Vec::new()).unwrap();
    let mut expired = Box::pin(s.client.request_events::<Value>(request).await.unwrap());
    match expired.next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => assert_eq!((status.code, status.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

//! How `KubeSource` reports the API server's failures, called directly (no reflector).

mod common;

use std::time::Duration;

use common::{create_pods, setup};
use futures::StreamExt;
use informer_core::{ErrorKind, ListOptions, ListerWatcher, Version, WatchEvent, WatchOptions};
use informer_kube::kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use informer_kube::{KubeSource, RawOptions};
use informer_tests::kube_api::PodGenerator;
use k8s_openapi::api::core::v1::Pod;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_continue_token_is_expired() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    let pods = PodGenerator::new(41);
    create_pods(&s.server, &pods, 30);
    // Without read-ahead: a page requested ahead would be answered before the compaction
    // below (read_ahead.rs covers an expired page read ahead).
    let source = KubeSource::<Pod>::all(s.client.clone()).with_read_ahead(false);
    let first = source.list(&ListOptions::first_page(Some(10))).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let token = first.continue_token.clone().expect("more pages");
    // Pages of one list share its version, even with writes in between.
    s.server.create(pods.pod(30)).unwrap();
    let second = source.list(&ListOptions::first_page(Some(10)).with_continue(Some(token.clone()))).await.unwrap();
    assert_eq!(second.version, first.version);
    s.server.compact();
    let err = source.list(&ListOptions::first_page(Some(10)).with_continue(second.continue_token)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains("410"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_resource_version_is_expired() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(42), 3);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let ahead = Version::from((s.server.revision() + 100).to_string());
    let t = std::time::Instant::now();
    let err = source.list(&ListOptions::first_page(Some(10)).with_min_version(Some(ahead.clone()))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.message().contains("Too large resource version"));
    assert!(t.elapsed() < Duration::from_secs(2), "answered without client-side retries");
    assert_eq!(s.server.counters().lists, 1);
    // The consistent read the reflector falls back to succeeds.
    let page =
        source.list(&ListOptions::first_page(Some(10)).with_min_version(Some(ahead)).with_consistent(true)).await;
    assert_eq!(page.unwrap().items.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_version_yields_an_expired_error_event() {
    let s = setup().await;
    let pods = PodGenerator::new(43);
    create_pods(&s.server, &pods, 3);
    s.server.create(pods.pod(3)).unwrap();
    s.server.compact();
    let source = KubeSource::<Pod>::all(s.client.clone());
    let mut stream = source.watch(&Version::from("1"), &WatchOptions::default()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap();
    let err = first.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.message().contains("too old resource version: 1"), "{err}");
    assert!(stream.next().await.is_none(), "the stream ends after the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_changes_after_the_version_with_their_versions() {
    let s = setup().await;
    let pods = PodGenerator::new(44);
    create_pods(&s.server, &pods, 2);
    let from = Version::from(s.server.revision().to_string());
    let source = KubeSource::<Pod>::all(s.client.clone());
    let mut stream = source.watch(&from, &WatchOptions::default()).await.unwrap();
    s.server.create(pods.pod(2)).unwrap();
    let name = pods.pod(0)["metadata"]["name"].as_str().unwrap().to_string();
    let deleted_at = s.server.delete("Pod", Some("ns-0"), &name).unwrap();
    let added = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&added, WatchEvent::Added { version, .. } if version.as_str() == (deleted_at - 1).to_string()));
    let deleted = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
    match deleted {
        WatchEvent::Deleted { object, version } => {
            assert_eq!(object.metadata.name.as_deref(), Some(name.as_str()));
            assert_eq!(version.as_str(), deleted_at.to_string(), "a deletion carries its own version");
        }
        other => panic!("expected DELETED, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_is_permanent_and_bad_selector_too() {
    let s = setup().await;
    let gvk = GroupVersionKind::gvk("nothing.example", "v1", "Ghost");
    let ghost = KubeSource::<DynamicObject>::dynamic(s.client.clone(), &ApiResource::from_gvk(&gvk), None);
    let err = ghost.list(&ListOptions::first_page(Some(5))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.message().contains("404") && err.message().contains("/apis/nothing.example/v1/ghosts"), "{err}");
    let bad = KubeSource::<Pod>::all(s.client.clone()).with_field_selector("spec.unknownField=1");
    let err = bad.list(&ListOptions::first_page(Some(5))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.message().contains("field label not supported"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_streaming_list_is_unsupported() {
    let s = setup().await;
    s.server.set_watch_list_supported(false);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let err = source.watch_list(None, &WatchOptions::default()).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.message().contains("422"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_transient() {
    let s = setup().await;
    let client = s.client.clone();
    drop(s.server);
    let raw = KubeSource::raw(client, &ApiResource::erase::<Pod>(&()), None, RawOptions::default());
    let err = raw.list(&ListOptions::first_page(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
}

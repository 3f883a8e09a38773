//! Streaming lists (`sendInitialEvents`) against the local API server.

mod common;

use std::time::Duration;

use common::{create_pods, eventually, fast_config, rv, setup, start, store_versions};
use informer_core::InitialList;
use informer_kube::{KubeSource, key_fn};
use informer_tests::kube_api::PodGenerator;
use k8s_openapi::api::core::v1::Pod;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_syncs_at_the_initial_events_end_bookmark() {
    let s = setup().await;
    let pods = PodGenerator::new(31);
    create_pods(&s.server, &pods, 700);
    let config = fast_config().with_initial_list(InitialList::Streaming);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), config).synced().await;
    assert_eq!(r.store.len(), 700);
    assert_eq!(r.handle.last_synced_version().unwrap().as_str(), s.server.revision().to_string());
    let c = s.server.counters();
    assert_eq!((c.lists, c.watch_lists, c.watches), (0, 1, 1), "one streaming watch, no list");
    let request = s.server.requests().into_iter().next().unwrap();
    assert_eq!(request.param("sendInitialEvents"), Some("true"));
    assert_eq!(request.param("resourceVersionMatch"), Some("NotOlderThan"));
    assert_eq!(request.param("resourceVersion"), Some(""), "first streaming list is a consistent read");
    // The same stream goes on as a watch.
    let mut pod = pods.pod(1);
    PodGenerator::touch(&mut pod, 3);
    s.server.apply(pod).unwrap();
    s.server.create(pods.pod(700)).unwrap();
    let expected = s.server.keys_and_versions("Pod");
    eventually("changes after the sync arrive", Duration::from_secs(10), || store_versions(&r.store, rv) == expected)
        .await;
    assert_eq!(s.server.counters().watches, 1);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_streaming_list_falls_back_to_list_and_watch() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    s.server.set_watch_list_supported(false);
    create_pods(&s.server, &PodGenerator::new(32), 120);
    let config = fast_config().with_initial_list(InitialList::Streaming).with_page_size(Some(50));
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), config).synced().await;
    assert_eq!(store_versions(&r.store, rv), s.server.keys_and_versions("Pod"));
    let c = s.server.counters();
    assert_eq!(c.watch_lists, 1, "one refused attempt");
    assert_eq!(c.lists, 3, "then a paged list");
    eventually("then a plain watch", Duration::from_secs(5), || s.server.counters().watches == 2).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripped_end_bookmark_falls_back_to_a_paged_list_after_the_stall_time() {
    let s = setup().await;
    s.server.set_strip_initial_events_end(true);
    create_pods(&s.server, &PodGenerator::new(33), 300);
    let config = fast_config()
        .with_initial_list(InitialList::Auto)
        .with_initial_events_stall(Duration::from_millis(300))
        .with_page_size(Some(100));
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), config);
    r.handle.wait_synced_for(Duration::from_secs(10)).await.expect("synced through the paged list");
    assert_eq!(store_versions(&r.store, rv), s.server.keys_and_versions("Pod"));
    let m = r.handle.metrics();
    assert_eq!((m.stream_fallbacks, m.errors), (1, 0), "{m:?}");
    let c = s.server.counters();
    assert_eq!(c.watch_lists, 1, "one streaming attempt, then paged lists");
    assert!(c.lists >= 1, "{c:?}");
    r.stop().await;
}

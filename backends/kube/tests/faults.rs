//! Disconnects, expired versions, compaction and bookmarks, with the real `kube` client
//! against the local API server.

mod common;

use std::time::Duration;

use common::{create_pods, eventually, fast_config, rv, setup, setup_with, start, store_versions};
use informer_kube::{KubeSource, key_fn};
use informer_tests::kube_api::{PodGenerator, ServerOptions};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_dropped_watches_cause_no_extra_list() {
    let s = setup().await;
    let pods = PodGenerator::new(21);
    create_pods(&s.server, &pods, 100);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config()).synced().await;
    for round in 0..20u64 {
        eventually("a watch is open", Duration::from_secs(5), || s.server.open_watches() == 1).await;
        let watches = s.server.counters().watches;
        s.server.drop_watches();
        // Changes while the client reconnects must arrive through the resumed watch.
        let mut pod = pods.pod(round as usize);
        PodGenerator::touch(&mut pod, round + 1);
        s.server.apply(pod).unwrap();
        eventually("the watch is resumed", Duration::from_secs(5), || s.server.counters().watches > watches).await;
    }
    let expected = s.server.keys_and_versions("Pod");
    eventually("store equals server", Duration::from_secs(10), || store_versions(&r.store, rv) == expected).await;
    assert_eq!(s.server.counters().lists, 1, "resumed watches need no list");
    assert_eq!(r.handle.metrics().relists, 0);
    // Every resumed watch asked for the version the previous one had reached.
    let watches: Vec<_> = s.server.requests().into_iter().filter(|q| q.verb == "watch").collect();
    assert!(watches.len() >= 21);
    assert!(watches.iter().all(|q| q.param("resourceVersion").is_some_and(|v| v != "0")));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_410_causes_exactly_one_relist_and_leaves_no_stale_keys() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    let pods = PodGenerator::new(22);
    create_pods(&s.server, &pods, 300);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config().with_page_size(Some(100)))
        .synced()
        .await;
    assert_eq!(s.server.counters().lists, 3);
    let before = s.server.revision();
    eventually("a watch is open", Duration::from_secs(5), || s.server.open_watches() == 1).await;
    s.server.expire_next_watches(1);
    s.server.drop_watches();
    for i in 0..30 {
        let pod = pods.pod(i);
        s.server
            .delete("Pod", pod["metadata"]["namespace"].as_str(), pod["metadata"]["name"].as_str().unwrap())
            .unwrap();
    }
    eventually("relisted", Duration::from_secs(10), || r.handle.metrics().relists == 1).await;
    let expected = s.server.keys_and_versions("Pod");
    eventually("store equals server", Duration::from_secs(10), || store_versions(&r.store, rv) == expected).await;
    assert_eq!(r.store.len(), 270);
    assert_eq!(s.server.counters().lists, 3 + 3, "one relist of three pages");
    assert_eq!(r.handle.metrics().relists, 1);
    // The relist asked for a state not older than what the store held (kubernetes #59848).
    let relist = s.server.requests().into_iter().filter(|q| q.verb == "list").nth(3).unwrap();
    let asked: u64 = relist.param("resourceVersion").unwrap().parse().unwrap();
    assert!(asked >= before, "relist from {asked}, store was at {before}");
    assert_eq!(relist.param("resourceVersionMatch"), Some("NotOlderThan"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_while_disconnected_leads_to_a_relist_that_matches_the_server() {
    let s = setup().await;
    let pods = PodGenerator::new(23);
    create_pods(&s.server, &pods, 50);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config()).synced().await;
    // The watch that reconnects after the drop finds its version compacted, unless it
    // already caught up; either way the store must end equal to the server.
    eventually("a watch is open", Duration::from_secs(5), || s.server.open_watches() == 1).await;
    s.server.drop_watches();
    for i in 0..10 {
        let mut pod = pods.pod(i);
        PodGenerator::touch(&mut pod, 7);
        s.server.apply(pod).unwrap();
    }
    s.server.compact();
    s.server.create(pods.pod(50)).unwrap();
    let expected = s.server.keys_and_versions("Pod");
    eventually("store equals server", Duration::from_secs(10), || store_versions(&r.store, rv) == expected).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_advance_the_resume_version() {
    let s = setup_with(ServerOptions::default().with_bookmark_interval(None)).await;
    create_pods(&s.server, &PodGenerator::new(24), 10);
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), fast_config()).synced().await;
    eventually("a watch is open", Duration::from_secs(5), || s.server.open_watches() == 1).await;
    let synced_at = r.handle.last_synced_version().unwrap();
    // Changes to another kind move the global revision but send no pod event.
    for i in 0..5 {
        s.server
            .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}"), "namespace": "x"}}))
            .unwrap();
    }
    let target = s.server.revision().to_string();
    assert_ne!(synced_at.as_str(), target);
    s.server.send_bookmarks();
    eventually("the bookmark moved the version", Duration::from_secs(5), || {
        r.handle.last_synced_version().is_some_and(|v| v.as_str() == target)
    })
    .await;
    assert!(r.handle.metrics().bookmarks >= 1);
    s.server.drop_watches();
    eventually("the watch is resumed", Duration::from_secs(5), || s.server.counters().watches == 2).await;
    let resumed = s.server.requests().into_iter().filter(|q| q.verb == "watch").nth(1).unwrap();
    assert_eq!(resumed.param("resourceVersion"), Some(target.as_str()), "resumed from the bookmark");
    assert_eq!(resumed.param("allowWatchBookmarks"), Some("true"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_timeout_is_sent_and_an_ended_watch_resumes_without_a_list() {
    let s = setup().await;
    create_pods(&s.server, &PodGenerator::new(25), 5);
    let config = fast_config().with_watch_timeout(Some(Duration::from_secs(1)));
    let r = start(KubeSource::<Pod>::all(s.client.clone()), key_fn::<Pod>(), config).synced().await;
    // Jittered in [1 s, 2 s): the server ends each watch after at most 2 s.
    eventually("two watches timed out and were resumed", Duration::from_secs(10), || s.server.counters().watches >= 3)
        .await;
    let watches: Vec<_> = s.server.requests().into_iter().filter(|q| q.verb == "watch").collect();
    assert!(watches.iter().all(|q| matches!(q.param("timeoutSeconds"), Some("1") | Some("2"))));
    assert_eq!(s.server.counters().lists, 1);
    r.stop().await;
}

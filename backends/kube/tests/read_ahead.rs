//! Paged lists read one page ahead: page N+1 is requested when page N arrives, and the answer
//! is the same as without read-ahead.

mod common;

use std::time::Duration;

use common::{create_pods, eventually, setup};
use informer_core::{ErrorKind, ListOptions, ListerWatcher};
use informer_kube::KubeSource;
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use k8s_openapi::api::core::v1::Pod;

/// The `continue` tokens of the list requests the server has seen, in order (`None` for a
/// first page).
fn list_requests(server: &KubeApiServer) -> Vec<Option<String>> {
    server.requests().into_iter().filter(|q| q.verb == "list").map(|q| q.param("continue").map(String::from)).collect()
}

/// Every page of a list of `limit`, as pod names per page.
async fn all_pages(source: &KubeSource<Pod>, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut options = ListOptions::first_page(Some(limit));
    loop {
        let page = source.list(&options).await.expect("page listed");
        pages.push(page.items.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect());
        match page.continue_token {
            Some(token) => options = options.with_continue(Some(token)),
            None => return pages,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_page_is_requested_before_it_is_asked_for_and_only_once() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    create_pods(&s.server, &PodGenerator::new(61), 35);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let first = source.list(&ListOptions::first_page(Some(10))).await.unwrap();
    let token = first.continue_token.clone().expect("more pages");
    eventually("page 2 requested ahead", Duration::from_secs(5), || list_requests(&s.server).len() == 2).await;
    assert_eq!(list_requests(&s.server)[1].as_deref(), Some(token.as_str()));

    let second = source.list(&ListOptions::first_page(Some(10)).with_continue(Some(token.clone()))).await.unwrap();
    assert_eq!((second.items.len(), &second.version), (10, &first.version));
    let asked_for_page_2 = list_requests(&s.server).iter().filter(|t| t.as_deref() == Some(token.as_str())).count();
    assert_eq!(asked_for_page_2, 1, "the page read ahead is used, not asked for again");

    // The whole list with read-ahead equals the list without it, with one request per page.
    let before = list_requests(&s.server).len();
    let with = all_pages(&source, 10).await;
    let requests_with = list_requests(&s.server).len() - before;
    let without = all_pages(&source.clone().with_read_ahead(false), 10).await;
    assert_eq!(with, without);
    assert_eq!(with.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 10, 5]);
    // The first call above left page 3 read ahead; the new list's first page drops it.
    assert!((4..=5).contains(&requests_with), "{requests_with} requests for 4 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_read_ahead_a_page_is_requested_only_when_asked_for() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    create_pods(&s.server, &PodGenerator::new(62), 25);
    let source = KubeSource::<Pod>::all(s.client.clone()).with_read_ahead(false);
    let first = source.list(&ListOptions::first_page(Some(10))).await.unwrap();
    assert!(first.continue_token.is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(list_requests(&s.server).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_read_ahead_carries_the_servers_error() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    create_pods(&s.server, &PodGenerator::new(63), 25);
    s.server.expire_next_continues(1);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let first = source.list(&ListOptions::first_page(Some(10))).await.unwrap();
    let err = source.list(&ListOptions::first_page(Some(10)).with_continue(first.continue_token)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains("410"), "{err}");
    assert_eq!(list_requests(&s.server).len(), 2, "the failed page was requested once, ahead");
    // A new list after the error starts from the first page and completes.
    assert_eq!(all_pages(&source, 10).await.concat().len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_read_ahead_for_other_options_is_not_used() {
    let s = setup().await;
    // About paging a resourceVersion=0 list: a watch cache that pages it (kube-apiserver 1.37
    // answers such a list in one page; real_apiserver.rs pages with a consistent read).
    s.server.set_paginate_cached_lists(true);
    create_pods(&s.server, &PodGenerator::new(64), 30);
    let source = KubeSource::<Pod>::all(s.client.clone());
    let first = source.list(&ListOptions::first_page(Some(10))).await.unwrap();
    let token = first.continue_token.clone().expect("more pages");
    eventually("page 2 requested ahead", Duration::from_secs(5), || list_requests(&s.server).len() == 2).await;
    // The same token with another limit is another request; its answer has 20 items.
    let other = source.list(&ListOptions::first_page(Some(20)).with_continue(Some(token.clone()))).await.unwrap();
    assert_eq!(other.items.len(), 20);
    assert_eq!(list_requests(&s.server).iter().filter(|t| t.as_deref() == Some(token.as_str())).count(), 2);
}

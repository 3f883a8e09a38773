//! Failure classification (5xx and connection errors are transient, 403 permanent) and the
//! token bucket against a server that answers blocking queries at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::StreamExt;
use informer_core::{ErrorKind, ListOptions, ListerWatcher, WatchOptions};
use informer_http::{HttpSource, RateLimit, presets};

/// Serves `/v1/kv/app/` answering every request at once with index 7 (a server that drops
/// the hold), `/v1/kv/down/` with 503 and `/v1/kv/denied/` with 403. Counts requests.
async fn server() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/v1/kv/app/",
            get(|State(hits): State<Arc<AtomicU64>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                ([("X-Consul-Index", "7")], r#"[{"Key":"app/a","Value":null,"ModifyIndex":7}]"#)
            }),
        )
        .route("/v1/kv/down/", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "no leader").into_response() }))
        .route("/v1/kv/denied/", get(|| async { (StatusCode::FORBIDDEN, "ACL not found").into_response() }))
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_transient_and_forbidden_is_permanent() {
    let (url, _) = server().await;
    let list = |prefix: &'static str, url: String| async move {
        let source = HttpSource::new(presets::consul_kv(&url, prefix).unwrap()).unwrap();
        source.list(&ListOptions::default()).await.unwrap_err()
    };
    let err = list("down/", url.clone()).await;
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("HTTP 503") && err.to_string().contains("no leader"), "{err}");
    let err = list("denied/", url.clone()).await;
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains(&format!("GET {url}/v1/kv/denied/")), "{err}");

    let closed = informer_tests::etcd::free_port().unwrap();
    let err = list("app/", format!("http://127.0.0.1:{closed}")).await;
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{closed}/v1/kv/app/")), "{err}");
}

#[tokio::test]
async fn quick_returns_are_paced_by_the_token_bucket() {
    let (url, hits) = server().await;
    let config = presets::consul_kv(&url, "app/")
        .unwrap()
        .with_wait(Duration::from_secs(10))
        .with_rate_limit(Some(RateLimit { burst: 3, per_second: 5.0 }));
    let source = HttpSource::new(config).unwrap();
    let page = source.list(&ListOptions::default()).await.unwrap();
    let mut options = WatchOptions::default();
    options.timeout = Some(Duration::from_secs(1));
    let events: Vec<_> = source.watch(&page.version, &options).await.unwrap().collect().await;
    assert!(events.is_empty(), "the index never moved: {events:?}");
    // 1 list + a burst of 3 + about 5 a second for 1 s; without the bucket, thousands.
    let polls = hits.load(Ordering::SeqCst) - 1;
    assert!((5..=10).contains(&polls), "{polls} polls in 1 s");
}

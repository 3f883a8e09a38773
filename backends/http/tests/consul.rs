//! The Consul KV preset against `informer_tests::consul::ConsulServer`, a local server with
//! Consul's documented blocking-query semantics.

mod support;

use std::time::Duration;

use futures::StreamExt;
use informer_core::{ListOptions, ListerWatcher, WatchEvent, WatchOptions, WatchStream};
use informer_http::{HttpItem, HttpSource, RateLimit, presets};
use informer_tests::consul::ConsulServer;
use support::{Running, contents, eventually, map_store, reflector_config};

fn source(consul: &ConsulServer) -> HttpSource {
    let config = presets::consul_kv(&consul.url(), "app/")
        .unwrap()
        .with_wait(Duration::from_secs(2))
        .with_rate_limit(Some(RateLimit { burst: 20, per_second: 50.0 }));
    HttpSource::new(config).unwrap()
}

/// The next event that is not a bookmark, as (type, key, value).
async fn next_change(stream: &mut WatchStream<HttpItem>) -> (String, String, serde_json::Value) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .expect("no error");
        match event {
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Added { object, .. } => {
                return ("ADDED".into(), object.key.to_string(), object.value["Value"].clone());
            }
            WatchEvent::Modified { object, .. } => {
                return ("MODIFIED".into(), object.key.to_string(), object.value["Value"].clone());
            }
            WatchEvent::Deleted { object, .. } => {
                return ("DELETED".into(), object.key.to_string(), object.value["Value"].clone());
            }
        }
    }
}

fn change(kind: &str, key: &str, value: &str) -> (String, String, serde_json::Value) {
    (kind.into(), key.into(), serde_json::json!(value))
}

#[tokio::test]
async fn diff_mode_emits_exactly_the_right_events_including_after_an_index_reset() {
    let consul = ConsulServer::start().await.unwrap();
    consul.put("app/a", "1");
    consul.put("app/b", "2");
    consul.put("other/x", "outside");
    let source = source(&consul);
    let page = source.list(&ListOptions::default()).await.unwrap();
    let keys: Vec<_> = page.items.iter().map(|i| i.key.to_string()).collect();
    assert_eq!(keys, ["app/a", "app/b"]);
    assert_eq!(page.items[0].value["Value"], "1");

    let mut stream = source.watch(&page.version, &WatchOptions::default()).await.unwrap();
    consul.put("app/c", "3");
    assert_eq!(next_change(&mut stream).await, change("ADDED", "app/c", "3"));
    consul.put("other/y", "outside too"); // wakes nothing under app/
    consul.put("app/a", "11");
    assert_eq!(next_change(&mut stream).await, change("MODIFIED", "app/a", "11"));
    consul.delete("app/b");
    assert_eq!(next_change(&mut stream).await, change("DELETED", "app/b", "2"));
    // Several changes between two polls come as one diff, in key order, deletions first.
    consul.put("app/d", "4");
    consul.delete("app/c");
    consul.put("app/a", "12");
    let mut batch = vec![next_change(&mut stream).await];
    while batch.len() < 3 {
        batch.push(next_change(&mut stream).await);
    }
    if batch[0] == change("ADDED", "app/d", "4") {
        // The poll may have caught the first put alone.
        assert_eq!(batch[1..], [change("DELETED", "app/c", "3"), change("MODIFIED", "app/a", "12")]);
    } else {
        assert_eq!(
            batch,
            [change("DELETED", "app/c", "3"), change("MODIFIED", "app/a", "12"), change("ADDED", "app/d", "4")]
        );
    }

    // A restored snapshot: the index goes backwards. The watch fails as expired.
    consul.reset(&[("app/a", "12"), ("app/z", "26")], 3);
    let err = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_expired(), "{err}");
    assert!(err.to_string().contains("went backwards"), "{err}");
    // After the relist, diffs start from the relisted state.
    let page = source.list(&ListOptions::default()).await.unwrap();
    assert_eq!(page.version, "3");
    let mut stream = source.watch(&page.version, &WatchOptions::default()).await.unwrap();
    consul.put("app/z", "27");
    assert_eq!(next_change(&mut stream).await, change("MODIFIED", "app/z", "27"));
    consul.delete("app/a");
    assert_eq!(next_change(&mut stream).await, change("DELETED", "app/a", "12"));
}

#[tokio::test]
async fn reflector_relists_once_after_a_reset_and_equals_the_server() {
    let consul = ConsulServer::start().await.unwrap();
    for i in 0..50 {
        consul.put(&format!("app/k{i}"), format!("v{i}"));
    }
    let store = map_store();
    let running = Running::start(source(&consul), store.clone(), reflector_config());
    assert!(running.handle.wait_synced().await);
    let server = |consul: &ConsulServer| -> std::collections::BTreeMap<String, serde_json::Value> {
        consul
            .entries()
            .into_iter()
            .filter(|(k, _)| k.starts_with("app/"))
            .map(|(k, e)| (k, serde_json::json!({"Value": String::from_utf8(e.value).unwrap()})))
            .collect()
    };
    let values = |store: &informer_tests::MapStore<HttpItem>| -> std::collections::BTreeMap<String, serde_json::Value> {
        contents(store).into_iter().map(|(k, v)| (k, serde_json::json!({"Value": v["Value"]}))).collect()
    };
    for i in 0..30 {
        if i % 3 == 0 {
            consul.delete(&format!("app/k{i}"));
        } else {
            consul.put(&format!("app/k{}", i * 7 % 60), format!("w{i}"));
        }
    }
    assert!(eventually(Duration::from_secs(10), || async { values(&store) == server(&consul) }).await);
    assert_eq!(running.handle.metrics().relists, 0);

    consul.reset(&[("app/k1", "reset"), ("app/new", "n")], 2);
    assert!(eventually(Duration::from_secs(10), || async { values(&store) == server(&consul) }).await);
    assert_eq!(running.handle.metrics().relists, 1, "{:?}", running.handle.metrics());
    consul.put("app/later", "l");
    assert!(eventually(Duration::from_secs(10), || async { values(&store) == server(&consul) }).await);
    assert_eq!(running.handle.metrics().relists, 1);
    running.stop().await;
}

#[tokio::test]
async fn a_wait_without_change_is_not_an_error_and_the_watch_ends_at_its_timeout() {
    let consul = ConsulServer::start().await.unwrap();
    consul.put("app/a", "1");
    let config = presets::consul_kv(&consul.url(), "app/").unwrap().with_wait(Duration::from_millis(300));
    let source = HttpSource::new(config).unwrap();
    let page = source.list(&ListOptions::default()).await.unwrap();
    let mut options = WatchOptions::default();
    options.timeout = Some(Duration::from_millis(1200));
    let started = std::time::Instant::now();
    let events: Vec<_> = source.watch(&page.version, &options).await.unwrap().collect().await;
    assert!(events.is_empty(), "{events:?}");
    assert!(started.elapsed() >= Duration::from_millis(1100) && started.elapsed() < Duration::from_secs(4));
    let (_, blocking) = consul.requests();
    assert!((3..=6).contains(&blocking), "each poll waited ~300 ms: {blocking} blocking queries");
}

#[tokio::test]
async fn a_watch_from_an_unknown_version_is_expired() {
    let consul = ConsulServer::start().await.unwrap();
    let source = source(&consul);
    let err = match source.watch(&"12345".into(), &WatchOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("a watch without a remembered snapshot must fail"),
    };
    assert!(err.is_expired() && err.to_string().contains("12345"), "{err}");
}

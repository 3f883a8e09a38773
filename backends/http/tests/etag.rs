//! ETag polling, bad answers, and credentials, against a local JSON collection server.

mod support;

use std::time::Duration;

use futures::StreamExt;
use informer_core::{ErrorKind, ListOptions, ListerWatcher, WatchEvent, WatchOptions};
use informer_http::{HttpSource, ItemsFormat, presets};
use support::collection::{CollectionServer, Mode};
use support::{Running, contents, eventually, map_store, reflector_config};

fn source(server: &CollectionServer) -> HttpSource {
    let items = ItemsFormat::pointers("/items", "/id").with_version("/rev");
    let config = presets::etag_poll(&server.url(), items, Duration::from_millis(50))
        .unwrap()
        .with_header("Authorization", "Bearer top-secret-token")
        .unwrap();
    HttpSource::new(config).unwrap()
}

/// The server's contents in the store's shape (the whole item minus `rev`).
fn store_view(
    store: &informer_tests::MapStore<informer_http::HttpItem>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    contents(store).into_iter().map(|(k, v)| (k, serde_json::json!({"id": v["id"], "value": v["value"]}))).collect()
}

#[tokio::test]
async fn etag_polling_treats_304_as_no_change_and_diffs_new_answers() {
    let server = CollectionServer::start().await;
    server.put("a", "1");
    server.put("b", "2");
    let source = source(&server);
    let page = source.list(&ListOptions::default()).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.version.starts_with("\"rev-"));
    let mut stream = source.watch(&page.version, &WatchOptions::default()).await.unwrap();
    // Nothing changes: polls get 304 and the stream yields nothing.
    assert!(tokio::time::timeout(Duration::from_millis(400), stream.next()).await.is_err());
    let (ok, not_modified) = server.answers();
    assert_eq!(ok, 1, "only the list got a body");
    assert!(not_modified >= 3, "{not_modified} polls answered 304");

    server.put("c", "3");
    server.put("a", "11");
    server.delete("b");
    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
        match event {
            WatchEvent::Added { object, .. } => events.push(format!("ADDED {} {}", object.key, object.value["value"])),
            WatchEvent::Modified { object, .. } => {
                events.push(format!("MODIFIED {} {}", object.key, object.value["value"]))
            }
            WatchEvent::Deleted { object, .. } => {
                events.push(format!("DELETED {} {}", object.key, object.value["value"]))
            }
            WatchEvent::Bookmark(_) => {}
        }
    }
    // One 200 answer with all three changes (the poll interval is longer than the writes).
    assert_eq!(events, ["DELETED b \"2\"", "MODIFIED a \"11\"", "ADDED c \"3\""]);
}

#[tokio::test]
async fn bad_answers_are_malformed_errors_naming_the_url_and_the_store_keeps_its_last_good_state() {
    let server = CollectionServer::start().await;
    server.put("a", "1");
    server.put("b", "2");
    let store = map_store();
    let running = Running::start(source(&server), store.clone(), reflector_config());
    assert!(running.handle.wait_synced().await);
    let good = server.contents();
    assert_eq!(store_view(&store), good);

    let cases = [
        (Mode::NotJson, "body is not JSON"),
        (Mode::NoETag, "has no ETag header"),
        (Mode::NoItems, "JSON pointer \"/items\" (the items) matches nothing"),
    ];
    for (mode, missing) in cases {
        server.set_mode(mode);
        // The error, as a direct list sees it.
        let err = source(&server).list(&ListOptions::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "{mode:?}: {err}");
        assert!(err.to_string().contains(&format!("GET {}", server.url())), "{mode:?} names the URL: {err}");
        assert!(err.to_string().contains(missing), "{mode:?} names what is missing: {err}");
        // The running reflector's polls fail the same way; the store keeps the good state.
        let errors_before = running.handle.metrics().errors;
        assert!(
            eventually(Duration::from_secs(5), || async { running.handle.metrics().errors >= errors_before + 2 }).await,
            "{mode:?}: the reflector saw the bad answers"
        );
        assert_eq!(store_view(&store), good, "{mode:?}: the store keeps its last good state");
    }
    // Good answers again, with changes: the store converges without a relist.
    server.set_mode(Mode::Good);
    server.put("c", "3");
    server.delete("a");
    assert!(eventually(Duration::from_secs(5), || async { store_view(&store) == server.contents() }).await);
    assert_eq!(running.handle.metrics().relists, 0);
    running.stop().await;
}

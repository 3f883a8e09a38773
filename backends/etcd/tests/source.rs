//! The `ListerWatcher` contract of `EtcdSource`, called directly against a real etcd: pages at
//! one revision, continue tokens, compaction as expired, bookmarks, decode failures, keys that
//! are not UTF-8, and credentials that never leak.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use informer_core::{ErrorKind, ListOptions, ListerWatcher, Version, WatchEvent, WatchOptions};
use informer_etcd::etcd_client::{CompactionOptions, ConnectOptions, Txn, TxnOp};
use informer_etcd::{DecodeFailurePolicy, EtcdSource, JsonCodec, RawCodec, TextCodec};

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Service {
    port: u16,
}

fn page(limit: u32, token: Option<String>) -> ListOptions {
    ListOptions::first_page(Some(limit)).with_continue(token)
}

#[tokio::test]
async fn later_pages_are_read_at_the_first_pages_revision() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..25).map(|i| (format!("/l/{i:02}"), b"v1".to_vec())).collect()).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/l/"), TextCodec).await.unwrap();

    let first = source.list(&page(10, None)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let token = first.continue_token.clone().expect("more pages");
    assert!(token.starts_with(&format!("etcd1:{}:", first.version)), "{token}");
    // Changes after the first page must not show in later pages.
    put_all(&client, (0..25).map(|i| (format!("/l/{i:02}"), b"v2".to_vec())).collect()).await;
    put_all(&client, vec![("/l/99".into(), b"new".to_vec())]).await;
    let second = source.list(&page(10, Some(token))).await.unwrap();
    let third = source.list(&page(10, second.continue_token.clone())).await.unwrap();
    assert_eq!(third.continue_token, None);
    assert_eq!((second.version.clone(), third.version.clone()), (first.version.clone(), first.version.clone()));
    let all: Vec<_> = first.items.iter().chain(&second.items).chain(&third.items).collect();
    assert_eq!(all.len(), 25);
    assert!(all.iter().all(|kv| kv.value == "v1"));
    let keys: Vec<&str> = all.iter().map(|kv| kv.key.as_str()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "pages follow each other without overlap");
}

#[tokio::test]
async fn a_compacted_list_page_is_expired() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..20).map(|i| (format!("/l/{i:02}"), b"v".to_vec())).collect()).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/l/"), RawCodec).await.unwrap();
    let first = source.list(&page(5, None)).await.unwrap();
    put_all(&client, vec![("/l/00".into(), b"w".to_vec())]).await;
    let mut kv = client.kv_client();
    let revision = kv.get("/l/00", None).await.unwrap().header().unwrap().revision();
    kv.compact(revision, Some(CompactionOptions::new().with_physical())).await.unwrap();

    let err = source.list(&page(5, first.continue_token)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains("compacted") && err.to_string().contains(first.version.as_str()), "{err}");
}

#[tokio::test]
async fn a_malformed_continue_token_is_a_clear_permanent_error() {
    let etcd = start_etcd();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/l/"), RawCodec).await.unwrap();
    let err = source.list(&page(5, Some("not-a-token".into()))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("malformed continue token \"not-a-token\""), "{err}");
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_is_expired_not_resumed() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/w/"), RawCodec).await.unwrap();
    put_all(&client, vec![("/w/a".into(), b"1".to_vec())]).await;
    let old = source.list(&ListOptions::default()).await.unwrap().version;
    for i in 0..5 {
        put_all(&client, vec![("/w/a".into(), format!("{i}").into_bytes())]).await;
    }
    let mut kv = client.kv_client();
    let revision = kv.get("/w/a", None).await.unwrap().header().unwrap().revision();
    kv.compact(revision, None).await.unwrap();

    let mut stream = source.watch(&old, &WatchOptions::default()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap();
    let err = first.expect("an item").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains(&format!("compacted its history at revision {revision}")), "{err}");
    assert!(stream.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn a_watch_from_a_revision_the_server_has_not_reached_is_expired() {
    let etcd = start_etcd();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/w/"), RawCodec).await.unwrap();
    let current: i64 = source.list(&ListOptions::default()).await.unwrap().version.parse().unwrap();
    let ahead = Version::from((current + 1000).to_string());
    let mut stream = source.watch(&ahead, &WatchOptions::default()).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    assert!(err.to_string().contains(&format!("etcd is at revision {current}")), "{err}");
}

#[tokio::test]
async fn watch_reports_puts_deletes_with_previous_values_and_transactions_resume_safely() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, vec![("/w/a".into(), b"1".to_vec()), ("/w/b".into(), b"2".to_vec())]).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/w/"), TextCodec).await.unwrap();
    let start: i64 = source.list(&ListOptions::default()).await.unwrap().version.parse().unwrap();
    let mut stream = source.watch(&Version::from(start.to_string()), &WatchOptions::default()).await.unwrap();
    let mut kv = client.kv_client();
    kv.put("/w/c", "3", None).await.unwrap();
    kv.txn(Txn::new().and_then([TxnOp::put("/w/a", "1b", None), TxnOp::delete("/w/b", None)])).await.unwrap();
    kv.put("/x/outside", "no", None).await.unwrap();

    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
        if matches!(event, WatchEvent::Modified { .. }) {
            // The rest of its transaction is ready at once: the reflector sees where it ends.
            use futures::FutureExt;
            let rest = stream.next().now_or_never().expect("the transaction's next event is ready").unwrap().unwrap();
            events.push(event);
            events.push(rest);
        } else if !matches!(event, WatchEvent::Bookmark(_)) {
            events.push(event);
        }
    }
    let txn_revision = start + 2;
    match &events[..] {
        [
            WatchEvent::Added { object: c, version: v1 },
            WatchEvent::Modified { object: a, version: v2 },
            WatchEvent::Deleted { object: b, version: v3 },
        ] => {
            assert_eq!(
                (c.key.as_str(), c.value.as_str(), v1.as_str()),
                ("/w/c", "3", (start + 1).to_string().as_str())
            );
            assert_eq!((a.key.as_str(), a.value.as_str()), ("/w/a", "1b"));
            // Both events of the transaction carry its revision.
            assert_eq!(v2.as_str(), txn_revision.to_string());
            assert_eq!((b.key.as_str(), b.value.as_str()), ("/w/b", "2"), "a delete carries the last value");
            assert_eq!(v3.as_str(), txn_revision.to_string());
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[tokio::test]
async fn timed_progress_notifications_become_bookmarks() {
    let etcd = start_etcd_with(&["--experimental-watch-progress-notify-interval=300ms"]);
    let client = client(&etcd.endpoint()).await;
    put_all(&client, vec![("/b/a".into(), b"1".to_vec())]).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/b/"), RawCodec).await.unwrap();
    let version = source.list(&ListOptions::default()).await.unwrap().version;
    // Changes elsewhere move the revision; the bookmark follows them.
    put_all(&client, vec![("/other".into(), b"1".to_vec())]).await;
    let mut stream = source.watch(&version, &WatchOptions::default()).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
    match event {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.version.parse::<i64>().unwrap(), version.parse::<i64>().unwrap() + 1);
            assert!(!b.initial_events_end);
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_timeout_ends_the_stream_cleanly() {
    let etcd = start_etcd();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/t/"), RawCodec).await.unwrap();
    let version = source.list(&ListOptions::default()).await.unwrap().version;
    let mut options = WatchOptions::default();
    options.timeout = Some(Duration::from_millis(300));
    let mut stream = source.watch(&version, &options).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap();
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test]
async fn undecodable_json_is_skipped_and_counted_with_key_and_revision() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, vec![("/j/good".into(), br#"{"port":80}"#.to_vec()), ("/j/bad".into(), b"{not json".to_vec())])
        .await;
    let bad_revision = client.kv_client().get("/j/bad", None).await.unwrap().kvs()[0].mod_revision();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/j/"), JsonCodec::<Service>::new()).await.unwrap();
    let running = spawn_reflector(source.clone(), fast_config(100));
    assert!(tokio::time::timeout(Duration::from_secs(10), running.handle.wait_synced()).await.unwrap());
    assert_eq!(running.store.snapshot().keys().map(|k| k.to_string()).collect::<Vec<_>>(), ["/j/good"]);
    assert_eq!(source.decode_failures(), 1);
    let message = source.last_decode_failure().unwrap();
    assert!(message.contains("\"/j/bad\"") && message.contains(&format!("revision {bad_revision}")), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");

    // A good key turning bad leaves the mirror; fixed, it comes back; the mirror never stops.
    let mut kv = client.kv_client();
    kv.put("/j/good", "oops", None).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { running.store.is_empty() }).await);
    assert_eq!(source.decode_failures(), 2);
    kv.put("/j/bad", r#"{"port":8080}"#, None).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { running.store.len() == 1 }).await);
    assert_eq!(running.store.snapshot()["/j/bad"].value, Service { port: 8080 });
    assert_eq!(running.handle.metrics().relists, 0);
    running.stop().await;
}

#[tokio::test]
async fn undecodable_json_fails_list_and_watch_naming_key_and_revision() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, vec![("/j/good".into(), br#"{"port":80}"#.to_vec())]).await;
    let config = test_config(&etcd.endpoint(), "/j/").with_decode_failures(DecodeFailurePolicy::Fail);
    let source = EtcdSource::connect(config, JsonCodec::<Service>::new()).await.unwrap();
    let before = source.list(&ListOptions::default()).await.unwrap().version;

    let put = client.kv_client().put("/j/bad", "[1,", None).await.unwrap();
    let revision = put.header().unwrap().revision();
    let err = source.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    let expected = format!("value of key \"/j/bad\" at revision {revision} is not valid JSON");
    assert!(err.to_string().contains(&expected), "{err}");

    let mut stream = source.watch(&before, &WatchOptions::default()).await.unwrap();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap() {
            Ok(WatchEvent::Bookmark(_)) => continue,
            Ok(other) => panic!("expected an error, got {other:?}"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert!(err.to_string().contains(&expected), "{err}");
    assert_eq!(source.decode_failures(), 0, "fail mode does not count skips");
}

#[tokio::test]
async fn keys_that_are_not_utf8_are_mirrored_losslessly() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    let mut kv = client.kv_client();
    kv.put(b"/k/\xff\xfe".to_vec(), "bin", None).await.unwrap();
    kv.put(b"/k/back\\slash".to_vec(), "bs", None).await.unwrap();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/k/"), RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(100));
    assert!(tokio::time::timeout(Duration::from_secs(10), running.handle.wait_synced()).await.unwrap());
    let snapshot = running.store.snapshot();
    let binary = &snapshot["/k/\\xff\\xfe"];
    assert_eq!(binary.raw_key, b"/k/\xff\xfe");
    assert_eq!(informer_etcd::key_to_bytes(&binary.key).unwrap(), b"/k/\xff\xfe");
    assert_eq!(snapshot["/k/back\\\\slash"].raw_key, b"/k/back\\slash");
    kv.delete(b"/k/\xff\xfe".to_vec(), None).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { running.store.len() == 1 }).await);
    running.stop().await;
}

#[tokio::test]
async fn credentials_never_appear_in_debug_output_descriptions_or_errors() {
    const PASSWORD: &str = "pa55-Very-Secret-word";
    let etcd = start_etcd();
    let admin = client(&etcd.endpoint()).await;
    let mut auth = admin.auth_client();
    auth.user_add("root", PASSWORD, None).await.unwrap();
    auth.user_grant_role("root", "root").await.unwrap();
    auth.user_add("nobody", PASSWORD, None).await.unwrap();
    auth.auth_enable().await.unwrap();
    let root = informer_etcd::etcd_client::Client::connect(
        [etcd.endpoint()],
        Some(ConnectOptions::new().with_user("root", PASSWORD)),
    )
    .await
    .unwrap();
    root.kv_client().put("/s/a", "1", None).await.unwrap();

    let wrong = format!("{PASSWORD}-wrong");
    let config = test_config(&etcd.endpoint(), "/s/").with_user("root", wrong.clone());
    let err = EtcdSource::connect(config, RawCodec).await.unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(PASSWORD), "{text}");
    }

    let config = test_config(&etcd.endpoint(), "/s/").with_user("root", PASSWORD);
    let source = EtcdSource::connect(config, RawCodec).await.unwrap();
    let page = source.list(&ListOptions::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    for text in [format!("{source:?}"), source.describe()] {
        assert!(!text.contains(PASSWORD), "{text}");
    }

    let config = test_config(&etcd.endpoint(), "/s/").with_user("nobody", PASSWORD);
    let denied = EtcdSource::connect(config, RawCodec).await.unwrap();
    let err = denied.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(!err.to_string().contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD), "{err:?}");
}

#[tokio::test]
async fn values_over_the_decode_limit_fail_with_a_hint_and_pass_when_raised() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    let mut kv = client.kv_client();
    for i in 0..3 {
        kv.put(format!("/big/{i}"), vec![b'x'; 1 << 20], None).await.unwrap();
    }
    // One 3 MiB answer against a 2 MiB limit.
    let small = test_config(&etcd.endpoint(), "/big/").with_max_decoding_message_size(2 << 20);
    let source = EtcdSource::connect(small, RawCodec).await.unwrap();
    let err = source.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("max_decoding_message_size"), "{err}");

    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/big/"), RawCodec).await.unwrap();
    assert_eq!(source.list(&ListOptions::default()).await.unwrap().items.len(), 3, "default limit is 128 MiB");
}

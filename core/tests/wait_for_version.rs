//! Read-your-writes: `ReflectorHandle::wait_for_version` on a source with a declared order
//! (the memory source), and its errors elsewhere.

mod common;

use std::time::Duration;

use common::*;
use informer_core::{
    ListOptions, ListPage, ListerWatcher, SourceError, Store, Version, VersionWaitError, WatchOptions, WatchStream,
};
use informer_memory::MemorySource;

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn wait_for_version_returns_once_the_write_is_in_the_store() {
    let source = MemorySource::new();
    source.put("a", 1);
    let run = start(&source, fast_config());
    for i in 0..50u64 {
        let written = source.put(format!("k{i}"), i);
        let applied = tokio::time::timeout(LIMIT, run.handle.wait_for_version(&Version::from(written.to_string())))
            .await
            .expect("in time")
            .expect("applied");
        assert!(applied.parse::<u64>().unwrap() >= written);
        assert_eq!(run.store.get_by_key(&format!("k{i}")).map(|o| **o.value()), Some(i), "read your write {i}");
    }
    // A delete advances the version too.
    let deleted = source.delete("a").expect("a existed");
    tokio::time::timeout(LIMIT, run.handle.wait_for_version(&Version::from(deleted.to_string())))
        .await
        .expect("in time")
        .expect("applied");
    assert!(run.store.get_by_key("a").is_none());
    // An older version is already reached.
    let older = run.handle.wait_for_version(&Version::from("1")).await.unwrap();
    assert_eq!(older, Version::from(deleted.to_string()));
    run.cancel.cancel();
}

#[tokio::test]
async fn wait_for_version_names_a_version_of_the_wrong_form_and_a_stopped_reflector() {
    let source = MemorySource::new();
    source.put("a", 1);
    let run = start(&source, fast_config());
    let err = run.handle.wait_for_version(&Version::from("abc")).await.unwrap_err();
    assert!(matches!(err, VersionWaitError::Incomparable { .. }), "{err}");
    assert!(err.to_string().contains("version abc cannot be compared"), "{err}");

    assert!(run.handle.wait_synced().await);
    let far = Version::from("1000");
    let waiter = tokio::spawn({
        let handle = run.handle.clone();
        async move { handle.wait_for_version(&far).await }
    });
    run.cancel.cancel();
    let err = tokio::time::timeout(LIMIT, waiter).await.expect("in time").unwrap().unwrap_err();
    assert!(matches!(err, VersionWaitError::Stopped { ref reached, .. } if reached.as_deref() == Some("1")), "{err}");
}

/// A source that declares no order of its versions.
struct Unordered;

impl ListerWatcher for Unordered {
    type Object = Obj;

    async fn list(&self, _: &ListOptions) -> Result<ListPage<Obj>, SourceError> {
        Ok(ListPage { items: Vec::new(), version: Version::from("etag-1"), continue_token: None })
    }

    async fn watch(&self, _: &Version, _: &WatchOptions) -> Result<WatchStream<Obj>, SourceError> {
        Ok(Box::pin(futures::stream::pending()))
    }

    fn describe(&self) -> String {
        "unordered".into()
    }
}

#[tokio::test]
async fn wait_for_version_on_a_source_without_an_order_is_a_clear_error() {
    let run = informer_tests::reflect::start(Unordered, informer_core::KeyFn::keyed(), fast_config());
    let err = run.handle.wait_for_version(&Version::from("etag-1")).await.unwrap_err();
    assert_eq!(err, VersionWaitError::NoOrder { source_name: "unordered".into(), version: Version::from("etag-1") });
    assert!(err.to_string().contains("unordered: versions of this source have no order"), "{err}");
    run.cancel.cancel();
}

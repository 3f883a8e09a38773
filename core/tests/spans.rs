//! Each list page and each watch request runs inside a `tracing` span that names the source,
//! the version and (for a list) the page, so a backend's own logs say which request they
//! belong to.

use std::sync::{Arc, Mutex};

use informer_core::{
    KeyFn, ListOptions, ListPage, ListerWatcher, Reflector, ReflectorConfig, SourceError, Version, WatchOptions,
    WatchStream,
};
use informer_memory::{MemoryObject, MemorySource};
use informer_tests::MapStore;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;

/// A memory source that logs inside each request, as a backend's HTTP client would.
struct Logging(MemorySource<u64>);

impl ListerWatcher for Logging {
    type Object = MemoryObject<u64>;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<Self::Object>, SourceError> {
        tracing::info!("list request");
        self.0.list(options).await
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<Self::Object>, SourceError> {
        tracing::info!("watch request");
        self.0.watch(version, options).await
    }

    fn describe(&self) -> String {
        "logging memory".into()
    }
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn list_pages_and_watches_run_in_spans_naming_source_version_and_page() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_ansi(false).without_time().with_writer(move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let source = MemorySource::<u64>::new();
    for i in 0..3 {
        source.put(format!("k{i}"), i);
    }
    let store = Arc::new(MapStore::new(KeyFn::keyed()));
    let reflector = Reflector::new(Logging(source.clone()), store, ReflectorConfig::default().with_page_size(Some(2)));
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let waiter = async move {
        assert!(handle.wait_synced().await);
        // Let the watch request start before stopping.
        while handle.metrics().watches == 0 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        stop.cancel();
    };
    let (result, ()) = tokio::join!(reflector.run(cancel), waiter);
    result.unwrap();

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains(r#"list{source="logging memory" page=1}"#) && text.contains("list request"), "{text}");
    assert!(text.contains(r#"list{source="logging memory" page=2}"#), "{text}");
    assert!(text.contains(r#"watch{source="logging memory" version="3"}"#), "{text}");
}

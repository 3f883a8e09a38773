//! Credentials in headers: sent with every request, never in `Debug`, errors or logs.
//!
//! Alone in its test binary: it installs a `tracing` subscriber, and tracing caches per-callsite
//! interest process-wide, so tests running beside it could hide log lines from it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use informer_core::{ListOptions, ListerWatcher};
use informer_http::{HttpSource, ItemsFormat, presets};
use support::collection::{CollectionServer, Mode};
use support::{Running, eventually, map_store, reflector_config};

fn source(server: &CollectionServer) -> HttpSource {
    let items = ItemsFormat::pointers("/items", "/id").with_version("/rev");
    let config = presets::etag_poll(&server.url(), items, Duration::from_millis(50))
        .unwrap()
        .with_header("Authorization", "Bearer top-secret-token")
        .unwrap();
    HttpSource::new(config).unwrap()
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn auth_headers_are_sent_but_never_shown_in_debug_errors_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = CollectionServer::start().await;
    server.put("a", "1");
    let source = source(&server);
    assert!(!format!("{source:?}").contains("top-secret"));
    assert!(!source.describe().contains("top-secret"));
    let store = map_store();
    let running = Running::start(source.clone(), store.clone(), reflector_config());
    assert!(running.handle.wait_synced().await);
    server.set_mode(Mode::NotJson);
    let err = source.list(&ListOptions::default()).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("top-secret"));
    assert!(eventually(Duration::from_secs(5), || async { running.handle.metrics().errors >= 1 }).await);
    running.stop().await;

    assert!(server.authorizations().iter().all(|a| a == "Bearer top-secret-token"));
    assert!(server.authorizations().len() >= 3, "the header is sent with every request");
    let logs = String::from_utf8_lossy(&logs.0.lock()).into_owned();
    assert!(logs.contains("polling") && logs.contains("not JSON"), "the logs were captured: {logs}");
    assert!(!logs.contains("top-secret"), "{logs}");
}

//! `--metrics ADDR`: the reflector's counters in the Prometheus text format, served at
//! `http://ADDR/metrics` by a minimal HTTP/1.1 server (one request per connection).
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `informer_list_requests_total` | counter | list requests sent (one per page) |
//! | `informer_watch_requests_total` | counter | watch requests sent |
//! | `informer_watch_events_total{type}` | counter | watch events applied, by `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` |
//! | `informer_relists_total` | counter | lists after the first (expired versions) |
//! | `informer_errors_total` | counter | errors from the source |
//! | `informer_store_objects` | gauge | objects in the mirror |
//! | `informer_synced` | gauge | 1 once the initial list is in the mirror |

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use informer_core::MetricsSnapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

/// What the metrics page shows, read at each request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsView {
    /// The reflector's counters.
    pub reflector: MetricsSnapshot,
    /// Objects in the mirror.
    pub objects: usize,
    /// Whether the initial list is done.
    pub synced: bool,
}

/// Renders the Prometheus text exposition format (version 0.0.4).
///
/// ```
/// let text = informer_cli::metrics::render(&informer_cli::metrics::MetricsView::default());
/// assert!(text.contains("# TYPE informer_synced gauge\ninformer_synced 0\n"));
/// ```
pub fn render(view: &MetricsView) -> String {
    let m = &view.reflector;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "informer_list_requests_total",
        "counter",
        "List requests sent to the source (one per page).",
        &[("", m.list_pages)],
    );
    metric("informer_watch_requests_total", "counter", "Watch requests sent to the source.", &[("", m.watches)]);
    metric(
        "informer_watch_events_total",
        "counter",
        "Watch events applied to the mirror, by type.",
        &[
            ("{type=\"ADDED\"}", m.events_added),
            ("{type=\"MODIFIED\"}", m.events_modified),
            ("{type=\"DELETED\"}", m.events_deleted),
            ("{type=\"BOOKMARK\"}", m.bookmarks),
        ],
    );
    metric(
        "informer_relists_total",
        "counter",
        "Lists after the first one (after an expired version).",
        &[("", m.relists)],
    );
    metric("informer_errors_total", "counter", "Errors returned by the source.", &[("", m.errors)]);
    metric("informer_store_objects", "gauge", "Objects in the mirror.", &[("", view.objects as u64)]);
    metric(
        "informer_synced",
        "gauge",
        "1 once the initial list is in the mirror, else 0.",
        &[("", u64::from(view.synced))],
    );
    out
}

/// Serves `GET /metrics` on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, view: Arc<dyn Fn() -> MetricsView + Send + Sync>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait instead of spinning.
                debug!(error = %err, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let view = Arc::clone(&view);
        tokio::spawn(async move {
            if let Err(err) = answer(stream, view).await {
                debug!(%peer, error = %err, "metrics request failed");
            }
        });
    }
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn answer(mut stream: TcpStream, view: Arc<dyn Fn() -> MetricsView + Send + Sync>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head not received in 10 s"))??;
    let request_line = String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or_default()).into_owned();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(&view())),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain; charset=utf-8", "not found; try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET /metrics\n".to_string()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_type_lines() {
        let text = render(&MetricsView { objects: 3, synced: true, ..MetricsView::default() });
        for name in [
            "informer_list_requests_total",
            "informer_watch_requests_total",
            "informer_watch_events_total",
            "informer_relists_total",
            "informer_errors_total",
            "informer_store_objects",
            "informer_synced",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(text.contains("informer_store_objects 3\n"));
        assert!(text.contains("informer_watch_events_total{type=\"DELETED\"} 0\n"));
    }

    #[tokio::test]
    async fn serves_metrics_and_404_elsewhere() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, Arc::new(|| MetricsView { synced: true, ..Default::default() })));
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).await.unwrap();
            text
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK") && ok.contains("informer_synced 1"), "{ok}");
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}

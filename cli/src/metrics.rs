//! `--metrics ADDR`: every metric of the library (the table in `informer::telemetry`) in the
//! Prometheus text format at `http://ADDR/metrics`, served by `metrics-exporter-prometheus`'s
//! own HTTP listener. [`install`] must run before the reflector is built, since the library
//! registers each series when its reflector, store or queue is built.
//!
//! The mirror adds `informer_store_objects{name}` for its own store (the objects mirrored),
//! labelled like the reflector's series with the source's description.

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for metrics: {reason}")]
pub struct MetricsError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What went wrong (address in use, a recorder already installed).
    pub reason: String,
}

/// Installs the Prometheus recorder as the global `metrics` recorder and serves it at
/// `http://addr/metrics` from a task on the current Tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let err = informer_cli::metrics::install(taken.local_addr().unwrap()).unwrap_err();
/// assert!(err.to_string().contains("cannot listen on 127.0.0.1:"), "{err}");
/// # }
/// ```
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    // Bind first: the exporter's own bind error does not say which address failed, and a
    // busy port must be a clear usage error before anything else starts.
    std::net::TcpListener::bind(addr).map_err(|e| MetricsError { addr, reason: e.to_string() })?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| MetricsError { addr, reason: e.to_string() })
}

//! One GET: request building (credentials as sensitive headers), a read timeout above the hold
//! time, the body read chunk by chunk with a size limit, and the status classification.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use informer_core::SourceError;
use reqwest::header::{HeaderValue, IF_NONE_MATCH};
use tracing::trace;

use crate::answer::{Answer, preview};
use crate::config::{ConfigError, HttpConfig, redact_url};
use crate::format::Verdict;

/// What one GET produced.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A 2xx answer.
    Answer(Answer),
    /// A non-success answer the status rule called an empty collection.
    Empty(Answer),
    /// `304 Not Modified`.
    NotModified,
    /// The request took longer than its timeout while the client holds the poll (no change).
    TimedOut,
}

/// A `reqwest` client builder with this crate's TLS setup: rustls with the *ring* provider and
/// the platform's certificate verifier (no OpenSSL, no process-wide provider needed). Start
/// from it to add custom settings and pass the client to
/// [`HttpSource::with_client`](crate::HttpSource::with_client).
///
/// ```
/// let client = informer_http::client_builder().unwrap().build().unwrap();
/// # let _ = client;
/// ```
pub fn client_builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Client(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| ConfigError::Client(e.to_string()))?
        .with_no_client_auth();
    Ok(reqwest_builder(tls))
}

/// A `reqwest` builder over this TLS configuration, with informer's user agent.
fn reqwest_builder(tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("informer-http/", env!("CARGO_PKG_VERSION")))
}

/// Like [`client_builder`], with the certificates of `ca_pem` (PEM, one or more
/// `CERTIFICATE` sections) trusted as roots besides the platform's: for servers whose
/// certificate a private CA signed. Verification stays on; there is no switch to turn it off.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use informer_http::{HttpSource, ItemsFormat, presets};
/// let ca = std::fs::read("/etc/my-ca/ca.crt")?;
/// let client = informer_http::client_builder_with_extra_roots(&ca)?.build()?;
/// let items = ItemsFormat::pointers("/items", "/id");
/// let config = presets::etag_poll("https://config.internal/items", items, std::time::Duration::from_secs(5))?;
/// let source = HttpSource::with_client(config, client);
/// # let _ = source; Ok(()) }
/// ```
pub fn client_builder_with_extra_roots(ca_pem: &[u8]) -> Result<reqwest::ClientBuilder, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let roots = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Client(format!("the CA certificates are not valid PEM: {e}")))?;
    if roots.is_empty() {
        return Err(ConfigError::Client("the CA certificates hold no CERTIFICATE section".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, Arc::clone(&provider))
        .map_err(|e| ConfigError::Client(format!("the CA certificates cannot be used: {e}")))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Client(e.to_string()))?
        .dangerous()
        // Not a weaker check: `dangerous` is only rustls' name for "bring your own verifier",
        // and this one is the platform verifier with the extra roots.
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(reqwest_builder(tls))
}

/// Builds the client of a source from `builder` ([`client_builder`] or
/// [`client_builder_with_extra_roots`]) with the source's connection settings.
pub(crate) fn build_client(
    builder: reqwest::ClientBuilder,
    config: &HttpConfig,
) -> Result<reqwest::Client, ConfigError> {
    builder
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| ConfigError::Client(e.to_string()))
}

/// Sends one GET to the configured URL with `list_query` (if `with_list_query`) and `query`.
///
/// `client_held`: the client, not the server, ends the hold, so a timeout means "no change".
pub(crate) async fn get(
    client: &reqwest::Client,
    config: &HttpConfig,
    with_list_query: bool,
    query: &[(String, String)],
    if_none_match: Option<&str>,
    timeout: Duration,
    client_held: bool,
) -> Result<Fetched, SourceError> {
    let mut url = config.url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        if with_list_query {
            for (k, v) in &config.list_query {
                pairs.append_pair(k, v);
            }
        }
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let request = format!("GET {}", redact_url(&url));
    trace!(%request, ?timeout, "polling");
    let mut builder = client.get(url).headers(config.headers.clone()).timeout(timeout);
    if let Some(etag) = if_none_match {
        let value = HeaderValue::from_str(etag).map_err(|_| {
            SourceError::expired(format!("{request}: ETag {etag:?} cannot be sent back in If-None-Match"))
        })?;
        builder = builder.header(IF_NONE_MATCH, value);
    }
    let transport = |e: reqwest::Error, during: &str| {
        let e = e.without_url();
        if e.is_timeout() {
            SourceError::transient(format!("{request}: no complete answer within {timeout:?} ({during})"))
                .with_source(e)
        } else {
            SourceError::transient(format!("{request}: {during} failed: {e}")).with_source(e)
        }
    };
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() && client_held => return Ok(Fetched::TimedOut),
        Err(e) => return Err(transport(e, "sending the request")),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > config.max_body_bytes {
                    return Err(SourceError::malformed(format!(
                        "{request}: body is larger than the limit of {} bytes",
                        config.max_body_bytes
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() && client_held => return Ok(Fetched::TimedOut),
            Err(e) => return Err(transport(e, "reading the body")),
        }
    }
    let answer = Answer { request, status, headers, body: body.freeze() };
    if (200..300).contains(&status) {
        return Ok(Fetched::Answer(answer));
    }
    if status == 304 {
        return Ok(Fetched::NotModified);
    }
    let verdict = config.status_rule.as_ref().map_or(Verdict::Default, |rule| rule(&answer));
    match verdict {
        Verdict::Empty => Ok(Fetched::Empty(answer)),
        Verdict::Expired(why) => Err(SourceError::expired(format!("{}: HTTP {status}: {why}", answer.request))),
        Verdict::Default => {
            let message = format!("{}: HTTP {status}: {}", answer.request, preview(&answer.body));
            let err = match status {
                408 | 429 | 500..=599 => SourceError::transient(message),
                _ => SourceError::permanent(message),
            };
            Err(match informer_core::SyncFailureKind::of_http_status(status) {
                Some(reason) => err.with_reason(reason),
                None => err,
            })
        }
    }
}

/// A token bucket: `acquire` waits until a token is available.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: crate::config::RateLimit) -> Self {
        let burst = f64::from(limit.burst.max(1));
        Self { burst, per_second: limit.per_second.max(0.001), tokens: burst, last: tokio::time::Instant::now() }
    }

    /// How long until a token is available (zero if one is), taking it.
    pub(crate) fn take(&mut self) -> Duration {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.per_second) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimit;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_a_burst_then_paces() {
        let mut bucket = TokenBucket::new(RateLimit { burst: 3, per_second: 10.0 });
        for _ in 0..3 {
            assert_eq!(bucket.take(), Duration::ZERO);
        }
        let wait = bucket.take();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(bucket.take(), Duration::ZERO);
    }
}

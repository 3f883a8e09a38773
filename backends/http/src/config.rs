//! [`HttpConfig`]: the URL, headers, answer format and watch mode of one HTTP source.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use informer_core::{SourceError, Version};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::answer::Answer;
use crate::format::{IndexFrom, ItemsFormat, StatusRule, Verdict};
use crate::item::HttpItem;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given (without credentials).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A header name or value is not valid HTTP (the value is never shown).
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// How a wait (hold) time is written in a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFormat {
    /// Go duration with a unit, e.g. `30s` (Consul).
    GoDuration,
    /// Whole seconds, e.g. `30`.
    Seconds,
    /// Milliseconds, e.g. `30000` (CouchDB `timeout`).
    Millis,
}

/// A query parameter that asks the server to hold the request at most this long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitParam {
    /// The parameter name (`wait`, `timeout`).
    pub name: String,
    /// How the duration is written.
    pub format: WaitFormat,
}

impl WaitParam {
    /// A wait parameter.
    pub fn new(name: impl Into<String>, format: WaitFormat) -> Self {
        Self { name: name.into(), format }
    }

    pub(crate) fn render(&self, wait: Duration) -> (String, String) {
        let secs = wait.as_secs().max(1);
        let millis = wait.as_millis().max(1);
        let value = match self.format {
            WaitFormat::GoDuration if millis.is_multiple_of(1000) => format!("{secs}s"),
            WaitFormat::GoDuration => format!("{millis}ms"),
            WaitFormat::Seconds => secs.to_string(),
            WaitFormat::Millis => millis.to_string(),
        };
        (self.name.clone(), value)
    }
}

/// The answer of one event-feed poll: the changes, in order, and the version to resume from.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedBatch {
    /// The changes (may be empty, e.g. when the change was to something not mirrored).
    pub events: Vec<informer_core::WatchEvent<HttpItem>>,
    /// The version after this answer; the next poll asks for changes after it.
    pub cursor: Version,
}

/// A decoder of one event-feed answer.
pub type FeedDecoder = Arc<dyn Fn(&Answer) -> Result<FeedBatch, SourceError> + Send + Sync>;

/// Turns the last version seen into the cursor parameter's value (etcd v2: `version + 1`).
pub type CursorFn = Arc<dyn Fn(&Version) -> Result<String, String> + Send + Sync>;

/// An event feed: every poll answers the next change(s) after a cursor (etcd v2
/// `?wait=true&waitIndex=`, CouchDB `_changes?feed=longpoll&since=`).
#[derive(Clone)]
pub struct EventFeed {
    /// Fixed query parameters of every poll (`wait=true`, `recursive=true`, `feed=longpoll`).
    pub query: Vec<(String, String)>,
    /// The cursor parameter (`waitIndex`, `since`).
    pub cursor_param: String,
    /// Version → cursor value.
    pub cursor: CursorFn,
    /// The server's hold-time parameter; `None` if the server holds until a change (etcd v2),
    /// in which case the client ends each poll after [`HttpConfig::wait`] and a poll that
    /// times out is "no change", not an error.
    pub wait: Option<WaitParam>,
    /// Decodes an answer.
    pub decode: FeedDecoder,
}

impl fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventFeed")
            .field("query", &self.query)
            .field("cursor_param", &self.cursor_param)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// How the watch side polls.
#[derive(Debug, Clone)]
pub enum WatchMode {
    /// Each answer is the next change(s); see [`EventFeed`].
    EventFeed(EventFeed),
    /// Each answer is the whole collection again, once its numeric index passed the one sent
    /// (Consul blocking queries `?index=&wait=`). The backend diffs it against the last
    /// collection it saw. An index that goes backwards means the server's state was reset:
    /// the watch fails as expired and the reflector relists; an index below 1 is sent as 1.
    BlockingSnapshot {
        /// The index parameter (`index`).
        index_param: String,
        /// The hold-time parameter (`wait`).
        wait: Option<WaitParam>,
    },
    /// Each poll sends `If-None-Match: <etag>`; `304 Not Modified` means no change, `200` is
    /// the whole collection again with a new `ETag`, diffed like
    /// [`WatchMode::BlockingSnapshot`].
    ETagSnapshot {
        /// A hold-time parameter if the server supports one; most don't.
        wait: Option<WaitParam>,
        /// Pause after a `304` before the next poll (servers without a hold time answer at once).
        poll_interval: Duration,
    },
}

impl WatchMode {
    pub(crate) fn is_snapshot(&self) -> bool {
        !matches!(self, Self::EventFeed(_))
    }
}

/// A token bucket for polls: `burst` polls at once, refilled at `per_second`. It keeps a
/// server that keeps answering at once (Consul's index-0 bug, a proxy that drops the hold) from
/// being hammered, without slowing a busy but healthy feed below `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Polls allowed at once.
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
}

/// Everything an [`HttpSource`](crate::HttpSource) needs. Build it with [`HttpConfig::new`] or
/// a preset ([`presets`](crate::presets)) and adjust it with the `with_*` methods.
///
/// Headers (auth tokens) are marked sensitive, never logged, and never shown by `Debug` or in
/// errors. Put credentials in headers, not in the URL's query string: the URL (without any
/// user-info password) appears in errors and in [`describe`](informer_core::ListerWatcher::describe).
///
/// ```
/// use std::time::Duration;
/// use informer_http::{HttpConfig, IndexFrom, ItemsFormat, WatchMode};
/// let config = HttpConfig::new(
///     "http://127.0.0.1:8080/services",
///     ItemsFormat::pointers("/items", "/id"),
///     IndexFrom::ETag,
///     WatchMode::ETagSnapshot { wait: None, poll_interval: Duration::from_secs(1) },
/// )
/// .unwrap()
/// .with_header("Authorization", "Bearer s3cret")
/// .unwrap();
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct HttpConfig {
    pub(crate) name: Option<String>,
    pub(crate) url: Url,
    pub(crate) list_query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) items: ItemsFormat,
    pub(crate) index: IndexFrom,
    pub(crate) watch: WatchMode,
    pub(crate) wait: Duration,
    pub(crate) request_margin: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) max_body_bytes: usize,
    pub(crate) status_rule: Option<StatusRule>,
}

impl HttpConfig {
    /// A source at `url` (http or https) whose answers hold items in `items` format and the
    /// collection index in `index`, watched in `mode`. Defaults: wait 60 s, request margin
    /// 10 s over the wait, connect timeout 10 s, no rate limit, bodies up to 256 MiB.
    pub fn new(url: &str, items: ItemsFormat, index: IndexFrom, watch: WatchMode) -> Result<Self, ConfigError> {
        let url = parse_url(url)?;
        Ok(Self {
            name: None,
            url,
            list_query: Vec::new(),
            headers: HeaderMap::new(),
            items,
            index,
            watch,
            wait: Duration::from_secs(60),
            request_margin: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            rate_limit: None,
            max_body_bytes: 256 << 20,
            status_rule: None,
        })
    }

    /// Adds a header sent with every request (e.g. `Authorization`, `X-Consul-Token`). The
    /// value is marked sensitive and never shown.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ConfigError::InvalidHeader { name: name.to_string(), reason: e.to_string() })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| ConfigError::InvalidHeader {
            name: name.to_string(),
            reason: "the value has characters not allowed in a header".into(),
        })?;
        value.set_sensitive(true);
        self.headers.append(header, value);
        Ok(self)
    }

    /// Adds a query parameter to the list request (and to snapshot polls).
    #[must_use]
    pub fn with_list_query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.list_query.push((name.into(), value.into()));
        self
    }

    /// How long the server may hold one poll. The request timeout is this plus 1/16 (Consul's
    /// jitter) plus [`HttpConfig::with_request_margin`].
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait.max(Duration::from_millis(1));
        self
    }

    /// Extra time a request may take beyond the wait before it counts as failed.
    #[must_use]
    pub fn with_request_margin(mut self, margin: Duration) -> Self {
        self.request_margin = margin;
        self
    }

    /// The TCP connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Rate-limits polls with a token bucket (`None`: no limit).
    #[must_use]
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Refuses bodies larger than this (a malformed error).
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Judges non-success answers before the default classification.
    #[must_use]
    pub fn with_status_rule(mut self, rule: impl Fn(&Answer) -> Verdict + Send + Sync + 'static) -> Self {
        self.status_rule = Some(Arc::new(rule));
        self
    }

    /// A name for logs and errors (default: `http <url>`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The collection URL without credentials.
    pub fn url(&self) -> String {
        redact_url(&self.url)
    }

    /// The configured wait.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// How collection answers are decoded into items.
    pub fn items_format(&self) -> &ItemsFormat {
        &self.items
    }

    /// The watch mode.
    pub fn watch_mode(&self) -> &WatchMode {
        &self.watch
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self.headers.keys().map(|k| format!("{k}: <redacted>")).collect();
        f.debug_struct("HttpConfig")
            .field("url", &self.url())
            .field("list_query", &self.list_query)
            .field("headers", &headers)
            .field("items", &self.items)
            .field("index", &self.index)
            .field("watch", &self.watch)
            .field("wait", &self.wait)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

pub(crate) fn parse_url(url: &str) -> Result<Url, ConfigError> {
    let parsed =
        Url::parse(url).map_err(|e| ConfigError::InvalidUrl { url: strip_userinfo(url), reason: e.to_string() })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidUrl {
            url: redact_url(&parsed),
            reason: "only http and https are supported".into(),
        });
    }
    Ok(parsed)
}

/// The URL without a user-info password.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    url.to_string()
}

fn strip_userinfo(url: &str) -> String {
    // The URL did not parse, so its parts are unknown: hide everything before the last '@'.
    match url.rfind('@') {
        Some(at) => format!("<redacted>@{}", &url[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Result<HttpConfig, ConfigError> {
        HttpConfig::new(
            url,
            ItemsFormat::pointers("", "/id"),
            IndexFrom::ETag,
            WatchMode::ETagSnapshot { wait: None, poll_interval: Duration::from_secs(1) },
        )
    }

    #[test]
    fn headers_never_show_in_debug() {
        let c = config("http://127.0.0.1/x").unwrap().with_header("X-Consul-Token", "tok-123").unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("x-consul-token: <redacted>") && !debug.contains("tok-123"), "{debug}");
    }

    #[test]
    fn url_passwords_are_redacted() {
        let c = config("http://user:pw@127.0.0.1/x").unwrap();
        assert!(!c.url().contains("pw@") && !format!("{c:?}").contains(":pw@"));
        let err = config("http//user:pw@bad").unwrap_err().to_string();
        assert!(!err.contains("pw"), "{err}");
        assert!(config("ftp://127.0.0.1/").unwrap_err().to_string().contains("only http"));
    }

    #[test]
    fn wait_parameters_render_in_each_format() {
        let d = Duration::from_millis(2500);
        assert_eq!(WaitParam::new("wait", WaitFormat::GoDuration).render(d).1, "2500ms");
        assert_eq!(WaitParam::new("wait", WaitFormat::GoDuration).render(Duration::from_secs(300)).1, "300s");
        assert_eq!(WaitParam::new("t", WaitFormat::Seconds).render(d).1, "2");
        assert_eq!(WaitParam::new("t", WaitFormat::Millis).render(d).1, "2500");
    }

    #[test]
    fn bad_header_values_are_refused_without_echoing_them() {
        let err = config("http://127.0.0.1/").unwrap().with_header("Authorization", "a\nb").unwrap_err();
        assert!(!err.to_string().contains("a\nb"));
    }
}

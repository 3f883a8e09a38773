//! Plain ETag polling of any JSON collection endpoint.

use std::time::Duration;

use crate::config::{ConfigError, HttpConfig, WatchMode};
use crate::format::{IndexFrom, ItemsFormat};

/// Polls `url` with `If-None-Match`: the collection's version is its `ETag`, a `304` means no
/// change (the next poll follows after `poll_interval`), a `200` with a new `ETag` is diffed
/// against the previous answer into Added/Modified/Deleted events.
///
/// ```
/// use std::time::Duration;
/// use informer_http::{ItemsFormat, presets};
/// let config = presets::etag_poll(
///     "http://127.0.0.1:8080/api/services",
///     ItemsFormat::pointers("/items", "/name").with_version("/revision"),
///     Duration::from_secs(2),
/// ).unwrap();
/// assert_eq!(config.url(), "http://127.0.0.1:8080/api/services");
/// ```
pub fn etag_poll(url: &str, items: ItemsFormat, poll_interval: Duration) -> Result<HttpConfig, ConfigError> {
    Ok(HttpConfig::new(url, items, IndexFrom::ETag, WatchMode::ETagSnapshot { wait: None, poll_interval })?
        .with_wait(Duration::from_secs(30)))
}

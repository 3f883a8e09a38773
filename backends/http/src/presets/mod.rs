//! Ready configurations for real long-poll servers: [`etcd_v2_keys`], [`consul_kv`] and
//! [`etag_poll`]. Each returns an [`HttpConfig`](crate::HttpConfig) to adjust further (headers,
//! wait, rate limit) before building an [`HttpSource`](crate::HttpSource).

mod consul;
mod etag;
mod etcd_v2;

pub use consul::consul_kv;
pub use etag::etag_poll;
pub use etcd_v2::etcd_v2_keys;

use crate::config::ConfigError;

/// `base` without a trailing slash, followed by `path`.
fn join(base: &str, path: &str) -> Result<String, ConfigError> {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return Err(ConfigError::InvalidUrl { url: base.to_string(), reason: "empty base URL".into() });
    }
    Ok(format!("{base}{path}"))
}

//! [`EtcdConfig`]: where etcd is, what to mirror, and how to talk to it.

use std::fmt;
use std::time::Duration;

use crate::key::KeyRange;

/// What the source does with a value its [`Codec`](crate::Codec) cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DecodeFailurePolicy {
    /// Leave the key out of the mirror, log it (with key and revision), count it in
    /// [`EtcdSource::decode_failures`](crate::EtcdSource::decode_failures) and go on. A key
    /// whose value becomes undecodable leaves the mirror (a `Deleted` event with its last good
    /// value); it comes back when it is written with a decodable value. The default.
    #[default]
    Skip,
    /// Fail the list or watch with a [`Malformed`](informer_core::ErrorKind::Malformed) error
    /// naming the key and revision. The reflector retries with backoff, so the mirror stops at
    /// that revision until the value is fixed (a list then succeeds) or the history is
    /// compacted (a relist then sees the fixed value). For programs that prefer a stale mirror
    /// to an incomplete one.
    Fail,
}

/// Configuration of an [`EtcdSource`](crate::EtcdSource): endpoints, the key range, credentials,
/// and the connection's tuning. Build it with [`EtcdConfig::new`] and the `with_*` methods.
///
/// Several endpoints may be given (`127.0.0.1:2379`, `http://10.0.0.1:2379`,
/// `https://etcd-0:2379`): requests are balanced over them and a failed one is retried by the
/// reflector, which then may reach another member.
///
/// # Credentials
///
/// * **User and password** ([`EtcdConfig::with_user`]): etcd's v3 authentication. The client
///   gets a token at connect time and refreshes it when it expires. The password is never
///   printed: `Debug` shows `<redacted>` and no error or description contains it.
/// * **TLS** (`EtcdConfig::with_tls`, crate feature `tls`): rustls; give `https://`
///   endpoints and an `etcd_client::TlsOptions` with the CA certificate and, for client
///   certificate authentication, an identity.
///
/// ```
/// use std::time::Duration;
/// use informer_etcd::{DecodeFailurePolicy, EtcdConfig, KeyRange};
/// let config = EtcdConfig::new(["127.0.0.1:2379", "127.0.0.1:22379"], KeyRange::prefix("/app/"))
///     .with_user("mirror", "s3cret")
///     .with_keep_alive(Duration::from_secs(6), Duration::from_secs(4))
///     .with_decode_failures(DecodeFailurePolicy::Fail);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// The endpoints: `host:port` or `http(s)://host:port`.
    pub endpoints: Vec<String>,
    /// The keys to mirror.
    pub range: KeyRange,
    pub(crate) user: Option<(String, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<etcd_client::TlsOptions>,
    /// HTTP/2 keep-alive ping interval. Pings are sent also while no request is open, so a dead
    /// or paused server is noticed within `keep_alive_interval + keep_alive_timeout`. etcd's
    /// default `--grpc-keepalive-min-time` is 5 s: a smaller interval makes it close the
    /// connection ("too many pings"). Default 6 s.
    pub keep_alive_interval: Duration,
    /// How long to wait for a ping's answer before the connection is declared dead. Default 4 s.
    pub keep_alive_timeout: Duration,
    /// Timeout of a TCP (and TLS) connect to one endpoint. Default 5 s.
    pub connect_timeout: Duration,
    /// Timeout of one list page or status request (not of watches, which are long-lived).
    /// Default 60 s.
    pub request_timeout: Duration,
    /// The largest gRPC response the client decodes. tonic's default is 4 MiB, which one page
    /// of large values exceeds; default here 128 MiB. A larger page fails with a
    /// [`Permanent`](informer_core::ErrorKind::Permanent) error naming this setting.
    pub max_decoding_message_size: usize,
    /// What to do with values the codec cannot decode. Default [`DecodeFailurePolicy::Skip`].
    pub decode_failures: DecodeFailurePolicy,
    /// Read list pages with etcd's *serializable* consistency (answered by any member from its
    /// local state, possibly stale) unless the reflector asks for a consistent read. Default
    /// false: every first page is a linearizable read, which etcd answers with the newest
    /// committed state, so the list is never older than anything seen before.
    pub serializable_reads: bool,
    /// Ask the server for a progress notification this often (a bookmark, so the mirror's
    /// version keeps up while the prefix is quiet). Used only where it is safe: etcd ≥ 3.4.31,
    /// ≥ 3.5.13 or ≥ 3.6 (older servers can send a requested progress notification ahead of
    /// undelivered events, etcd issue 15220); the version is read with the Status API at each
    /// watch. Timed progress notifications (etcd's `--experimental-watch-progress-notify-interval`,
    /// 10 minutes by default) are always used. Default 60 s; `None` never asks.
    pub progress_request_interval: Option<Duration>,
    /// Send etcd's "require leader" metadata: a member that loses its leader cancels the watch
    /// (a transient error, so the reflector resumes on another member) instead of keeping a
    /// silent watch open on a partitioned member. Default true.
    pub require_leader: bool,
}

impl EtcdConfig {
    /// A configuration with defaults for `endpoints` and `range`.
    pub fn new<E: Into<String>>(endpoints: impl IntoIterator<Item = E>, range: KeyRange) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            range,
            user: None,
            #[cfg(feature = "tls")]
            tls: None,
            keep_alive_interval: Duration::from_secs(6),
            keep_alive_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            max_decoding_message_size: 128 << 20,
            decode_failures: DecodeFailurePolicy::Skip,
            serializable_reads: false,
            progress_request_interval: Some(Duration::from_secs(60)),
            require_leader: true,
        }
    }

    /// Authenticates as `name` with `password` (etcd v3 auth).
    #[must_use]
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// Uses TLS with these options (needs `https://` endpoints or bare `host:port`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: etcd_client::TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the HTTP/2 keep-alive interval and timeout.
    #[must_use]
    pub fn with_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive_interval = interval;
        self.keep_alive_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the timeout of list and status requests.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the largest response decoded, in bytes.
    #[must_use]
    pub fn with_max_decoding_message_size(mut self, bytes: usize) -> Self {
        self.max_decoding_message_size = bytes;
        self
    }

    /// Chooses what happens to undecodable values.
    #[must_use]
    pub fn with_decode_failures(mut self, policy: DecodeFailurePolicy) -> Self {
        self.decode_failures = policy;
        self
    }

    /// Allows serializable (possibly stale) list reads when no consistent read is asked for.
    #[must_use]
    pub fn with_serializable_reads(mut self, serializable: bool) -> Self {
        self.serializable_reads = serializable;
        self
    }

    /// Sets how often progress notifications are requested (`None`: never).
    #[must_use]
    pub fn with_progress_request_interval(mut self, interval: Option<Duration>) -> Self {
        self.progress_request_interval = interval;
        self
    }

    /// Turns etcd's "require leader" watch metadata on or off.
    #[must_use]
    pub fn with_require_leader(mut self, require_leader: bool) -> Self {
        self.require_leader = require_leader;
        self
    }

    /// The endpoints without any `user:password@` part, for logs and descriptions.
    pub fn endpoints_for_display(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| strip_userinfo(e)).collect()
    }

    pub(crate) fn connect_options(&self) -> etcd_client::ConnectOptions {
        let mut options = etcd_client::ConnectOptions::new()
            .with_keep_alive(self.keep_alive_interval, self.keep_alive_timeout)
            .with_keep_alive_while_idle(true)
            .with_connect_timeout(self.connect_timeout)
            .with_require_leader(self.require_leader);
        if let Some((name, password)) = &self.user {
            options = options.with_user(name.clone(), password.clone()).with_auto_token_refresh(true);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls.clone());
        }
        options
    }
}

impl fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EtcdConfig");
        d.field("endpoints", &self.endpoints_for_display())
            .field("range", &self.range)
            .field("user", &self.user.as_ref().map(|(name, _)| format!("{name} (password <redacted>)")));
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.field("keep_alive_interval", &self.keep_alive_interval)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_decoding_message_size", &self.max_decoding_message_size)
            .field("decode_failures", &self.decode_failures)
            .field("serializable_reads", &self.serializable_reads)
            .field("progress_request_interval", &self.progress_request_interval)
            .field("require_leader", &self.require_leader)
            .finish()
    }
}

/// `scheme://user:pass@host` → `scheme://host`.
fn strip_userinfo(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, endpoint),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_password() {
        let config = EtcdConfig::new(["http://u:urlpass@127.0.0.1:2379"], KeyRange::prefix("/a/"))
            .with_user("alice", "hunter2-secret");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(!debug.contains("urlpass"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
    }

    #[test]
    fn userinfo_is_stripped_from_endpoints_for_display() {
        assert_eq!(strip_userinfo("https://a:b@host:1/x"), "https://host:1/x");
        assert_eq!(strip_userinfo("a:b@host:1"), "host:1");
        assert_eq!(strip_userinfo("127.0.0.1:2379"), "127.0.0.1:2379");
    }
}

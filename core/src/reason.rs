//! Why a source failed, in words a person acts on: [`SyncFailureKind`].
//!
//! An [`ErrorKind`] tells the reflector *what to do next* (relist, back off,
//! fall back); a [`SyncFailureKind`] tells the *person* reading the sync state *why* the mirror
//! is not current: "forbidden" asks for an RBAC rule, "unauthorized" for new credentials,
//! "not found" for a CRD or a path, "unavailable" for patience.
//!
//! Backends set it with [`SourceError::with_reason`](crate::SourceError::with_reason) from what
//! their protocol says (an HTTP status, a Kubernetes `Status` reason, a gRPC code); core never
//! guesses it from a message. An error without one gets the default of its kind
//! ([`SyncFailureKind::of_kind`]).

use std::fmt;

use crate::source::ErrorKind;

/// Why a source request failed, as shown in a [`SyncState::Failing`](crate::SyncState::Failing).
///
/// ```
/// use informer_core::{ErrorKind, SyncFailureKind};
/// assert!(SyncFailureKind::Forbidden.is_permanent());
/// assert!(!SyncFailureKind::Unavailable.is_permanent());
/// assert_eq!(SyncFailureKind::of_kind(ErrorKind::Transient), SyncFailureKind::Unavailable);
/// assert_eq!(SyncFailureKind::NotFound.to_string(), "not found");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncFailureKind {
    /// The credentials were refused (HTTP 401, etcd `Unauthenticated`).
    Unauthorized,
    /// The credentials are valid but lack the rights (HTTP 403, RBAC, etcd `PermissionDenied`).
    Forbidden,
    /// The collection does not exist (HTTP 404: an uninstalled CRD, a wrong path).
    NotFound,
    /// The request itself is invalid (HTTP 400 / 422: a bad selector, a bad argument).
    Invalid,
    /// Any other refusal that only a configuration change fixes.
    Refused,
    /// The server could not be reached or answered 5xx / 429; retrying helps.
    Unavailable,
    /// The server's answer could not be understood.
    Malformed,
    /// The version asked for is gone; a relist follows.
    Expired,
    /// The server does not support the request (e.g. a streaming list).
    Unsupported,
    /// A streaming list stalled before its end bookmark.
    Stalled,
    /// The store refused a change (see the [`Store`](crate::Store) contract); a relist repairs it.
    StoreRefused,
    /// [`wait_synced_for`](crate::ReflectorHandle::wait_synced_for) ran out of time while the
    /// reflector had no failure to report.
    TimedOut,
    /// The reflector stopped before it synced.
    Stopped,
}

impl SyncFailureKind {
    /// The reason an error of `kind` has when its backend named none.
    pub fn of_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Expired => Self::Expired,
            ErrorKind::Transient => Self::Unavailable,
            ErrorKind::Malformed => Self::Malformed,
            ErrorKind::Unsupported => Self::Unsupported,
            ErrorKind::Permanent => Self::Refused,
        }
    }

    /// True if retrying cannot succeed as configured (unauthorized, forbidden, not found,
    /// invalid, refused): a `--once` run stops on it, a long-running mirror keeps retrying
    /// because credentials rotate and CRDs get installed.
    pub fn is_permanent(self) -> bool {
        matches!(self, Self::Unauthorized | Self::Forbidden | Self::NotFound | Self::Invalid | Self::Refused)
    }

    /// The reason as lower-case words (`forbidden`, `not found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not found",
            Self::Invalid => "invalid",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::Unsupported => "unsupported",
            Self::Stalled => "stalled",
            Self::StoreRefused => "store refused",
            Self::TimedOut => "timed out",
            Self::Stopped => "stopped",
        }
    }

    /// The reason an HTTP status code means (401 unauthorized, 403 forbidden, 404 not found,
    /// 400 / 422 invalid, 408 / 429 / 5xx unavailable), for HTTP-based backends; `None` for
    /// codes without a reason of their own.
    ///
    /// ```
    /// use informer_core::SyncFailureKind;
    /// assert_eq!(SyncFailureKind::of_http_status(403), Some(SyncFailureKind::Forbidden));
    /// assert_eq!(SyncFailureKind::of_http_status(200), None);
    /// ```
    pub fn of_http_status(status: u16) -> Option<Self> {
        Some(match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            400 | 422 => Self::Invalid,
            408 | 429 | 500..=599 => Self::Unavailable,
            _ => return None,
        })
    }
}

impl fmt::Display for SyncFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

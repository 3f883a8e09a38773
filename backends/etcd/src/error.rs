//! Errors: [`EtcdError`] for setting a source up, and the mapping of etcd's answers to the
//! core's [`ErrorKind`]s.
//!
//! The mapping is tabled in the docs of [`EtcdSource`](crate::EtcdSource).

use informer_core::{ErrorKind, SourceError, SyncFailureKind};
use tonic::Code;

/// Why an [`EtcdSource`](crate::EtcdSource) could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// The configuration names no endpoint.
    #[error("etcd source for {range}: no endpoints configured")]
    NoEndpoints {
        /// The key range of the source.
        range: String,
    },
    /// The client could not be built or could not authenticate.
    #[error("etcd source {endpoints:?}: cannot connect: {source}")]
    Connect {
        /// The endpoints (without credentials).
        endpoints: Vec<String>,
        /// etcd-client's error.
        #[source]
        source: etcd_client::Error,
    },
}

/// Maps an etcd-client error to a [`SourceError`] whose message is `context: cause`.
pub(crate) fn classify(err: etcd_client::Error, context: impl FnOnce() -> String) -> SourceError {
    let (kind, cause) = match &err {
        etcd_client::Error::GRpcStatus(status) => {
            (status_kind(status.code(), status.message()), format!("{:?}: {}", status.code(), status.message()))
        }
        etcd_client::Error::InvalidArgs(_) | etcd_client::Error::InvalidUri(_) => {
            (ErrorKind::Permanent, err.to_string())
        }
        _ => (ErrorKind::Transient, err.to_string()),
    };
    let hint = if kind == ErrorKind::Permanent && cause.contains("message length too large") {
        " (raise EtcdConfig::max_decoding_message_size or lower the page size)"
    } else {
        ""
    };
    let reason = match &err {
        etcd_client::Error::GRpcStatus(status) => status_reason(status.code()),
        _ => None,
    };
    let error = SourceError::new(kind, format!("{}: {cause}{hint}", context())).with_source(err);
    match reason {
        Some(reason) => error.with_reason(reason),
        None => error,
    }
}

/// The reason a gRPC status code from etcd names, if any.
pub(crate) fn status_reason(code: Code) -> Option<SyncFailureKind> {
    Some(match code {
        Code::Unauthenticated => SyncFailureKind::Unauthorized,
        Code::PermissionDenied => SyncFailureKind::Forbidden,
        Code::InvalidArgument => SyncFailureKind::Invalid,
        Code::Unavailable | Code::DeadlineExceeded => SyncFailureKind::Unavailable,
        _ => return None,
    })
}

/// The kind of a gRPC status from etcd.
pub(crate) fn status_kind(code: Code, message: &str) -> ErrorKind {
    match code {
        Code::OutOfRange if is_compacted(message) || message.contains("future revision") => ErrorKind::Expired,
        Code::OutOfRange if message.contains("too large") => ErrorKind::Permanent,
        Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument | Code::Unimplemented => {
            ErrorKind::Permanent
        }
        _ => ErrorKind::Transient,
    }
}

pub(crate) fn is_compacted(message: &str) -> bool {
    message.contains("required revision has been compacted")
}

/// The kind of a watch cancelled by the server without a compaction revision.
pub(crate) fn cancel_kind(reason: &str) -> ErrorKind {
    let reason = reason.to_ascii_lowercase();
    if is_compacted(&reason) {
        ErrorKind::Expired
    } else if reason.contains("permission denied") || reason.contains("auth") {
        ErrorKind::Permanent
    } else {
        ErrorKind::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_is_classified_by_message_not_code() {
        let compacted = "etcdserver: mvcc: required revision has been compacted";
        assert_eq!(status_kind(Code::OutOfRange, compacted), ErrorKind::Expired);
        assert_eq!(
            status_kind(Code::OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
            ErrorKind::Expired
        );
        let too_large = "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes";
        assert_eq!(status_kind(Code::OutOfRange, too_large), ErrorKind::Permanent);
        assert_eq!(status_kind(Code::OutOfRange, "something else"), ErrorKind::Transient);
    }

    #[test]
    fn auth_failures_carry_their_reason() {
        assert_eq!(status_reason(Code::Unauthenticated), Some(SyncFailureKind::Unauthorized));
        assert_eq!(status_reason(Code::PermissionDenied), Some(SyncFailureKind::Forbidden));
        assert_eq!(status_reason(Code::Unknown), None);
    }

    #[test]
    fn unavailable_and_auth_failures_map_to_transient_and_permanent() {
        assert_eq!(status_kind(Code::Unavailable, "etcdserver: leader changed"), ErrorKind::Transient);
        assert_eq!(status_kind(Code::DeadlineExceeded, "etcdserver: request timed out"), ErrorKind::Transient);
        assert_eq!(status_kind(Code::Unauthenticated, "etcdserver: invalid auth token"), ErrorKind::Permanent);
        assert_eq!(status_kind(Code::PermissionDenied, "etcdserver: permission denied"), ErrorKind::Permanent);
    }

    #[test]
    fn too_large_errors_name_the_setting_to_change() {
        let status = tonic::Status::out_of_range("Error, decoded message length too large: found 9 bytes");
        let err = classify(etcd_client::Error::GRpcStatus(status), || "etcd x: list".into());
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert!(err.message().contains("max_decoding_message_size"), "{err}");
    }

    #[test]
    fn cancelled_watches_are_transient_unless_compacted_or_denied() {
        assert_eq!(cancel_kind(""), ErrorKind::Transient);
        assert_eq!(cancel_kind("etcdserver: no leader"), ErrorKind::Transient);
        assert_eq!(cancel_kind("etcdserver: permission denied"), ErrorKind::Permanent);
        assert_eq!(cancel_kind("mvcc: required revision has been compacted"), ErrorKind::Expired);
    }
}

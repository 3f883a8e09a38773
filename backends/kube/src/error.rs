//! How the API server's failures become [`SourceError`]s, i.e. what the reflector does next.
//!
//! | answer | kind | why |
//! | --- | --- | --- |
//! | 410 Gone (HTTP or watch `ERROR` event): expired resourceVersion or continue token | Expired | the version is gone; relist |
//! | 504 with cause `ResourceVersionTooLarge` ("Too large resource version") | Expired | the server is behind the version asked; the core then lists with a consistent read (kubernetes #107133) |
//! | 400 / 422 to a streaming list | Unsupported | the server rejects `sendInitialEvents`; fall back to list + watch |
//! | 401, 403, 404 | Permanent | wrong credentials, missing RBAC rights, or a resource (CRD) / namespace path that does not exist: only a configuration change fixes it; the core still retries with backoff because credentials rotate and CRDs get installed |
//! | 400 / 422 to a list or watch | Permanent | the request itself is invalid (e.g. a malformed selector) |
//! | 429, 5xx, other codes, connection failures | Transient | retry after backoff |
//! | a body that is not the JSON expected | Malformed | |
//!
//! Permanent and transient errors also carry the reason of their status code
//! ([`SyncFailureKind::of_http_status`]): 401 unauthorized, 403 forbidden, 404 not found,
//! 400 / 422 invalid, 429 / 5xx unavailable; the sync state shows it.

use informer_core::{ErrorKind, SourceError, SyncFailureKind};

use crate::codec::Status;

/// Which request failed; decides how 400 / 422 are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    List,
    Watch,
    WatchList,
}

impl Verb {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::WatchList => "streaming list",
        }
    }
}

fn too_large(status: &Status) -> bool {
    status.details.as_ref().is_some_and(|d| d.causes.iter().any(|c| c.reason == "ResourceVersionTooLarge"))
        || status.message.contains("Too large resource version")
}

/// The kind of failure a `Status` (code `http` if the status has none) means.
pub(crate) fn kind_of(http: u16, status: &Status, verb: Verb) -> ErrorKind {
    let code = if status.code != 0 { status.code } else { http };
    match code {
        410 => ErrorKind::Expired,
        504 if too_large(status) => ErrorKind::Expired,
        400 | 422 if verb == Verb::WatchList => ErrorKind::Unsupported,
        400 | 401 | 403 | 404 | 422 => ErrorKind::Permanent,
        _ if too_large(status) => ErrorKind::Expired,
        _ => ErrorKind::Transient,
    }
}

/// A `SourceError` for a failed request, naming the source, the request and the answer.
pub(crate) fn from_status(source: &str, verb: Verb, uri: &str, http: u16, status: &Status) -> SourceError {
    let kind = kind_of(http, status, verb);
    let code = if status.code != 0 { status.code } else { http };
    let err = SourceError::new(
        kind,
        format!("{source}: {} {uri} answered {code} {}: {}", verb.name(), status.reason, status.message),
    );
    match kind {
        ErrorKind::Permanent | ErrorKind::Transient => match SyncFailureKind::of_http_status(code) {
            Some(reason) => err.with_reason(reason),
            None => err,
        },
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{StatusCause, StatusDetails};

    fn status(code: u16, message: &str) -> Status {
        Status { code, message: message.into(), ..Status::default() }
    }

    #[test]
    fn refusals_carry_the_reason_of_their_status_code() {
        let reason = |code| from_status("kube", Verb::List, "/api/v1/pods", code, &status(code, "no")).reason();
        assert_eq!(reason(401), SyncFailureKind::Unauthorized);
        assert_eq!(reason(403), SyncFailureKind::Forbidden);
        assert_eq!(reason(404), SyncFailureKind::NotFound);
        assert_eq!(reason(422), SyncFailureKind::Invalid);
        assert_eq!(reason(503), SyncFailureKind::Unavailable);
        assert_eq!(reason(410), SyncFailureKind::Expired);
    }

    #[test]
    fn gone_is_expired_for_every_verb() {
        for verb in [Verb::List, Verb::Watch, Verb::WatchList] {
            assert_eq!(kind_of(200, &status(410, "too old resource version: 1 (5)"), verb), ErrorKind::Expired);
        }
    }

    #[test]
    fn too_large_resource_version_is_expired() {
        let mut s = status(504, "Too large resource version: 9, current: 5");
        assert_eq!(kind_of(504, &s, Verb::List), ErrorKind::Expired);
        s.message = "timeout".into();
        s.details = Some(StatusDetails { causes: vec![StatusCause { reason: "ResourceVersionTooLarge".into() }] });
        assert_eq!(kind_of(504, &s, Verb::List), ErrorKind::Expired);
        assert_eq!(kind_of(504, &status(504, "timeout"), Verb::List), ErrorKind::Transient);
    }

    #[test]
    fn rejected_streaming_list_is_unsupported_but_a_bad_list_is_permanent() {
        assert_eq!(kind_of(422, &status(422, "forbidden"), Verb::WatchList), ErrorKind::Unsupported);
        assert_eq!(kind_of(422, &status(422, "forbidden"), Verb::List), ErrorKind::Permanent);
        assert_eq!(kind_of(403, &status(0, "forbidden"), Verb::Watch), ErrorKind::Permanent);
        assert_eq!(kind_of(503, &status(0, "unavailable"), Verb::Watch), ErrorKind::Transient);
        assert_eq!(kind_of(429, &status(429, "slow down"), Verb::List), ErrorKind::Transient);
    }

    #[test]
    fn messages_name_the_source_and_request() {
        let err = from_status("kube pods", Verb::List, "/api/v1/pods?limit=5", 410, &status(410, "gone"));
        assert!(err.to_string().contains("kube pods: list /api/v1/pods?limit=5 answered 410"));
    }
}

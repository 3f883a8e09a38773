//! `Status` bodies, as the real API server writes them for failed requests and in watch
//! `ERROR` events (`k8s.io/apimachinery/pkg/apis/meta/v1.Status`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed request: the HTTP code, the `reason` and the message of a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (also the `code` field of the body).
    pub code: u16,
    /// The machine-readable `reason` (`Expired`, `NotFound`, `Invalid`, ...).
    pub reason: &'static str,
    /// The human-readable `message`.
    pub message: String,
    /// The `details` object, if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// The `Status` JSON object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // StatusReasonUnknown: Go omits the empty field.
            if let Some(object) = status.as_object_mut() {
                object.remove("reason");
            }
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    /// 410 Gone for a watch or an exact read from a compacted resourceVersion. The message is
    /// the watch cache's: `too old resource version: <asked> (<oldest available>)`.
    pub fn too_old(asked: u64, oldest: u64) -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: format!("too old resource version: {asked} ({oldest})"),
            details: None,
        }
    }

    /// 410 Gone for a continue token whose snapshot was compacted (etcd3 storage's message).
    pub fn continue_expired() -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: "The provided continue parameter is too old to display a consistent list result. You can \
                      start a new list without the continue parameter, or use the continue token in this response \
                      to retrieve the remainder of the results. Continuing with the provided token results in an \
                      inconsistent list - objects that were created, modified, or deleted between the time the \
                      first chunk was returned and now may show up in the list."
                .to_string(),
            details: None,
        }
    }

    /// "Too large resource version": the asked version is newer than the server's. The real
    /// server waits up to 3 s for its cache to catch up and then answers 504 with a cause of
    /// reason `ResourceVersionTooLarge`, which clients (client-go, informer) recognise. This
    /// server is never behind its store, so it answers at once (a guess at the timing only).
    pub fn too_large(asked: u64, current: u64) -> Self {
        Self {
            code: 504,
            reason: "Timeout",
            message: format!("Too large resource version: {asked}, current: {current}"),
            details: Some(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1
            })),
        }
    }

    /// 422 Invalid for bad list options, with the validation causes the real server lists.
    pub fn invalid_list_options(causes: &[(&str, String)]) -> Self {
        let joined: Vec<String> = causes.iter().map(|(field, msg)| format!("{field}: {msg}")).collect();
        let message = if joined.len() == 1 {
            format!("ListOptions.meta.k8s.io \"\" is invalid: {}", joined[0])
        } else {
            format!("ListOptions.meta.k8s.io \"\" is invalid: [{}]", joined.join(", "))
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(field, msg)| json!({"reason": "FieldValueForbidden", "message": msg, "field": field}))
            .collect();
        Self {
            code: 422,
            reason: "Invalid",
            message,
            details: Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
        }
    }

    /// The answer to an invalid `shardSelector`. kube-apiserver 1.37 parses it in the
    /// registry, after the request's validation, and returns a plain Go error there, so the
    /// answer is `500` with no reason and the parser's message.
    pub fn invalid_shard_selector(message: &str) -> Self {
        Self { code: 500, reason: "", message: format!("invalid shard selector: {message}"), details: None }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { code: 400, reason: "BadRequest", message: message.into(), details: None }
    }

    /// 404 for a path that names no resource this server knows.
    pub fn unknown_path() -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".to_string(),
            details: Some(json!({})),
        }
    }

    /// 404 for a missing object: `pods "web-0" not found`.
    pub fn not_found(plural: &str, group: &str, name: &str) -> Self {
        let qualified = if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") };
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{qualified} \"{name}\" not found"),
            details: Some(json!({"name": name, "group": group, "kind": plural})),
        }
    }

    /// 405 for a verb this server does not implement.
    pub fn method_not_allowed(method: &str) -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("the server does not allow this method on the requested resource ({method})"),
            details: Some(json!({})),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut response = (code, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The real server turns `details.retryAfterSeconds` into a Retry-After header.
        if let Some(seconds) = self.details.as_ref().and_then(|d| d["retryAfterSeconds"].as_u64())
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A JSON response with status 200.
pub fn json_response(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_old_status_has_code_410_and_reason_expired() {
        let status = ApiError::too_old(5, 20).to_status();
        assert_eq!(status["code"], 410);
        assert_eq!(status["reason"], "Expired");
        assert_eq!(status["message"], "too old resource version: 5 (20)");
    }

    #[test]
    fn invalid_list_options_names_the_field() {
        let err = ApiError::invalid_list_options(&[("sendInitialEvents", "Forbidden: nope".to_string())]);
        assert_eq!(err.code, 422);
        assert!(err.message.contains("sendInitialEvents: Forbidden: nope"));
        assert_eq!(err.to_status()["details"]["causes"][0]["field"], "sendInitialEvents");
    }
}

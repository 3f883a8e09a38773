//! [`Answer`]: one HTTP response as the decoders see it, and helpers that turn a missing header,
//! a non-JSON body or a JSON pointer that matches nothing into a [`SourceError`] of kind
//! [`Malformed`](informer_core::ErrorKind::Malformed) naming the URL and what was missing.

use bytes::Bytes;
use informer_core::SourceError;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// One HTTP response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `GET <url>` without credentials, for error messages.
    pub request: String,
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body (read completely; heartbeat whitespace included).
    pub body: Bytes,
}

impl Answer {
    /// Parses the body as JSON (leading and trailing whitespace, e.g. heartbeats, is fine).
    ///
    /// ```
    /// use informer_http::Answer;
    /// let answer = Answer {
    ///     request: "GET http://127.0.0.1/x".into(),
    ///     status: 200,
    ///     headers: Default::default(),
    ///     body: bytes::Bytes::from_static(b"<html>"),
    /// };
    /// let err = answer.json().unwrap_err();
    /// assert!(err.to_string().contains("GET http://127.0.0.1/x"));
    /// assert!(err.to_string().contains("not JSON"));
    /// ```
    pub fn json(&self) -> Result<Value, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            SourceError::malformed(format!(
                "{}: body is not JSON ({e}); it starts with {:?}",
                self.request,
                preview(&self.body)
            ))
            .with_source(e)
        })
    }

    /// The value of a header, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
    }

    /// The value of a header, or a malformed error naming the header and the URL.
    pub fn require_header(&self, name: &str) -> Result<&str, SourceError> {
        match self.header(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(SourceError::malformed(format!(
                "{}: response (HTTP {}) has no {name} header",
                self.request, self.status
            ))),
        }
    }

    /// A header parsed as an unsigned index (`X-Consul-Index`, `X-Etcd-Index`).
    pub fn index_header(&self, name: &str) -> Result<u64, SourceError> {
        let raw = self.require_header(name)?;
        raw.parse().map_err(|_| {
            SourceError::malformed(format!("{}: header {name} is {raw:?}, not an unsigned index", self.request))
        })
    }

    /// Resolves a JSON pointer in `body`, or a malformed error naming the pointer and the URL.
    pub fn pointer<'a>(&self, body: &'a Value, pointer: &str, what: &str) -> Result<&'a Value, SourceError> {
        body.pointer(pointer).ok_or_else(|| {
            SourceError::malformed(format!("{}: JSON pointer {pointer:?} ({what}) matches nothing", self.request))
        })
    }
}

/// The first bytes of a body, for error messages.
pub(crate) fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    if body.len() > 80 { format!("{text}...") } else { text.into_owned() }
}

/// A JSON scalar (string or number) as a key or version string.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON scalar at `pointer` inside `item`, as text; `what` names it in the error.
pub(crate) fn text_at(answer: &Answer, item: &Value, pointer: &str, what: &str) -> Result<String, SourceError> {
    let v = answer.pointer(item, pointer, what)?;
    scalar_text(v).ok_or_else(|| {
        SourceError::malformed(format!(
            "{}: JSON pointer {pointer:?} ({what}) is {}, not a string or number",
            answer.request,
            kind_name(v)
        ))
    })
}

/// A JSON value's kind, for error messages.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static [u8]) -> Answer {
        Answer {
            request: "GET http://h/x".into(),
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn missing_header_names_the_header_and_url() {
        let err = answer(b"{}").require_header("X-Consul-Index").unwrap_err();
        assert_eq!(err.kind(), informer_core::ErrorKind::Malformed);
        assert!(err.to_string().contains("X-Consul-Index") && err.to_string().contains("GET http://h/x"));
    }

    #[test]
    fn pointer_that_matches_nothing_names_the_pointer() {
        let a = answer(b"{}");
        let body = a.json().unwrap();
        let err = a.pointer(&body, "/items", "items").unwrap_err();
        assert!(err.to_string().contains("\"/items\""), "{err}");
    }

    #[test]
    fn heartbeat_whitespace_around_json_is_accepted() {
        assert_eq!(answer(b"\n\n{\"a\":1}\n").json().unwrap()["a"], 1);
    }

    #[test]
    fn non_numeric_index_header_is_malformed() {
        let mut a = answer(b"{}");
        a.headers.insert("X-Etcd-Index", "abc".parse().unwrap());
        assert!(a.index_header("X-Etcd-Index").unwrap_err().to_string().contains("\"abc\""));
    }
}

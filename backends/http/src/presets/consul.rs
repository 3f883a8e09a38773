//! Consul's KV store with blocking queries.
//!
//! * list: `GET /v1/kv/PREFIX?recurse=true`; the version is `X-Consul-Index`; HTTP 404 (no key
//!   under the prefix) is an empty collection.
//! * watch: the same GET with `&index=V&wait=…` until `X-Consul-Index` moves; the answer is
//!   the whole prefix again, diffed against the last one. As Consul's documentation asks: an
//!   index that goes backwards resets (the watch fails as expired and the reflector relists),
//!   an index below 1 is sent as 1, and polls go through a token bucket (10 at once, 5 a
//!   second) so quick returns do not hammer the server.
//! * Each [`HttpItem`](crate::HttpItem) is one entry: key `Key`, version `ModifyIndex`, value
//!   the entry object as Consul sent it except that `Value` is decoded from base64 into text.
//!   A value that is not UTF-8 stays base64 and the entry gains `"ValueEncoding": "base64"`.

use std::time::Duration;

use base64::Engine;
use informer_core::{SourceError, Version};
use serde_json::Value;

use crate::answer::{Answer, kind_name};
use crate::config::{ConfigError, HttpConfig, RateLimit, WaitFormat, WaitParam, WatchMode};
use crate::format::{IndexFrom, ItemsFormat, Verdict};
use crate::item::HttpItem;

/// Mirrors the Consul KV prefix `prefix` (e.g. `app/`) of the agent at `base_url`
/// (e.g. `http://127.0.0.1:8500`). Waits 5 minutes per blocking query (Consul's default);
/// add an ACL token with `.with_header("X-Consul-Token", …)`.
///
/// ```
/// let config = informer_http::presets::consul_kv("http://127.0.0.1:8500", "app/").unwrap();
/// assert_eq!(config.url(), "http://127.0.0.1:8500/v1/kv/app/");
/// ```
pub fn consul_kv(base_url: &str, prefix: &str) -> Result<HttpConfig, ConfigError> {
    let url = super::join(base_url, &format!("/v1/kv/{}", prefix.trim_start_matches('/')))?;
    let watch = WatchMode::BlockingSnapshot {
        index_param: "index".into(),
        wait: Some(WaitParam::new("wait", WaitFormat::GoDuration)),
    };
    Ok(HttpConfig::new(&url, ItemsFormat::custom(decode_entries), IndexFrom::Header("X-Consul-Index".into()), watch)?
        .with_list_query("recurse", "true")
        .with_status_rule(|a: &Answer| if a.status == 404 { Verdict::Empty } else { Verdict::Default })
        .with_wait(Duration::from_secs(300))
        .with_rate_limit(Some(RateLimit { burst: 10, per_second: 5.0 })))
}

fn decode_entries(answer: &Answer) -> Result<Vec<HttpItem>, SourceError> {
    let body = answer.json()?;
    let Value::Array(entries) = body else {
        return Err(SourceError::malformed(format!(
            "{}: body is {}, not an array of entries",
            answer.request,
            kind_name(&body)
        )));
    };
    entries.into_iter().enumerate().map(|(i, entry)| decode_entry(answer, i, entry)).collect()
}

fn decode_entry(answer: &Answer, i: usize, mut entry: Value) -> Result<HttpItem, SourceError> {
    let missing = |field: &str| {
        SourceError::malformed(format!("{}: entry {i} has no {field} (or it has the wrong type)", answer.request))
    };
    let key = entry.get("Key").and_then(Value::as_str).ok_or_else(|| missing("\"Key\""))?.to_string();
    let version = entry.get("ModifyIndex").and_then(Value::as_u64).ok_or_else(|| missing("\"ModifyIndex\""))?;
    let Value::Object(fields) = &mut entry else { return Err(missing("object")) };
    match fields.get("Value") {
        None | Some(Value::Null) => {}
        Some(Value::String(encoded)) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| {
                SourceError::malformed(format!("{}: entry {key:?} has a Value that is not base64: {e}", answer.request))
            })?;
            match String::from_utf8(bytes) {
                Ok(text) => {
                    fields.insert("Value".into(), Value::String(text));
                }
                Err(_) => {
                    fields.insert("ValueEncoding".into(), Value::String("base64".into()));
                }
            }
        }
        Some(other) => {
            return Err(SourceError::malformed(format!(
                "{}: entry {key:?} has a Value that is {}, not a base64 string",
                answer.request,
                kind_name(other)
            )));
        }
    }
    Ok(HttpItem::new(key, Some(Version::from(version.to_string())), entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(body: &str) -> Answer {
        Answer {
            request: "GET http://127.0.0.1:8500/v1/kv/app/?recurse=true".into(),
            status: 200,
            headers: Default::default(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn entries_are_keyed_versioned_and_base64_decoded() {
        let body = r#"[{"Key":"app/a","Value":"aGVsbG8=","Flags":0,"CreateIndex":3,"ModifyIndex":4,"LockIndex":0},
                       {"Key":"app/b","Value":null,"CreateIndex":5,"ModifyIndex":5},
                       {"Key":"app/c","Value":"/w==","CreateIndex":6,"ModifyIndex":6}]"#;
        let items = decode_entries(&answer(body)).unwrap();
        assert_eq!(items[0].key, "app/a");
        assert_eq!(items[0].version.as_deref(), Some("4"));
        assert_eq!(items[0].value["Value"], "hello");
        assert_eq!(items[1].value["Value"], Value::Null);
        assert_eq!(items[2].value["Value"], "/w==");
        assert_eq!(items[2].value["ValueEncoding"], "base64");
    }

    #[test]
    fn bad_entries_name_the_url_and_field() {
        let err = decode_entries(&answer(r#"[{"Key":"app/a"}]"#)).unwrap_err();
        assert!(err.to_string().contains("ModifyIndex") && err.to_string().contains("/v1/kv/app/"), "{err}");
        let err = decode_entries(&answer(r#"[{"Key":"app/a","ModifyIndex":1,"Value":"%%%"}]"#)).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        assert!(decode_entries(&answer(r#"{"Key":"x"}"#)).unwrap_err().to_string().contains("not an array"));
    }
}

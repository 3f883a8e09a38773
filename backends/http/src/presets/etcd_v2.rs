//! etcd's v2 keys API (`/v2/keys/DIR`), recursive.
//!
//! * list: `GET /v2/keys/DIR?recursive=true`; nested directories are flattened into their
//!   leaf keys (directories themselves are not items); the version is `X-Etcd-Index`. A
//!   missing directory (HTTP 404, `errorCode` 100) is an empty collection.
//! * watch: `GET /v2/keys/DIR?wait=true&recursive=true&waitIndex=V+1`. Each answer is one
//!   change; its `node.modifiedIndex` is the event's version and the next poll asks for the
//!   change after it. (The answer's `X-Etcd-Index` header is the index when the wait started,
//!   not a cursor.) etcd holds the request until a change, so the client ends each poll after
//!   the wait; such a poll is "no change".
//! * `set`/`create`/`update`/`compareAndSwap` of a key: `Added` without a `prevNode`, else
//!   `Modified`. `delete`/`expire`/`compareAndDelete` of a key: `Deleted`. Creating a
//!   directory changes no key (a bookmark). Deleting or expiring a whole directory would need
//!   every key under it: the watch fails as expired and the reflector relists.
//! * HTTP 400 with `errorCode` 401 ("the event in requested index is outdated and cleared",
//!   beyond etcd's 1 000-event window) is expired: the reflector relists.

use std::time::Duration;

use informer_core::{SourceError, Version, WatchEvent};
use serde_json::Value;

use crate::answer::Answer;
use crate::config::{ConfigError, EventFeed, FeedBatch, HttpConfig, WatchMode};
use crate::format::{IndexFrom, ItemsFormat, Verdict};
use crate::item::HttpItem;

/// Mirrors the etcd v2 directory `dir` (e.g. `/app`) of the server at `base_url`
/// (e.g. `http://127.0.0.1:2379`). Each [`HttpItem`] is a leaf key (`/app/db/host`) with its
/// `modifiedIndex` as version and its string value. Waits 60 s per poll.
///
/// ```
/// let config = informer_http::presets::etcd_v2_keys("http://127.0.0.1:2379", "/app").unwrap();
/// assert_eq!(config.url(), "http://127.0.0.1:2379/v2/keys/app");
/// ```
pub fn etcd_v2_keys(base_url: &str, dir: &str) -> Result<HttpConfig, ConfigError> {
    let dir = dir.trim_matches('/');
    let url = super::join(base_url, &format!("/v2/keys/{dir}"))?;
    let feed = EventFeed {
        query: vec![("wait".into(), "true".into()), ("recursive".into(), "true".into())],
        cursor_param: "waitIndex".into(),
        cursor: std::sync::Arc::new(|v: &Version| {
            v.parse::<u64>().map(|i| (i + 1).to_string()).map_err(|_| "not an etcd index".to_string())
        }),
        wait: None,
        decode: std::sync::Arc::new(decode_event),
    };
    Ok(HttpConfig::new(
        &url,
        ItemsFormat::custom(decode_list),
        IndexFrom::Header("X-Etcd-Index".into()),
        WatchMode::EventFeed(feed),
    )?
    .with_list_query("recursive", "true")
    .with_status_rule(status_rule)
    .with_wait(Duration::from_secs(60)))
}

fn status_rule(answer: &Answer) -> Verdict {
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else { return Verdict::Default };
    match body.get("errorCode").and_then(Value::as_u64) {
        Some(100) if answer.status == 404 => Verdict::Empty,
        Some(401) => Verdict::Expired(format!(
            "etcd errorCode 401: {} ({})",
            body.get("message").and_then(Value::as_str).unwrap_or("index outdated"),
            body.get("cause").and_then(Value::as_str).unwrap_or("")
        )),
        _ => Verdict::Default,
    }
}

fn decode_list(answer: &Answer) -> Result<Vec<HttpItem>, SourceError> {
    let body = answer.json()?;
    let node = answer.pointer(&body, "/node", "the listed node")?;
    let mut items = Vec::new();
    flatten(answer, node, &mut items, 0)?;
    Ok(items)
}

/// etcd keys are at most a few hundred levels deep; the limit keeps hostile input from
/// overflowing the stack.
const MAX_DEPTH: usize = 512;

fn flatten(answer: &Answer, node: &Value, items: &mut Vec<HttpItem>, depth: usize) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Err(SourceError::malformed(format!("{}: directories nested deeper than {MAX_DEPTH}", answer.request)));
    }
    if node.get("dir").and_then(Value::as_bool).unwrap_or(false) {
        if let Some(children) = node.get("nodes") {
            let Value::Array(children) = children else {
                return Err(SourceError::malformed(format!(
                    "{}: a directory's \"nodes\" is not an array",
                    answer.request
                )));
            };
            for child in children {
                flatten(answer, child, items, depth + 1)?;
            }
        }
        return Ok(());
    }
    items.push(leaf(answer, node, None)?);
    Ok(())
}

/// A leaf node as an item; `version` overrides its `modifiedIndex` (deletions).
fn leaf(answer: &Answer, node: &Value, version: Option<&Version>) -> Result<HttpItem, SourceError> {
    let key = node.get("key").and_then(Value::as_str).ok_or_else(|| missing(answer, "a node's \"key\""))?;
    let version = match version {
        Some(v) => v.clone(),
        None => Version::from(modified_index(answer, node)?.to_string()),
    };
    let value = node.get("value").cloned().unwrap_or(Value::Null);
    Ok(HttpItem::new(key, Some(version), value))
}

fn modified_index(answer: &Answer, node: &Value) -> Result<u64, SourceError> {
    node.get("modifiedIndex").and_then(Value::as_u64).ok_or_else(|| missing(answer, "a node's \"modifiedIndex\""))
}

fn missing(answer: &Answer, what: &str) -> SourceError {
    SourceError::malformed(format!("{}: {what} is missing or has the wrong type", answer.request))
}

fn decode_event(answer: &Answer) -> Result<FeedBatch, SourceError> {
    let body = answer.json()?;
    let action = body.get("action").and_then(Value::as_str).ok_or_else(|| missing(answer, "\"action\""))?;
    let node = answer.pointer(&body, "/node", "the changed node")?;
    let index = modified_index(answer, node)?;
    let version = Version::from(index.to_string());
    let is_dir = node.get("dir").and_then(Value::as_bool).unwrap_or(false);
    let prev = body.get("prevNode");
    let event = match action {
        "set" | "create" | "update" | "compareAndSwap" if is_dir => None,
        "set" | "create" | "update" | "compareAndSwap" => {
            let object = leaf(answer, node, None)?;
            Some(match prev {
                Some(p) if !p.get("dir").and_then(Value::as_bool).unwrap_or(false) => {
                    WatchEvent::Modified { object, version: version.clone() }
                }
                _ => WatchEvent::Added { object, version: version.clone() },
            })
        }
        "delete" | "expire" | "compareAndDelete" if is_dir => {
            return Err(SourceError::expired(format!(
                "{}: directory {} was removed ({action}) at index {index}; listing again to learn which keys went with it",
                answer.request,
                node.get("key").and_then(Value::as_str).unwrap_or("?")
            )));
        }
        "delete" | "expire" | "compareAndDelete" => {
            let mut object = leaf(answer, node, Some(&version))?;
            if let Some(value) = prev.and_then(|p| p.get("value")) {
                object.value = value.clone();
            }
            Some(WatchEvent::Deleted { object, version: version.clone() })
        }
        other => {
            return Err(SourceError::malformed(format!("{}: unknown etcd action {other:?}", answer.request)));
        }
    };
    Ok(FeedBatch { events: event.into_iter().collect(), cursor: version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            request: "GET http://127.0.0.1:2379/v2/keys/app".into(),
            status,
            headers: Default::default(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn list_flattens_nested_directories() {
        let body = r#"{"action":"get","node":{"key":"/app","dir":true,"nodes":[
            {"key":"/app/a","value":"1","modifiedIndex":5,"createdIndex":5},
            {"key":"/app/d","dir":true,"nodes":[{"key":"/app/d/b","value":"2","modifiedIndex":7,"createdIndex":6}]},
            {"key":"/app/empty","dir":true}]}}"#;
        let items = decode_list(&answer(200, body)).unwrap();
        let keys: Vec<_> = items.iter().map(|i| (i.key.to_string(), i.version.clone().unwrap().to_string())).collect();
        assert_eq!(keys, [("/app/a".to_string(), "5".to_string()), ("/app/d/b".to_string(), "7".to_string())]);
    }

    #[test]
    fn events_map_actions_to_added_modified_and_deleted() {
        let set = r#"{"action":"set","node":{"key":"/app/a","value":"x","modifiedIndex":9,"createdIndex":9}}"#;
        let batch = decode_event(&answer(200, set)).unwrap();
        assert!(matches!(&batch.events[..], [WatchEvent::Added { version, .. }] if version == "9"));
        assert_eq!(batch.cursor, "9");
        let update = r#"{"action":"set","node":{"key":"/app/a","value":"y","modifiedIndex":10,"createdIndex":10},
            "prevNode":{"key":"/app/a","value":"x","modifiedIndex":9,"createdIndex":9}}"#;
        assert!(matches!(&decode_event(&answer(200, update)).unwrap().events[..], [WatchEvent::Modified { .. }]));
        let expire = r#"{"action":"expire","node":{"key":"/app/a","modifiedIndex":11,"createdIndex":10},
            "prevNode":{"key":"/app/a","value":"y","modifiedIndex":10,"createdIndex":10}}"#;
        let batch = decode_event(&answer(200, expire)).unwrap();
        assert!(
            matches!(&batch.events[..], [WatchEvent::Deleted { object, version }] if object.value == "y" && version == "11")
        );
    }

    #[test]
    fn directory_creation_is_no_event_and_directory_removal_relists() {
        let mkdir = r#"{"action":"set","node":{"key":"/app/d","dir":true,"modifiedIndex":12,"createdIndex":12}}"#;
        let batch = decode_event(&answer(200, mkdir)).unwrap();
        assert!(batch.events.is_empty() && batch.cursor == "12");
        let rmdir = r#"{"action":"delete","node":{"key":"/app/d","dir":true,"modifiedIndex":13,"createdIndex":12}}"#;
        assert!(decode_event(&answer(200, rmdir)).unwrap_err().is_expired());
    }

    #[test]
    fn outdated_index_is_expired_and_missing_directory_is_empty() {
        let outdated = r#"{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [1008/7]","index":2007}"#;
        assert!(matches!(status_rule(&answer(400, outdated)), Verdict::Expired(m) if m.contains("[1008/7]")));
        let not_found = r#"{"errorCode":100,"message":"Key not found","cause":"/app","index":3}"#;
        assert_eq!(status_rule(&answer(404, not_found)), Verdict::Empty);
        assert_eq!(status_rule(&answer(500, "oops")), Verdict::Default);
    }

    #[test]
    fn a_node_without_modified_index_is_malformed() {
        let err = decode_event(&answer(200, r#"{"action":"set","node":{"key":"/app/a"}}"#)).unwrap_err();
        assert!(err.to_string().contains("modifiedIndex") && err.to_string().contains("/v2/keys/app"), "{err}");
    }
}

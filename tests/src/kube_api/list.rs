//! LIST: which state a request reads (the resourceVersion / resourceVersionMatch table of the
//! API concepts page), paging with `limit` / `continue`, and the list body.
//!
//! | resourceVersionMatch | paging | rv unset | rv="0" | rv="N" |
//! | --- | --- | --- | --- | --- |
//! | unset | no limit | most recent | any | not older than N |
//! | unset | limit, no continue | most recent | any | exact N |
//! | unset | continue | continue (exact) | continue (exact) | 400 Bad Request |
//! | Exact | any | 422 | 422 | exact N |
//! | NotOlderThan | any | 422 | any | not older than N |
//!
//! "Any" and "not older than" are served from this server's always-fresh state, so they read
//! the newest revision (the real watch cache may be slightly behind: a guess we do not model).
//! "Exact" and continue tokens read the past state at the revision asked, from the undo log;
//! 410 Gone once it was compacted. A version newer than the server's is "too large" (504).
//!
//! `rv="0"` with a `limit` is served from the watch cache, which **ignores the limit**: the
//! whole collection in one page, no continue token. kube-apiserver 1.37 still answers so (with
//! or without `resourceVersionMatch=NotOlderThan`; `tests/tests/kube_api_vs_real.rs` asks it),
//! and so does this server by default. A server whose cache pages such lists is emulated with
//! [`KubeApiServer::set_paginate_cached_lists(true)`](super::KubeApiServer::set_paginate_cached_lists).
//!
//! Continue tokens have the real server's shape: base64 of
//! `{"v":"meta.k8s.io/v1","rv":N,"start":"<next key>"}`. `remainingItemCount` is set on
//! truncated pages without selectors (label, field or shard), like the real server. Under a
//! shard selector every page echoes it in `metadata.shardInfo` ([`super::shards`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::json;

use super::Shared;
use super::db::View;
use super::params::{Params, parse_revision};
use super::resources::Target;
use super::status::ApiError;

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

fn encode_token(revision: u64, start: &str) -> String {
    let token = ContinueToken { v: "meta.k8s.io/v1".into(), rv: revision, start: start.into() };
    STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_token(token: &str) -> Result<ContinueToken, ApiError> {
    let bytes = STANDARD.decode(token).map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))?;
    let token: ContinueToken =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1 required)",
        ));
    }
    Ok(token)
}

/// Serves one LIST request; returns the JSON body as chunks that share the stored objects'
/// bytes (a large list is never copied into one buffer).
pub(crate) fn list(shared: &Shared, target: &Target, params: &Params) -> Result<Vec<Bytes>, ApiError> {
    params.validate_list()?;
    let shard = params.shard_filter()?;
    let prefix = target.scan_prefix();
    let mut limit = params.limit;
    let (view, start): (View, String) = if let Some(token) = &params.continue_token {
        if params.resource_version.as_deref().is_some_and(|rv| rv != "0") {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        let token = decode_token(token)?;
        if shared.take_forced_continue_expiry() {
            return Err(ApiError::continue_expired());
        }
        let view = shared.db.view(Some(token.rv), |_, _| ApiError::continue_expired())?;
        let start = format!("{}{}", target.resource.store_prefix(), token.start);
        (view, start)
    } else {
        let exact = |rv: u64| {
            shared.db.view(Some(rv), |_, _| ApiError {
                code: 410,
                reason: "Expired",
                message: "The resourceVersion for the provided list is too old.".into(),
                details: None,
            })
        };
        let view = match (params.resource_version.as_deref(), params.version_match.as_deref()) {
            (None, _) => shared.db.view(None, ApiError::too_old)?,
            (Some("0"), _) => {
                if !shared.paginate_cached_lists() {
                    limit = None;
                }
                shared.db.view(None, ApiError::too_old)?
            }
            (Some(rv), Some("Exact")) => exact(parse_revision(rv)?)?,
            (Some(rv), None) if limit.is_some() => exact(parse_revision(rv)?)?,
            (Some(rv), _) => {
                let asked = parse_revision(rv)?;
                let current = shared.db.revision();
                if asked > current {
                    return Err(ApiError::too_large(asked, current));
                }
                shared.db.view(None, ApiError::too_old)?
            }
        };
        (view, prefix.clone())
    };
    let matches = |stored: &super::db::Stored| {
        params.labels.matches(&stored.labels)
            && params.fields.matches(&stored.fields)
            && shard.as_ref().is_none_or(|s| s.matches(stored))
    };
    let mut items = Vec::new();
    let mut last_key = None;
    let mut more = false;
    let mut iter = view.range(&prefix, &start).filter(|(_, s)| matches(s));
    for (key, stored) in iter.by_ref() {
        if limit.is_some_and(|l| items.len() as u64 >= l) {
            more = true;
            break;
        }
        last_key = Some(key.clone());
        items.push(stored.json.clone());
    }
    let mut metadata = json!({"resourceVersion": view.revision.to_string()});
    if more && let Some(last) = last_key {
        let relative = last.strip_prefix(&target.resource.store_prefix()).unwrap_or(&last);
        metadata["continue"] = json!(encode_token(view.revision, &format!("{relative}\u{0}")));
        if params.labels.is_empty() && params.fields.is_empty() && shard.is_none() {
            // `more` consumed one item already.
            metadata["remainingItemCount"] = json!(1 + iter.count());
        }
    }
    if let Some(shard) = &shard {
        metadata["shardInfo"] = json!({"selector": shard.echo()});
    }
    let resource = &target.resource;
    let head =
        json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(), "metadata": metadata});
    let mut head = serde_json::to_vec(&head).map_err(|e| ApiError::bad_request(e.to_string()))?;
    head.pop(); // the closing brace
    head.extend_from_slice(b",\"items\":[");
    let mut body = Vec::with_capacity(2 * items.len() + 2);
    body.push(Bytes::from(head));
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            body.push(Bytes::from_static(b","));
        }
        body.push(item);
    }
    body.push(Bytes::from_static(b"]}"));
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = decode_token(&encode_token(42, "ns/a\u{0}")).unwrap();
        assert_eq!((token.rv, token.start.as_str()), (42, "ns/a\u{0}"));
        assert_eq!(decode_token("%%%").err().unwrap().code, 400);
    }
}

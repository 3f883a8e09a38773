//! The query parameters of list and watch requests, and their validation
//! (`ValidateListOptions` of the real server, answered with `422 Invalid`).

use std::collections::HashMap;

use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::shards::ShardFilter;
use super::status::ApiError;

/// Parsed list/watch options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pub(crate) watch: bool,
    pub(crate) limit: Option<u64>,
    pub(crate) continue_token: Option<String>,
    /// `None` when the parameter is absent or empty (both mean "unset" to the real server).
    pub(crate) resource_version: Option<String>,
    pub(crate) version_match: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) send_initial_events: Option<bool>,
    pub(crate) allow_bookmarks: bool,
    pub(crate) timeout_seconds: Option<u64>,
    /// `shardSelector`, when the server applies it (the `ShardedListAndWatch` gate); parsed
    /// by [`Params::shard_filter`].
    pub(crate) shard_selector: Option<String>,
}

fn parse_bool(query: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("") => Ok(None),
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!("invalid value {other:?} for boolean parameter {name}"))),
    }
}

fn parse_int(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            // The real server treats limit <= 0 as "no limit".
            Ok(n) if n <= 0 => Ok(None),
            Ok(n) => Ok(Some(n as u64)),
            Err(_) => Err(ApiError::bad_request(format!("invalid value {text:?} for integer parameter {name}"))),
        },
    }
}

impl Params {
    /// Parses the parameters; `shards` is the `ShardedListAndWatch` gate (off, `shardSelector`
    /// is ignored, as the real server drops it).
    pub(crate) fn parse(
        query: &HashMap<String, String>,
        resource: &ResourceDef,
        shards: bool,
    ) -> Result<Self, ApiError> {
        let non_empty = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
        let params = Self {
            watch: parse_bool(query, "watch")?.unwrap_or(false),
            limit: parse_int(query, "limit")?,
            continue_token: non_empty("continue"),
            resource_version: non_empty("resourceVersion"),
            version_match: non_empty("resourceVersionMatch"),
            labels: LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?,
            fields: FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str), resource)?,
            send_initial_events: parse_bool(query, "sendInitialEvents")?,
            allow_bookmarks: parse_bool(query, "allowWatchBookmarks")?.unwrap_or(false),
            timeout_seconds: parse_int(query, "timeoutSeconds")?,
            shard_selector: query.get("shardSelector").filter(|_| shards).cloned(),
        };
        Ok(params)
    }

    /// The shard selector. Call it after the validation: the real server parses it in the
    /// registry, once the request was validated.
    pub(crate) fn shard_filter(&self) -> Result<Option<ShardFilter>, ApiError> {
        ShardFilter::parse(self.shard_selector.as_deref())
    }

    /// The validation of a list request.
    pub(crate) fn validate_list(&self) -> Result<(), ApiError> {
        let mut causes = Vec::new();
        if let Some(m) = &self.version_match {
            if self.resource_version.is_none() {
                causes.push((
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".to_string(),
                ));
            }
            if self.continue_token.is_some() {
                causes.push((
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden when continue is provided".to_string(),
                ));
            }
            if m != "Exact" && m != "NotOlderThan" {
                causes.push((
                    "resourceVersionMatch",
                    format!("Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""),
                ));
            }
            if m == "Exact" && self.resource_version.as_deref() == Some("0") {
                causes.push((
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".to_string(),
                ));
            }
        }
        if self.send_initial_events.is_some() {
            causes.push(("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list".to_string()));
        }
        if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid_list_options(&causes)) }
    }

    /// The validation of a watch request; `watch_list_enabled` is the `WatchList` feature gate.
    pub(crate) fn validate_watch(&self, watch_list_enabled: bool) -> Result<(), ApiError> {
        let mut causes = Vec::new();
        if self.send_initial_events.is_some() {
            if self.version_match.as_deref() != Some("NotOlderThan") {
                causes.push((
                    "resourceVersionMatch",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".to_string(),
                ));
            }
            if !watch_list_enabled {
                causes.push((
                    "sendInitialEvents",
                    "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
                        .to_string(),
                ));
            }
        }
        if let Some(m) = &self.version_match {
            if self.send_initial_events.is_none() {
                causes.push((
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                        .to_string(),
                ));
            }
            if m != "NotOlderThan" {
                causes.push((
                    "resourceVersionMatch",
                    format!("Unsupported value: {m:?}: supported values: \"NotOlderThan\""),
                ));
            }
        }
        if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid_list_options(&causes)) }
    }
}

/// Parses a resourceVersion as a revision number (400 if it is not one).
pub(crate) fn parse_revision(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!("resourceVersion: Invalid value: {text:?}: invalid resource version"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<Params, ApiError> {
        let query = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Params::parse(&query, &ResourceDef::pods(), true)
    }

    #[test]
    fn list_validation_follows_the_real_server() {
        assert!(
            params(&[("resourceVersion", "0"), ("resourceVersionMatch", "NotOlderThan")])
                .unwrap()
                .validate_list()
                .is_ok()
        );
        let err = params(&[("resourceVersionMatch", "NotOlderThan")]).unwrap().validate_list().unwrap_err();
        assert_eq!(err.code, 422);
        let err = params(&[("resourceVersion", "0"), ("resourceVersionMatch", "Exact")])
            .unwrap()
            .validate_list()
            .unwrap_err();
        assert!(err.message.contains("forbidden for resourceVersion \"0\""));
    }

    #[test]
    fn watch_validation_requires_not_older_than_for_initial_events() {
        let p = params(&[("watch", "true"), ("sendInitialEvents", "true")]).unwrap();
        assert_eq!(p.validate_watch(true).unwrap_err().code, 422);
        let p = params(&[("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]).unwrap();
        assert!(p.validate_watch(true).is_ok());
        assert!(p.validate_watch(false).unwrap_err().message.contains("WatchList feature gate"));
    }

    #[test]
    fn limit_zero_means_no_limit() {
        assert_eq!(params(&[("limit", "0")]).unwrap().limit, None);
        assert_eq!(params(&[("limit", "x")]).unwrap_err().code, 400);
    }
}

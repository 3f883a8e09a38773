//! Label and field selectors, parsed from the query string and matched against stored objects.
//!
//! Label selectors support the full documented grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a,b)`, `k` (exists) and `!k` (does not exist), comma-separated (all must hold).
//! Field selectors support `=`, `==` and `!=` on `metadata.name`, `metadata.namespace` (for
//! namespaced kinds) and the kind's extra selectable fields; any other field is refused with
//! `400 field label not supported`, as the real server does.

use std::collections::BTreeMap;

use super::resources::ResourceDef;
use super::status::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses a selector; errors are 400 Bad Request like the real server's.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part).ok_or_else(|| {
                ApiError::bad_request(format!("unable to parse requirement: found '{part}', expected a label selector"))
            })?);
        }
        Ok(Self(requirements))
    }

    /// True if `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    values.iter().all(|v| valid_value(v)).then_some(values)
}

fn parse_requirement(part: &str) -> Option<Requirement> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| Requirement::NotExists(key.to_string()));
    }
    for (op, ctor) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = part.split_once(op) {
            let (key, value) = (key.trim(), value.trim());
            return (valid_key(key) && valid_value(value)).then(|| ctor(key.to_string(), value.to_string()));
        }
    }
    if let Some((key, set)) = part.split_once(" notin ") {
        let key = key.trim();
        return valid_key(key).then_some(()).and_then(|_| Some(Requirement::NotIn(key.to_string(), parse_set(set)?)));
    }
    if let Some((key, set)) = part.split_once(" in ") {
        let key = key.trim();
        return valid_key(key).then_some(()).and_then(|_| Some(Requirement::In(key.to_string(), parse_set(set)?)));
    }
    valid_key(part).then(|| Requirement::Exists(part.to_string()))
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a field selector for `resource`; unsupported fields are 400 Bad Request.
    pub fn parse(text: &str, resource: &ResourceDef) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid selector: '{text}'; can't understand '{part}'")));
            };
            let field = field.trim();
            if !resource.is_selectable(field) {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self(terms))
    }

    /// True if the object's selectable `fields` satisfy every term (a missing field is "").
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = fields.get(field).map_or("", String::as_str);
            (actual == value) == *equal
        })
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selector_supports_equality_and_set_requirements() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(LabelSelector::parse("app=web").unwrap().matches(&l));
        assert!(LabelSelector::parse("app==web,tier!=back").unwrap().matches(&l));
        assert!(LabelSelector::parse("app in (web, api),tier").unwrap().matches(&l));
        assert!(!LabelSelector::parse("app notin (web)").unwrap().matches(&l));
        assert!(!LabelSelector::parse("!tier").unwrap().matches(&l));
        assert!(LabelSelector::parse("").unwrap().matches(&l));
    }

    #[test]
    fn label_selector_rejects_garbage_with_bad_request() {
        assert_eq!(LabelSelector::parse("app=(x").unwrap_err().code, 400);
    }

    #[test]
    fn field_selector_refuses_unsupported_fields() {
        let pods = ResourceDef::pods();
        let s = FieldSelector::parse("metadata.name=a,spec.nodeName!=n1", &pods).unwrap();
        let f = labels(&[("metadata.name", "a"), ("spec.nodeName", "n2")]);
        assert!(s.matches(&f));
        let err = FieldSelector::parse("spec.foo=1", &pods).unwrap_err();
        assert_eq!(err.message, "field label not supported: spec.foo");
    }
}

//! Decoding list bodies and watch lines into the source's object type: typed objects
//! (`k8s_openapi` structs, `DynamicObject`) in one serde pass, or [`RawObject`]s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use kube::Resource;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::raw::{RawObject, RawOptions};

/// The annotation that marks the bookmark ending a streaming list's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    pub(crate) resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    pub(crate) continue_token: Option<String>,
    /// Set when the server applied a shard selector (KEP-5866).
    #[serde(default, rename = "shardInfo")]
    pub(crate) shard_info: Option<ShardInfo>,
}

/// `metadata.shardInfo` of a list: the shard selector the server applied, as it writes it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShardInfo {
    #[serde(default)]
    pub(crate) selector: String,
}

/// One decoded list page.
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) meta: ListMeta,
}

/// The parts of a `Status` the error mapping needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Status {
    #[serde(default)]
    pub(crate) code: u16,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) details: Option<StatusDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatusDetails {
    #[serde(default)]
    pub(crate) causes: Vec<StatusCause>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatusCause {
    #[serde(default)]
    pub(crate) reason: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BookmarkObject {
    metadata: BookmarkMeta,
}

#[derive(Debug, Deserialize)]
struct BookmarkMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// What a watch line says.
pub(crate) enum Line<T> {
    Added(T, String),
    Modified(T, String),
    Deleted(T, String),
    Bookmark { version: String, initial_events_end: bool },
    Error(Status),
}

impl<T> Line<T> {
    fn bookmark(b: BookmarkObject) -> Self {
        let end = b.metadata.annotations.as_ref().and_then(|a| a.get(INITIAL_EVENTS_END)).is_some_and(|v| v == "true");
        Line::Bookmark { version: b.metadata.resource_version, initial_events_end: end }
    }
}

/// The continue token of a list body, read without decoding the items (see [`list_meta`]).
/// `None` on the last page or for a body that is not a list (decoding it will say why).
pub(crate) fn list_continue_token(body: &[u8]) -> Option<String> {
    list_meta(body).and_then(|m| m.continue_token).filter(|t| !t.is_empty())
}

/// The `metadata` of a list body, read without decoding the items: the API server writes
/// `metadata` before `items` (Go encodes struct fields in order), so the scan stops there. A
/// body with `items` first is still read right, just more slowly. `None` for a body that is
/// not a list.
pub(crate) fn list_meta(body: &[u8]) -> Option<ListMeta> {
    use serde::Deserializer as _;
    use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};

    struct FindMeta<'a>(&'a mut Option<ListMeta>);
    impl<'de> Visitor<'de> for FindMeta<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == "metadata" {
                    *self.0 = Some(map.next_value()?);
                    // Found: an error is the way to stop a serde visitor before the end.
                    return Err(A::Error::custom("list metadata found"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut meta = None;
    let _ = serde_json::Deserializer::from_slice(body).deserialize_map(FindMeta(&mut meta));
    meta
}

/// Decodes what the server sends into `T`.
pub(crate) trait Codec<T>: Send + Sync + 'static {
    fn list(&self, body: &[u8]) -> Result<Page<T>, serde_json::Error>;
    fn line(&self, line: &[u8]) -> Result<Line<T>, serde_json::Error>;
}

/// Typed objects, decoded in one pass.
pub(crate) struct Typed<K>(PhantomData<fn() -> K>);

impl<K> Typed<K> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

#[derive(Deserialize)]
#[serde(bound = "K: DeserializeOwned")]
struct TypedList<K> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Option<Vec<K>>,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "object", bound = "K: DeserializeOwned")]
enum TypedLine<K> {
    #[serde(rename = "ADDED")]
    Added(K),
    #[serde(rename = "MODIFIED")]
    Modified(K),
    #[serde(rename = "DELETED")]
    Deleted(K),
    #[serde(rename = "BOOKMARK")]
    Bookmark(BookmarkObject),
    #[serde(rename = "ERROR")]
    Error(Status),
}

fn version_of<K: Resource>(object: &K) -> String {
    object.meta().resource_version.clone().unwrap_or_default()
}

impl<K> Codec<K> for Typed<K>
where
    K: Resource + DeserializeOwned + Send + Sync + 'static,
{
    fn list(&self, body: &[u8]) -> Result<Page<K>, serde_json::Error> {
        let list: TypedList<K> = serde_json::from_slice(body)?;
        Ok(Page { items: list.items.unwrap_or_default(), meta: list.metadata })
    }

    fn line(&self, line: &[u8]) -> Result<Line<K>, serde_json::Error> {
        Ok(match serde_json::from_slice::<TypedLine<K>>(line)? {
            TypedLine::Added(o) => {
                let v = version_of(&o);
                Line::Added(o, v)
            }
            TypedLine::Modified(o) => {
                let v = version_of(&o);
                Line::Modified(o, v)
            }
            TypedLine::Deleted(o) => {
                let v = version_of(&o);
                Line::Deleted(o, v)
            }
            TypedLine::Bookmark(b) => Line::bookmark(b),
            TypedLine::Error(s) => Line::Error(s),
        })
    }
}

/// Raw objects: the JSON of each object is kept, with the fields stores need.
pub(crate) struct Raw(pub(crate) RawOptions);

#[derive(Deserialize)]
struct RawList<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    object: &'a RawValue,
}

fn to_json_error(err: crate::raw::RawError) -> serde_json::Error {
    match err {
        crate::raw::RawError::Json(e) => e,
        other => serde::de::Error::custom(other.to_string()),
    }
}

impl Codec<RawObject> for Raw {
    fn list(&self, body: &[u8]) -> Result<Page<RawObject>, serde_json::Error> {
        let list: RawList<'_> = serde_json::from_slice(body)?;
        let items = list
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|raw| RawObject::from_raw(raw, &self.0).map_err(to_json_error))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, meta: list.metadata })
    }

    fn line(&self, line: &[u8]) -> Result<Line<RawObject>, serde_json::Error> {
        let raw: RawLine<'_> = serde_json::from_slice(line)?;
        let object = |raw: &RawValue| RawObject::from_raw(raw, &self.0).map_err(to_json_error);
        Ok(match raw.kind.as_ref() {
            "ADDED" => {
                let o = object(raw.object)?;
                let v = o.resource_version().to_string();
                Line::Added(o, v)
            }
            "MODIFIED" => {
                let o = object(raw.object)?;
                let v = o.resource_version().to_string();
                Line::Modified(o, v)
            }
            "DELETED" => {
                let o = object(raw.object)?;
                let v = o.resource_version().to_string();
                Line::Deleted(o, v)
            }
            "BOOKMARK" => Line::bookmark(serde_json::from_str(raw.object.get())?),
            "ERROR" => Line::Error(serde_json::from_str(raw.object.get())?),
            other => return Err(serde::de::Error::custom(format!("unknown watch event type {other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    const CM: &str =
        r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"n","resourceVersion":"5"}}"#;

    #[test]
    fn typed_lines_decode_every_event_type() {
        let codec = Typed::<ConfigMap>::new();
        let line = format!(r#"{{"type":"MODIFIED","object":{CM}}}"#);
        assert!(matches!(codec.line(line.as_bytes()).unwrap(), Line::Modified(_, v) if v == "5"));
        let bookmark = r#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}"#;
        assert!(matches!(
            codec.line(bookmark.as_bytes()).unwrap(),
            Line::Bookmark { version, initial_events_end: true } if version == "9"
        ));
        let error = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#;
        assert!(matches!(codec.line(error.as_bytes()).unwrap(), Line::Error(s) if s.code == 410));
        assert!(codec.line(br#"{"type":"WHAT","object":{}}"#).is_err());
    }

    #[test]
    fn raw_and_typed_lists_agree() {
        let body = format!(
            r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{"resourceVersion":"7","continue":"c"}},"items":[{CM}]}}"#
        );
        let typed = Typed::<ConfigMap>::new().list(body.as_bytes()).unwrap();
        let raw = Raw(RawOptions::default()).list(body.as_bytes()).unwrap();
        assert_eq!(typed.items.len(), 1);
        assert_eq!(raw.items[0].name(), typed.items[0].metadata.name.as_deref().unwrap());
        assert_eq!(raw.meta.resource_version.as_deref(), Some("7"));
        assert_eq!(typed.meta.continue_token.as_deref(), Some("c"));
    }

    #[test]
    fn raw_lines_decode_bookmarks_and_errors() {
        let codec = Raw(RawOptions::default());
        let line = format!(r#"{{"type":"DELETED","object":{CM}}}"#);
        assert!(matches!(codec.line(line.as_bytes()).unwrap(), Line::Deleted(o, v) if v == "5" && o.name() == "a"));
        let bookmark = r#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#;
        assert!(matches!(codec.line(bookmark.as_bytes()).unwrap(), Line::Bookmark { initial_events_end: false, .. }));
    }

    #[test]
    fn continue_token_is_read_from_the_metadata_before_the_items() {
        let body = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"abc"},"items":[{"bad json"#;
        assert_eq!(list_continue_token(body).as_deref(), Some("abc"), "items after metadata are not read");
        let late = br#"{"items":[{"metadata":{"name":"a","continue":"no"}}],"metadata":{"continue":"xyz"}}"#;
        assert_eq!(list_continue_token(late).as_deref(), Some("xyz"));
        assert_eq!(list_continue_token(br#"{"metadata":{"resourceVersion":"9","continue":""},"items":[]}"#), None);
        assert_eq!(list_continue_token(br#"{"metadata":{"resourceVersion":"9"},"items":[]}"#), None);
        assert_eq!(list_continue_token(b"not json"), None);
        assert_eq!(list_continue_token(br#"{"metadata":[1]}"#), None);
    }
}

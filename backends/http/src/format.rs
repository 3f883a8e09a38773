//! How answers are read: where the items are ([`ItemsFormat`]), where the collection's index
//! is ([`IndexFrom`]), and how a non-success status is judged ([`Verdict`]).

use std::fmt;
use std::sync::Arc;

use informer_core::{SourceError, Version};
use serde_json::Value;

use crate::answer::{Answer, kind_name, scalar_text, text_at};
use crate::item::HttpItem;

/// A decoder of a whole collection answer into items.
pub type ItemsDecoder = Arc<dyn Fn(&Answer) -> Result<Vec<HttpItem>, SourceError> + Send + Sync>;

/// Where the items of a collection answer are, and how each item's key and version are found.
///
/// ```
/// use informer_http::ItemsFormat;
/// // {"services": [{"id": "a", "rev": 3, ...}, ...]}
/// let format = ItemsFormat::pointers("/services", "/id").with_version("/rev");
/// # let _ = format;
/// ```
#[derive(Clone)]
pub enum ItemsFormat {
    /// Items found by JSON pointers.
    Pointers(ItemPointers),
    /// Items found by a closure (presets use it to flatten etcd directories or decode Consul
    /// values). The closure must return a malformed error naming the URL on bad input.
    Custom(ItemsDecoder),
}

/// JSON pointers that find the items of a collection answer. See [`ItemsFormat::pointers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPointers {
    /// The pointer to the array of items in the body (`""` is the whole body).
    pub items: String,
    /// The pointer to the key inside one item (a string or number).
    pub key: String,
    /// The pointer to the item's own version inside one item, if any.
    pub version: Option<String>,
    /// The pointer to the part of the item kept as its value; `None` keeps the whole item.
    pub value: Option<String>,
}

impl ItemsFormat {
    /// Items in the array at `items`, each keyed by the scalar at `key` (both JSON pointers,
    /// RFC 6901; `""` is the whole body).
    pub fn pointers(items: impl Into<String>, key: impl Into<String>) -> Self {
        Self::Pointers(ItemPointers { items: items.into(), key: key.into(), version: None, value: None })
    }

    /// Items decoded by a closure.
    pub fn custom(decoder: impl Fn(&Answer) -> Result<Vec<HttpItem>, SourceError> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(decoder))
    }

    /// Sets the pointer to each item's version (pointer formats only).
    #[must_use]
    pub fn with_version(mut self, pointer: impl Into<String>) -> Self {
        if let Self::Pointers(p) = &mut self {
            p.version = Some(pointer.into());
        }
        self
    }

    /// Sets the pointer to the part of each item kept as its value (pointer formats only).
    #[must_use]
    pub fn with_value(mut self, pointer: impl Into<String>) -> Self {
        if let Self::Pointers(p) = &mut self {
            p.value = Some(pointer.into());
        }
        self
    }

    /// Decodes the items of an answer.
    pub fn decode(&self, answer: &Answer) -> Result<Vec<HttpItem>, SourceError> {
        match self {
            Self::Custom(f) => f(answer),
            Self::Pointers(p) => {
                let body = answer.json()?;
                let list = answer.pointer(&body, &p.items, "the items")?;
                let Value::Array(list) = list else {
                    return Err(SourceError::malformed(format!(
                        "{}: JSON pointer {:?} (the items) is {}, not an array",
                        answer.request,
                        p.items,
                        kind_name(list)
                    )));
                };
                list.iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let what = |field: &str| format!("{field} of item {i}");
                        let key = text_at(answer, item, &p.key, &what("the key"))?;
                        let version = match &p.version {
                            Some(ptr) => Some(Version::from(text_at(answer, item, ptr, &what("the version"))?)),
                            None => None,
                        };
                        let value = match &p.value {
                            Some(ptr) => answer.pointer(item, ptr, &what("the value"))?.clone(),
                            None => item.clone(),
                        };
                        Ok(HttpItem::new(key, version, value))
                    })
                    .collect()
            }
        }
    }
}

impl fmt::Debug for ItemsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pointers(p) => f.debug_tuple("Pointers").field(p).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Where a collection answer says which index (version) of the collection it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFrom {
    /// A response header, e.g. `X-Consul-Index` or `X-Etcd-Index`.
    Header(String),
    /// A JSON pointer into the body (a string or number), e.g. CouchDB's `/update_seq`.
    Pointer(String),
    /// The `ETag` header (entity tag polling).
    ETag,
}

impl IndexFrom {
    /// Reads the index of an answer, or a malformed error naming what was missing.
    pub fn read(&self, answer: &Answer) -> Result<Version, SourceError> {
        match self {
            Self::Header(name) => Ok(Version::from(answer.require_header(name)?)),
            Self::ETag => Ok(Version::from(answer.require_header("ETag")?)),
            Self::Pointer(ptr) => {
                let body = answer.json()?;
                let v = answer.pointer(&body, ptr, "the collection index")?;
                scalar_text(v).map(Version::from).ok_or_else(|| {
                    SourceError::malformed(format!(
                        "{}: JSON pointer {ptr:?} (the collection index) is {}",
                        answer.request,
                        kind_name(v)
                    ))
                })
            }
        }
    }
}

/// What a [`StatusRule`] says about a non-success answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Classify by status as usual (5xx, 408, 429: transient; other 4xx: permanent).
    Default,
    /// The collection is empty (e.g. etcd's or Consul's 404 for a missing prefix); the index
    /// is still read from the answer.
    Empty,
    /// The requested index is too old: the reflector must relist. The text says why.
    Expired(String),
}

/// A rule for non-success answers, e.g. etcd v2's HTTP 400 with `errorCode` 401.
pub type StatusRule = Arc<dyn Fn(&Answer) -> Verdict + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(body: &'static str) -> Answer {
        Answer {
            request: "GET http://h/c".into(),
            status: 200,
            headers: Default::default(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn pointers_find_items_keys_versions_and_values() {
        let a = answer(r#"{"data":[{"id":"a","rev":3,"spec":{"x":1}},{"id":7,"rev":"4","spec":null}]}"#);
        let items = ItemsFormat::pointers("/data", "/id").with_version("/rev").with_value("/spec").decode(&a).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], HttpItem::new("a", Some("3".into()), serde_json::json!({"x": 1})));
        assert_eq!(items[1].key, "7");
        assert_eq!(items[1].value, Value::Null);
    }

    #[test]
    fn missing_key_names_the_item_and_pointer() {
        let a = answer(r#"[{"id":"a"},{"name":"b"}]"#);
        let err = ItemsFormat::pointers("", "/id").decode(&a).unwrap_err();
        assert!(err.to_string().contains("\"/id\" (the key of item 1) matches nothing"), "{err}");
    }

    #[test]
    fn items_that_are_not_an_array_are_malformed() {
        let err = ItemsFormat::pointers("/data", "/id").decode(&answer(r#"{"data":{}}"#)).unwrap_err();
        assert!(err.to_string().contains("an object, not an array"), "{err}");
    }

    #[test]
    fn index_from_pointer_reads_numbers_and_strings() {
        assert_eq!(IndexFrom::Pointer("/seq".into()).read(&answer(r#"{"seq":12}"#)).unwrap(), "12");
        let err = IndexFrom::Header("X-Index".into()).read(&answer("{}")).unwrap_err();
        assert!(err.to_string().contains("no X-Index header"));
    }
}

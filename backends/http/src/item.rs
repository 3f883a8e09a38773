//! [`HttpItem`]: one object of a JSON collection, with the key and version the backend found.
//!
//! The backend reads arbitrary JSON, so the object type is not the caller's struct but a small
//! envelope: the key and version are extracted once, when the answer is decoded (by JSON
//! pointers or a preset's decoder: etcd v2 flattens nested directories, Consul decodes base64
//! values), and the value is kept as a [`serde_json::Value`]. Stores then key items without
//! re-parsing anything (`KeyFn::keyed()`), and the snapshot differ compares versions instead of
//! whole documents. Callers that want typed objects deserialize `value` (see
//! [`HttpItem::decode`]) or stack a transforming store.

use informer_core::{KeyError, Keyed, ObjectKey, Version};

/// One object of the mirrored collection.
///
/// ```
/// use informer_core::Keyed;
/// use informer_http::HttpItem;
/// let item = HttpItem::new("/app/a", Some("7".into()), serde_json::json!("hello"));
/// assert_eq!(item.key().unwrap(), "/app/a");
/// assert_eq!(item.version.as_deref(), Some("7"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HttpItem {
    /// The key of the item inside the collection (an etcd or Consul key, an `id` field).
    pub key: ObjectKey,
    /// The item's own version (etcd `modifiedIndex`, Consul `ModifyIndex`), if the format has
    /// one. The snapshot differ uses it to tell a modified item from an unchanged one; without
    /// it the values are compared.
    pub version: Option<Version>,
    /// The item's value as JSON.
    pub value: serde_json::Value,
}

impl HttpItem {
    /// Creates an item.
    pub fn new(key: impl Into<ObjectKey>, version: Option<Version>, value: serde_json::Value) -> Self {
        Self { key: key.into(), version, value }
    }

    /// Deserializes the value into a typed object.
    ///
    /// ```
    /// use informer_http::HttpItem;
    /// let item = HttpItem::new("a", None, serde_json::json!({"port": 80}));
    /// #[derive(serde::Deserialize)]
    /// struct Service { port: u16 }
    /// assert_eq!(item.decode::<Service>().unwrap().port, 80);
    /// ```
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.value)
    }

    /// True if `other` is the same state of the item: equal versions when both have one,
    /// else equal values.
    pub fn same_state(&self, other: &HttpItem) -> bool {
        match (&self.version, &other.version) {
            (Some(a), Some(b)) => a == b && self.value == other.value,
            _ => self.value == other.value,
        }
    }
}

impl Keyed for HttpItem {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_state_compares_versions_and_values() {
        let a = HttpItem::new("k", Some("1".into()), serde_json::json!(1));
        let b = HttpItem::new("k", Some("2".into()), serde_json::json!(1));
        assert!(!a.same_state(&b));
        assert!(a.same_state(&a.clone()));
        let c = HttpItem::new("k", None, serde_json::json!(1));
        let d = HttpItem::new("k", None, serde_json::json!(2));
        assert!(a.same_state(&c));
        assert!(!c.same_state(&d));
    }
}

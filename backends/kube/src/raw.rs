//! [`RawObject`]: a compact representation of a Kubernetes object for stores.
//!
//! A decoded `k8s_openapi` `Pod` holds 4.7–6.7× its compact JSON in heap (hundreds of small
//! allocations), and decoding it dominates watch throughput. A `RawObject` keeps the object's
//! compact JSON bytes as received, plus the few fields keys, selectors and indexes need —
//! key, resourceVersion, namespace, name, labels, and any extra fields named in
//! [`RawOptions::extract`] — extracted once at ingest without building the typed object.
//! Readers decode on demand with [`RawObject::decode`].
//!
//! Heavy fields can be dropped at ingest ([`RawOptions::strip_managed_fields`]): the JSON is
//! re-assembled from the original bytes of the remaining fields, without a full decode.
//!
//! ```
//! use informer_core::Keyed;
//! use informer_kube::{RawObject, RawOptions};
//! let json = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"app","namespace":"shop",
//!   "resourceVersion":"7","labels":{"team":"a"},"managedFields":[{"manager":"kubectl"}]},
//!   "data":{"k":"v"}}"#;
//! let options = RawOptions::default().strip_managed_fields(true);
//! let raw = RawObject::from_json(json, &options).unwrap();
//! assert_eq!(raw.key().unwrap(), "shop/app");
//! assert_eq!(raw.resource_version(), "7");
//! assert_eq!(raw.label("team"), Some("a"));
//! assert!(!raw.json_str().contains("managedFields"));
//! let cm: k8s_openapi::api::core::v1::ConfigMap = raw.decode().unwrap();
//! assert_eq!(cm.data.unwrap()["k"], "v");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use informer_core::{KeyError, Keyed, ObjectKey};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What [`RawObject`] ingest keeps and drops.
///
/// ```
/// let options = informer_kube::RawOptions::default()
///     .strip_managed_fields(true)
///     .extract("spec.nodeName");
/// assert_eq!(options.extracted_paths(), ["spec.nodeName"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    drop_metadata: Vec<String>,
    extract: Arc<[String]>,
}

impl RawOptions {
    /// Drops `metadata.managedFields` at ingest (usually a third of a pod's JSON).
    #[must_use]
    pub fn strip_managed_fields(self, strip: bool) -> Self {
        if strip { self.drop_metadata_field("managedFields") } else { self }
    }

    /// Drops a field of `metadata` at ingest (e.g. `annotations`).
    #[must_use]
    pub fn drop_metadata_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !self.drop_metadata.contains(&field) {
            self.drop_metadata.push(field);
        }
        self
    }

    /// Extracts the value at a dotted path (e.g. `spec.nodeName`, `status.phase`) at ingest,
    /// readable with [`RawObject::field`] (for index functions).
    #[must_use]
    pub fn extract(mut self, path: impl Into<String>) -> Self {
        let mut paths: Vec<String> = self.extract.iter().cloned().collect();
        paths.push(path.into());
        self.extract = paths.into();
        self
    }

    /// The paths given to [`extract`](Self::extract), in order.
    pub fn extracted_paths(&self) -> &[String] {
        &self.extract
    }
}

/// Why a JSON object could not become a [`RawObject`].
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// Not a JSON object, or invalid JSON.
    #[error("invalid object JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `metadata.name` is missing or empty.
    #[error("object has no metadata.name (resourceVersion {resource_version:?})")]
    MissingName {
        /// The object's resourceVersion, to find it in logs.
        resource_version: String,
    },
}

/// A Kubernetes object as its compact JSON plus the fields stores need: key,
/// resourceVersion, namespace, name, labels and the [`RawOptions::extract`]ed fields,
/// extracted once at ingest; the object itself is decoded on read with [`decode`](Self::decode).
///
/// A decoded `k8s_openapi` `Pod` holds 4.7–6.7× its compact JSON in heap; a `RawObject`
/// holds its JSON (managedFields optionally stripped) plus a few hundred bytes in four
/// allocations: 1.11× the stripped JSON of the benchmark pod, store entry included
/// (BENCHMARKS.md).
#[derive(Clone, PartialEq, Eq)]
pub struct RawObject {
    json: Bytes,
    key: ObjectKey,
    /// The short strings, back to back: resourceVersion, then each label's key and value
    /// (sorted by key), then each extracted field. One allocation instead of two per label.
    strings: Box<str>,
    /// Where each string of `strings` ends; an extracted field without a value has
    /// [`ABSENT`] set.
    ends: Box<[u32]>,
    /// Where the name starts in `key` (0 for cluster-scoped objects).
    name_start: u32,
    labels: u32,
    extracted_paths: Arc<[String]>,
}

/// Marks an extracted field that the object has no value for.
const ABSENT: u32 = 1 << 31;

impl fmt::Debug for RawObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawObject")
            .field("key", &self.key)
            .field("resource_version", &self.resource_version())
            .field("bytes", &self.json.len())
            .finish()
    }
}

/// A string key that borrows from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The fields of a JSON object in their original order, values as raw JSON.
struct Fields<'de>(Vec<(Cow<'de, str>, &'de RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Fields<'de> {
    fn parse(json: &'de str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let fields = <Fields<'de> as serde::Deserialize>::deserialize(&mut de)?;
        de.end()?;
        Ok(fields)
    }

    fn get(&self, name: &str) -> Option<&'de RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// The string a raw JSON value holds, borrowed when it has no escapes.
fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Key<'_>>(raw.get()).ok().map(|k| k.0)
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, key);
}

fn extract_path<'de>(top: &Fields<'de>, path: &str) -> Option<Cow<'de, str>> {
    let mut segments = path.split('.');
    let mut raw = top.get(segments.next()?)?;
    for segment in segments {
        raw = Fields::parse(raw.get()).ok()?.get(segment)?;
    }
    match string_of(raw) {
        Some(s) => Some(s),
        None if raw.get() == "null" => None,
        None => Some(Cow::Borrowed(raw.get())),
    }
}

/// A label's key and value, borrowed from the JSON when they have no escapes.
type Label<'de> = (Cow<'de, str>, Cow<'de, str>);

/// The labels of an object, sorted by key; a key given twice keeps its last value, as a map
/// decoder would.
fn parse_labels<'de>(labels: Option<&'de RawValue>) -> Result<Vec<Label<'de>>, serde_json::Error> {
    let Some(labels) = labels.filter(|l| l.get() != "null") else { return Ok(Vec::new()) };
    let mut pairs = Vec::new();
    for (key, value) in Fields::parse(labels.get())?.0 {
        let value = serde_json::from_str::<Key<'de>>(value.get())?.0;
        pairs.push((key, value));
    }
    // Stable: among equal keys the last one stays last, and dedup keeps the first, so reverse.
    pairs.reverse();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.dedup_by(|later, first| later.0 == first.0);
    Ok(pairs)
}

impl RawObject {
    /// Builds a raw object from one object's JSON (as a list item or watch event carries it).
    pub fn from_json(json: &[u8], options: &RawOptions) -> Result<Self, RawError> {
        let text = std::str::from_utf8(json)
            .map_err(|e| RawError::Json(serde::de::Error::custom(format!("object JSON is not UTF-8: {e}"))))?;
        let raw: &RawValue = serde_json::from_str(text)?;
        Self::from_raw(raw, options)
    }

    pub(crate) fn from_raw(raw: &RawValue, options: &RawOptions) -> Result<Self, RawError> {
        let top = Fields::parse(raw.get())?;
        let metadata = match top.get("metadata") {
            Some(m) => Fields::parse(m.get())?,
            None => Fields(Vec::new()),
        };
        let field = |name: &str| metadata.get(name).and_then(string_of);
        let resource_version = field("resourceVersion").unwrap_or_default();
        let name = field("name").filter(|n| !n.is_empty());
        let Some(name) = name else {
            return Err(RawError::MissingName { resource_version: resource_version.into_owned() });
        };
        let namespace = field("namespace").filter(|n| !n.is_empty());
        let (key, name_start) = match namespace {
            Some(ns) => (format!("{ns}/{name}"), ns.len() as u32 + 1),
            None => (name.into_owned(), 0),
        };
        let labels = parse_labels(metadata.get("labels"))?;
        let strip = options.drop_metadata.iter().any(|f| metadata.get(f).is_some());
        let json = if strip {
            let mut out = Vec::with_capacity(raw.get().len());
            out.push(b'{');
            for (i, (k, v)) in top.0.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_key(&mut out, k);
                out.push(b':');
                if k == "metadata" {
                    out.push(b'{');
                    let kept = metadata.0.iter().filter(|(mk, _)| !options.drop_metadata.iter().any(|d| d == mk));
                    for (j, (mk, mv)) in kept.enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_key(&mut out, mk);
                        out.push(b':');
                        out.extend_from_slice(mv.get().as_bytes());
                    }
                    out.push(b'}');
                } else {
                    out.extend_from_slice(v.get().as_bytes());
                }
            }
            out.push(b'}');
            // The buffer was sized for the unstripped object; `Bytes` keeps the whole
            // allocation, so without this a stripped object would cost as much as the original.
            out.shrink_to_fit();
            Bytes::from(out)
        } else {
            Bytes::copy_from_slice(raw.get().as_bytes())
        };
        let extracted: Vec<Option<Cow<'_, str>>> = options.extract.iter().map(|p| extract_path(&top, p)).collect();
        let mut strings = String::with_capacity(
            resource_version.len()
                + labels.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                + extracted.iter().flatten().map(|f| f.len()).sum::<usize>(),
        );
        let mut ends = Vec::with_capacity(1 + 2 * labels.len() + extracted.len());
        let mut push = |s: &str, flag: u32| -> Result<(), RawError> {
            strings.push_str(s);
            match u32::try_from(strings.len()) {
                Ok(end) if end < ABSENT => {
                    ends.push(end | flag);
                    Ok(())
                }
                _ => Err(RawError::Json(serde::de::Error::custom("object metadata strings exceed 2 GiB"))),
            }
        };
        push(&resource_version, 0)?;
        for (k, v) in &labels {
            push(k, 0)?;
            push(v, 0)?;
        }
        for f in &extracted {
            push(f.as_deref().unwrap_or(""), if f.is_some() { 0 } else { ABSENT })?;
        }
        Ok(Self {
            json,
            key: ObjectKey::from(key),
            strings: strings.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            name_start,
            labels: labels.len() as u32,
            extracted_paths: Arc::clone(&options.extract),
        })
    }

    /// The `i`th string of `strings`, `None` if it is marked absent.
    fn string(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        if end & ABSENT != 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] & !ABSENT };
        self.strings.get(start as usize..end as usize)
    }

    /// The object's JSON bytes.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The object's JSON as text.
    pub fn json_str(&self) -> &str {
        // Built from a `&str` or from `&str` pieces joined with ASCII.
        std::str::from_utf8(&self.json).unwrap_or_default()
    }

    /// Decodes the object into a typed value (`k8s_openapi` struct, `DynamicObject`, ...).
    pub fn decode<K: DeserializeOwned>(&self) -> Result<K, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }

    /// Decodes the object into a type borrowing from the JSON bytes (partial views).
    pub fn decode_seed<'a, S: DeserializeSeed<'a>>(&'a self, seed: S) -> Result<S::Value, serde_json::Error> {
        seed.deserialize(&mut serde_json::Deserializer::from_slice(&self.json))
    }

    /// The object's key, `namespace/name` or `name`.
    pub fn object_key(&self) -> &ObjectKey {
        &self.key
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.key[self.name_start as usize..]
    }

    /// `metadata.namespace`, `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        (self.name_start > 0).then(|| &self.key[..self.name_start as usize - 1])
    }

    /// `metadata.resourceVersion` ("" if the object had none).
    pub fn resource_version(&self) -> &str {
        self.string(0).unwrap_or_default()
    }

    /// The `i`th label (in key order) as key and value.
    fn label_at(&self, i: usize) -> (&str, &str) {
        (self.string(1 + 2 * i).unwrap_or_default(), self.string(2 + 2 * i).unwrap_or_default())
    }

    /// The value of one label.
    pub fn label(&self, key: &str) -> Option<&str> {
        let (mut low, mut high) = (0, self.labels as usize);
        while low < high {
            let mid = low + (high - low) / 2;
            let (k, v) = self.label_at(mid);
            match k.cmp(key) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(v),
            }
        }
        None
    }

    /// Every label, sorted by key.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.labels as usize).map(|i| self.label_at(i))
    }

    /// A field extracted at ingest ([`RawOptions::extract`]): strings as themselves, other
    /// values as JSON text; `None` if the path was not extracted or the object has no value.
    pub fn field(&self, path: &str) -> Option<&str> {
        let i = self.extracted_paths.iter().position(|p| p == path)?;
        self.string(1 + 2 * self.labels as usize + i)
    }

    /// Heap bytes this object owns (JSON, key with its reference counts, labels, fields):
    /// four allocations, not counting the struct itself (`size_of::<RawObject>()`) or the
    /// extracted paths shared by every object of a source.
    pub fn heap_size(&self) -> usize {
        self.json.len() + self.key.len() + 16 + self.strings.len() + self.ends.len() * 4
    }
}

impl Keyed for RawObject {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"shop","resourceVersion":"42","labels":{"b":"2","a":"1"},"managedFields":[{"manager":"x","fieldsV1":{"f:a":{}}}],"annotations":{"n\"q":"v"}},"spec":{"nodeName":"node-1","priority":5},"status":{"phase":"Running"}}"#;

    #[test]
    fn extracts_key_version_labels_and_fields() {
        let options = RawOptions::default().extract("spec.nodeName").extract("spec.priority").extract("spec.missing");
        let raw = RawObject::from_json(POD.as_bytes(), &options).unwrap();
        assert_eq!(raw.key().unwrap(), "shop/web-0");
        assert_eq!((raw.namespace(), raw.name()), (Some("shop"), "web-0"));
        assert_eq!(raw.resource_version(), "42");
        assert_eq!(raw.labels().collect::<Vec<_>>(), vec![("a", "1"), ("b", "2")]);
        assert_eq!(raw.field("spec.nodeName"), Some("node-1"));
        assert_eq!(raw.field("spec.priority"), Some("5"));
        assert_eq!(raw.field("spec.missing"), None);
        assert_eq!(raw.json_str(), POD);
    }

    #[test]
    fn strips_managed_fields_and_keeps_everything_else_byte_for_byte() {
        let raw = RawObject::from_json(POD.as_bytes(), &RawOptions::default().strip_managed_fields(true)).unwrap();
        let mut expected: serde_json::Value = serde_json::from_str(POD).unwrap();
        expected["metadata"].as_object_mut().unwrap().remove("managedFields");
        let actual: serde_json::Value = serde_json::from_slice(raw.json()).unwrap();
        assert_eq!(actual, expected);
        assert!(raw.json().len() < POD.len());
    }

    #[test]
    fn cluster_scoped_objects_are_keyed_by_name() {
        let raw = RawObject::from_json(br#"{"metadata":{"name":"w1","resourceVersion":"3"}}"#, &RawOptions::default())
            .unwrap();
        assert_eq!((raw.key().unwrap().as_str(), raw.namespace()), ("w1", None));
    }

    #[test]
    fn refuses_objects_without_a_name_or_invalid_json() {
        let err = RawObject::from_json(br#"{"metadata":{"resourceVersion":"3"}}"#, &RawOptions::default()).unwrap_err();
        assert!(err.to_string().contains("\"3\""));
        assert!(RawObject::from_json(b"{not json", &RawOptions::default()).is_err());
        assert!(RawObject::from_json(b"[1]", &RawOptions::default()).is_err());
    }

    #[test]
    fn labels_keep_the_last_of_a_repeated_key_and_decode_escapes() {
        let json = br#"{"metadata":{"name":"p","labels":{"z":"1","a\u0041":"x\"y","z":"2","m":""}}}"#;
        let raw = RawObject::from_json(json, &RawOptions::default()).unwrap();
        assert_eq!(raw.labels().collect::<Vec<_>>(), vec![("aA", "x\"y"), ("m", ""), ("z", "2")]);
        assert_eq!((raw.label("z"), raw.label("m"), raw.label("b")), (Some("2"), Some(""), None));
        let none = RawObject::from_json(br#"{"metadata":{"name":"p","labels":null}}"#, &RawOptions::default()).unwrap();
        assert_eq!(none.labels().count(), 0);
        let bad = RawObject::from_json(br#"{"metadata":{"name":"p","labels":{"a":1}}}"#, &RawOptions::default());
        assert!(bad.is_err(), "a label value that is not a string is refused");
    }

    #[test]
    fn extracted_fields_tell_empty_from_missing() {
        let options = RawOptions::default().extract("spec.a").extract("spec.b").extract("spec.c");
        let raw =
            RawObject::from_json(br#"{"metadata":{"name":"p","labels":{"l":"v"}},"spec":{"a":"","c":null}}"#, &options)
                .unwrap();
        assert_eq!((raw.field("spec.a"), raw.field("spec.b"), raw.field("spec.c")), (Some(""), None, None));
        assert_eq!((raw.field("spec.d"), raw.label("l"), raw.resource_version()), (None, Some("v"), ""));
    }

    #[test]
    fn a_stripped_object_holds_its_json_and_a_few_short_strings() {
        let raw = RawObject::from_json(POD.as_bytes(), &RawOptions::default().strip_managed_fields(true)).unwrap();
        // JSON, key ("shop/web-0" + Arc counts), strings ("42" + "a1b2"), 5 ends.
        assert_eq!(raw.heap_size(), raw.json().len() + 10 + 16 + 6 + 5 * 4);
        assert_eq!(raw.json().len(), POD.len() - r#","managedFields":[{"manager":"x","fieldsV1":{"f:a":{}}}]"#.len());
    }
}

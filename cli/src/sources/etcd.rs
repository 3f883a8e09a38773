//! `etcd://HOST:PORT[,...]/PREFIX`: an etcd v3 key prefix, values as raw bytes.

use base64::Engine;
use informer_core::{KeyFn, Version};
use informer_etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, RawCodec};
use serde_json::{Map, Value, json};

use crate::mirror::{MirrorError, MirrorSource, ObjectAdapter};
use crate::source_spec::EtcdSpec;

/// The snapshot form of an etcd key-value: `{"value": "<UTF-8 text>", "create_revision": N,
/// "mod_revision": N, "version": N, "lease": N}`, with `"value_base64"` instead of `"value"`
/// when the bytes are not UTF-8.
///
/// ```
/// use informer_core::ObjectKey;
/// use informer_etcd::EtcdKeyValue;
/// let kv = EtcdKeyValue { key: ObjectKey::from("/a"), raw_key: b"/a".to_vec(), value: vec![0xff],
///     create_revision: 2, mod_revision: 3, version: 2, lease: 0 };
/// let json = informer_cli::sources::etcd::key_value_json(&kv);
/// assert_eq!(json["value_base64"], "/w==");
/// assert_eq!(json["mod_revision"], 3);
/// ```
pub fn key_value_json(kv: &EtcdKeyValue<Vec<u8>>) -> Value {
    let mut object = Map::new();
    match std::str::from_utf8(&kv.value) {
        Ok(text) => object.insert("value".to_string(), json!(text)),
        Err(_) => object
            .insert("value_base64".to_string(), json!(base64::engine::general_purpose::STANDARD.encode(&kv.value))),
    };
    object.insert("create_revision".to_string(), json!(kv.create_revision));
    object.insert("mod_revision".to_string(), json!(kv.mod_revision));
    object.insert("version".to_string(), json!(kv.version));
    object.insert("lease".to_string(), json!(kv.lease));
    Value::Object(object)
}

/// The etcd key-value of a snapshot item: the inverse of [`key_value_json`] (the key is the
/// item's key in the snapshot, in [`key_to_string`](informer_etcd::key_to_string) form).
///
/// ```
/// use informer_cli::sources::etcd::{key_value_from_json, key_value_json};
/// let json = serde_json::json!({"value_base64": "/w==", "create_revision": 2, "mod_revision": 3,
///     "version": 2, "lease": 0});
/// let kv = key_value_from_json("/a", json.clone()).unwrap();
/// assert_eq!((kv.raw_key.as_slice(), kv.value.as_slice(), kv.mod_revision), (&b"/a"[..], &[0xff][..], 3));
/// assert_eq!(key_value_json(&kv), json);
/// assert!(key_value_from_json("/a", serde_json::json!({"value": "x"})).unwrap_err().contains("create_revision"));
/// ```
pub fn key_value_from_json(key: &str, json: Value) -> Result<EtcdKeyValue<Vec<u8>>, String> {
    let raw_key = informer_etcd::key_to_bytes(key).map_err(|e| e.to_string())?;
    let value = match (json.get("value"), json.get("value_base64")) {
        (Some(Value::String(text)), None) => text.as_bytes().to_vec(),
        (None, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("\"value_base64\" is not base64: {e}"))?,
        _ => return Err("expected one string \"value\" or \"value_base64\"".to_string()),
    };
    let number = |name: &str| json.get(name).and_then(Value::as_i64).ok_or_else(|| format!("no integer {name:?}"));
    Ok(EtcdKeyValue {
        key: informer_etcd::object_key(&raw_key),
        raw_key,
        value,
        create_revision: number("create_revision")?,
        mod_revision: number("mod_revision")?,
        version: number("version")?,
        lease: number("lease")?,
    })
}

/// How the command renders etcd key-values (and reads them back for `--resume`).
pub fn adapter() -> ObjectAdapter<EtcdKeyValue<Vec<u8>>> {
    ObjectAdapter::new(KeyFn::keyed(), key_value_json)
        .with_version(|kv: &EtcdKeyValue<Vec<u8>>| Some(Version::new(kv.mod_revision.to_string())))
        .with_from_json(|key, json| key_value_from_json(key, serde_json::from_str(json).map_err(|e| e.to_string())?))
}

/// Connects to the endpoints of the SOURCE `text`.
pub async fn mirror_source(text: &str, spec: &EtcdSpec) -> Result<MirrorSource, MirrorError> {
    let endpoints: Vec<String> = spec.endpoints.iter().map(|e| e.to_string()).collect();
    let config = EtcdConfig::new(endpoints, KeyRange::prefix(spec.prefix.as_bytes().to_vec()));
    let source = EtcdSource::connect(config, RawCodec).await.map_err(|e| MirrorError::Usage(format!("{text}: {e}")))?;
    Ok(MirrorSource::new(text, source, adapter()))
}

//! [`EtcdKeyValue`]: one mirrored etcd key with its decoded value and revisions.

use informer_core::{KeyError, Keyed, ObjectKey};

/// One etcd key-value pair, as a store holds it.
///
/// `key` is the lossless string form of the etcd key (see [`key_to_string`](crate::key_to_string)),
/// so a store is read with `store.get_by_key("/app/config")`; `raw_key` keeps the exact bytes.
/// The revisions are etcd's: `mod_revision` is the revision of the last change, `version`
/// counts changes since creation (1 on creation), `lease` is 0 without a lease.
///
/// ```
/// use informer_core::{Keyed, ObjectKey};
/// use informer_etcd::EtcdKeyValue;
/// let kv = EtcdKeyValue {
///     key: ObjectKey::from("/app/a"),
///     raw_key: b"/app/a".to_vec(),
///     value: "hello".to_string(),
///     create_revision: 5,
///     mod_revision: 9,
///     version: 3,
///     lease: 0,
/// };
/// assert_eq!(kv.key().unwrap(), "/app/a");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdKeyValue<V> {
    /// The key as a string, lossless (invalid UTF-8 bytes as `\xNN`, backslashes doubled).
    pub key: ObjectKey,
    /// The key's exact bytes.
    pub raw_key: Vec<u8>,
    /// The decoded value.
    pub value: V,
    /// The revision that created the key (since its last deletion).
    pub create_revision: i64,
    /// The revision of the last change.
    pub mod_revision: i64,
    /// How many times the key was written since it was created (1 on creation).
    pub version: i64,
    /// The lease the key is attached to, 0 if none.
    pub lease: i64,
}

impl<V> Keyed for EtcdKeyValue<V> {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

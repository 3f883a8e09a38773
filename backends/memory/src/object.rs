//! The objects a [`MemorySource`](crate::MemorySource) serves.

use std::sync::Arc;

use informer_core::{KeyError, Keyed, ObjectKey, Version};

/// One object of a memory collection: its key, its value and the revisions that describe it
/// (like an etcd key-value).
///
/// ```
/// use informer_core::Keyed;
/// use informer_memory::MemorySource;
/// let source = MemorySource::<u32>::new();
/// source.put("a", 1);
/// let obj = source.get("a").unwrap();
/// assert_eq!(obj.key().unwrap(), "a");
/// assert_eq!(**obj.value(), 1);
/// assert_eq!(obj.mod_revision(), 1);
/// ```
#[derive(Debug)]
pub struct MemoryObject<T> {
    pub(crate) key: ObjectKey,
    pub(crate) value: Arc<T>,
    pub(crate) create_revision: u64,
    pub(crate) mod_revision: u64,
}

impl<T> Clone for MemoryObject<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            value: Arc::clone(&self.value),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

impl<T: PartialEq> PartialEq for MemoryObject<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.mod_revision == other.mod_revision
            && self.create_revision == other.create_revision
            && self.value == other.value
    }
}

impl<T> MemoryObject<T> {
    /// The object's key.
    pub fn object_key(&self) -> &ObjectKey {
        &self.key
    }

    /// The value.
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }

    /// The revision that created the key.
    pub fn create_revision(&self) -> u64 {
        self.create_revision
    }

    /// The revision of the last change of the key.
    pub fn mod_revision(&self) -> u64 {
        self.mod_revision
    }

    /// The last change's revision as an opaque [`Version`].
    pub fn version(&self) -> Version {
        Version::new(self.mod_revision.to_string())
    }
}

impl<T> Keyed for MemoryObject<T> {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

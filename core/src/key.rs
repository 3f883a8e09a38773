//! Keys and versions: the two strings every mirrored object carries.
//!
//! A **key** names an object inside one collection (`namespace/name` for Kubernetes, the raw key
//! for etcd). A **version** says how new a state of the collection is. Both are cheap to clone
//! (`Arc<str>` inside) because stores, indexes and queues copy them constantly.
//!
//! Versions are *opaque* to the core: the reflector stores them and hands them back to the
//! backend ("watch from here"), but never compares them. Kubernetes forbids comparing
//! resourceVersions; etcd revisions could be compared, and a backend may do so internally.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

macro_rules! shared_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Creates a value from anything string-like.
            pub fn new(value: impl AsRef<str>) -> Self {
                Self(Arc::from(value.as_ref()))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(Arc::from(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(Arc::from(value))
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                Self(Arc::from(value.as_str()))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::new(s))
            }
        }
    };
}

shared_string! {
    /// The key of an object inside its collection, e.g. `default/web-0` or `/registry/a`.
    ///
    /// ```
    /// use informer_core::ObjectKey;
    /// let key = ObjectKey::from("default/web-0");
    /// assert_eq!(key, "default/web-0");
    /// ```
    ObjectKey
}

shared_string! {
    /// An opaque version of the collection (a Kubernetes resourceVersion, an etcd revision).
    ///
    /// The core never compares versions; it only remembers the newest one it has seen and
    /// hands it back to the backend.
    ///
    /// ```
    /// use informer_core::Version;
    /// let v = Version::from("42");
    /// assert_eq!(v.as_str(), "42");
    /// ```
    Version
}

/// Why a key could not be computed for an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compute key: {reason}")]
pub struct KeyError {
    /// What was missing or invalid, e.g. `metadata.name is missing`.
    pub reason: String,
}

impl KeyError {
    /// Creates a key error with a reason that names what was wrong.
    ///
    /// ```
    /// let err = informer_core::KeyError::new("metadata.name is missing");
    /// assert!(err.to_string().contains("metadata.name"));
    /// ```
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }
}

/// Objects that know their own key.
///
/// Backends implement it for the object types they define (etcd key-values, memory objects,
/// compact Kubernetes objects). For types defined elsewhere (e.g. `k8s_openapi` structs) a
/// backend supplies a [`KeyFn`] instead, because Rust's orphan rule forbids implementing this
/// trait for them outside this crate.
///
/// ```
/// use informer_core::{KeyError, Keyed, ObjectKey};
/// struct Item { name: String }
/// impl Keyed for Item {
///     fn key(&self) -> Result<ObjectKey, KeyError> {
///         Ok(ObjectKey::from(self.name.as_str()))
///     }
/// }
/// assert_eq!(Item { name: "a".into() }.key().unwrap(), "a");
/// ```
pub trait Keyed {
    /// The object's key.
    fn key(&self) -> Result<ObjectKey, KeyError>;
}

impl<T: Keyed + ?Sized> Keyed for Arc<T> {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        (**self).key()
    }
}

type KeyClosure<T> = dyn Fn(&T) -> Result<ObjectKey, KeyError> + Send + Sync;

/// A key function: how a store computes the key of an object (client-go's `KeyFunc`).
///
/// Cheap to clone. Build one from a closure with [`KeyFn::new`], or with [`KeyFn::keyed`] for
/// types that implement [`Keyed`].
///
/// ```
/// use informer_core::{KeyFn, ObjectKey};
/// let by_len = KeyFn::new(|s: &String| Ok(ObjectKey::from(s.len().to_string())));
/// assert_eq!(by_len.key(&"abc".to_string()).unwrap(), "3");
/// ```
pub struct KeyFn<T: ?Sized>(Arc<KeyClosure<T>>);

impl<T: ?Sized> KeyFn<T> {
    /// Wraps a closure.
    pub fn new(f: impl Fn(&T) -> Result<ObjectKey, KeyError> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Computes the key of `object`.
    #[inline]
    pub fn key(&self, object: &T) -> Result<ObjectKey, KeyError> {
        (self.0)(object)
    }
}

impl<T: Keyed + ?Sized + 'static> KeyFn<T> {
    /// The key function of a type that knows its own key.
    ///
    /// ```
    /// use informer_core::{KeyError, KeyFn, Keyed, ObjectKey};
    /// struct Item(&'static str);
    /// impl Keyed for Item {
    ///     fn key(&self) -> Result<ObjectKey, KeyError> { Ok(self.0.into()) }
    /// }
    /// assert_eq!(KeyFn::<Item>::keyed().key(&Item("x")).unwrap(), "x");
    /// ```
    pub fn keyed() -> Self {
        Self::new(|o: &T| o.key())
    }
}

impl<T: ?Sized> Clone for KeyFn<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> fmt::Debug for KeyFn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_with_str_and_borrow_as_str() {
        let key = ObjectKey::from("ns/a");
        assert_eq!(key, "ns/a");
        let mut map = std::collections::HashMap::new();
        map.insert(key.clone(), 1);
        assert_eq!(map.get("ns/a"), Some(&1));
    }

    #[test]
    fn key_fn_reports_the_reason_of_a_failure() {
        let f =
            KeyFn::new(|s: &str| if s.is_empty() { Err(KeyError::new("empty name")) } else { Ok(ObjectKey::new(s)) });
        assert_eq!(f.key("a").unwrap(), "a");
        assert_eq!(f.key("").unwrap_err().to_string(), "cannot compute key: empty name");
    }
}

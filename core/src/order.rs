//! Comparable versions, where the backend defines an order: [`VersionOrder`].
//!
//! A [`Version`] is opaque to the reflector: it is stored and handed back to the backend. Some
//! backends do define an order (etcd revisions, Consul indexes, the memory source's revision,
//! and Kubernetes resourceVersions since 1.35, KEP-5504), and with it a program can ask "has
//! my write reached the mirror yet?" ([`ReflectorHandle::wait_for_version`]). The backend
//! declares its order through [`ListerWatcher::version_order`]; core never assumes one and
//! never parses a version itself: it only calls the comparison the backend handed over.
//!
//! [`ReflectorHandle::wait_for_version`]: crate::ReflectorHandle::wait_for_version
//! [`ListerWatcher::version_order`]: crate::ListerWatcher::version_order

use std::cmp::Ordering;
use std::fmt;

use crate::key::Version;

/// The comparison of two versions a backend declares; `None` if they cannot be compared
/// (a version that is not of the backend's form).
pub type CompareVersions = fn(&Version, &Version) -> Option<Ordering>;

/// The order of a backend's versions, declared by the backend.
///
/// ```
/// use std::cmp::Ordering;
/// use informer_core::{Version, VersionOrder};
/// // A backend whose versions are unsigned decimal counters (an etcd revision) declares:
/// let order = VersionOrder::unsigned_decimal();
/// assert_eq!(order.compare(&Version::from("9"), &Version::from("10")), Some(Ordering::Less));
/// assert_eq!(order.compare(&Version::from("9"), &Version::from("x")), None);
/// ```
#[derive(Clone, Copy)]
pub struct VersionOrder {
    name: &'static str,
    compare: CompareVersions,
}

impl VersionOrder {
    /// An order named `name` (for errors) with its comparison.
    pub fn new(name: &'static str, compare: CompareVersions) -> Self {
        Self { name, compare }
    }

    /// Versions that are unsigned decimal integers (at most 2^64 - 1), compared as numbers:
    /// for backends whose versions are counters (etcd revisions, Consul and etcd v2 indexes,
    /// Kubernetes resourceVersions per KEP-5504, the memory source's revision). Only a backend
    /// that knows its versions have this form may declare it.
    pub fn unsigned_decimal() -> Self {
        Self::new("unsigned decimal", |a, b| {
            let parse = |v: &Version| {
                let s = v.as_str();
                (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse::<u64>().ok()).flatten()
            };
            Some(parse(a)?.cmp(&parse(b)?))
        })
    }

    /// Compares `a` with `b`; `None` if either is not of this order's form.
    pub fn compare(&self, a: &Version, b: &Version) -> Option<Ordering> {
        (self.compare)(a, b)
    }

    /// The order's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for VersionOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionOrder").field("name", &self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_decimal_compares_as_numbers_not_as_text() {
        let order = VersionOrder::unsigned_decimal();
        let v = Version::from;
        assert_eq!(order.compare(&v("100"), &v("99")), Some(Ordering::Greater));
        assert_eq!(order.compare(&v("7"), &v("7")), Some(Ordering::Equal));
        for bad in ["", "-1", "1.5", "99999999999999999999", " 1"] {
            assert_eq!(order.compare(&v(bad), &v("1")), None, "{bad:?}");
        }
    }
}

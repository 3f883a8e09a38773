//! Server-side sharding (KEP-5866): the `shardSelector` query parameter and the check that the
//! server applied it.
//!
//! Kubernetes 1.36+ with the alpha feature gate `ShardedListAndWatch` filters lists and
//! watches by `shardRange(object.metadata.uid, '0x…', '0x…') || …`: FNV-1a 64
//! ([`fnv1a64`](informer_core::shard::fnv1a64)) of the field's value, start inclusive, end
//! exclusive. A list answered under a shard selector echoes it in `metadata.shardInfo.selector`.
//!
//! A server without the gate drops the parameter and answers the whole collection, without
//! `shardInfo`. A mirror of one shard that silently held everything would be wrong, so
//! [`check_echo`] turns a missing echo into an error.

use informer_core::{ShardSelector, SourceError, SyncFailureKind};

/// The object field the API server hashes for a shard selector.
///
/// ```
/// use informer_kube::ShardField;
/// assert_eq!(ShardField::Uid.path(), "object.metadata.uid");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShardField {
    /// `object.metadata.uid`: random per object, so shards are even; an object keeps its
    /// shard for life (a re-created object may move, as it is a new object).
    Uid,
    /// `object.metadata.namespace`: every object of a namespace in the same shard; as even
    /// as the namespaces' sizes.
    Namespace,
}

impl ShardField {
    /// The field path in the selector, e.g. `object.metadata.uid`.
    ///
    /// ```
    /// assert_eq!(informer_kube::ShardField::Namespace.path(), "object.metadata.namespace");
    /// ```
    pub fn path(self) -> &'static str {
        match self {
            Self::Uid => "object.metadata.uid",
            Self::Namespace => "object.metadata.namespace",
        }
    }
}

/// The `shardSelector` expression of `selector` on `field`, written as the API server writes
/// it back in `shardInfo` (ranges sorted by start, joined by ` || `), so the echo can be
/// compared as text.
///
/// ```
/// use informer_core::{ShardRange, ShardSelector};
/// use informer_kube::{ShardField, shard_selector_expression};
/// let half = ShardSelector::from(ShardRange::FULL.split(2).unwrap()[1]);
/// assert_eq!(
///     shard_selector_expression(&half, ShardField::Uid),
///     "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')"
/// );
/// ```
pub fn shard_selector_expression(selector: &ShardSelector, field: ShardField) -> String {
    let ranges: Vec<String> = selector
        .ranges()
        .iter()
        .map(|r| format!("shardRange({}, '{}', '{}')", field.path(), r.start_hex(), r.end_hex()))
        .collect();
    ranges.join(" || ")
}

/// Checks the `shardInfo` echo of a list page answered to a request with `expected` as its
/// shard selector.
pub(crate) fn check_echo(source: &str, uri: &str, expected: &str, echoed: Option<&str>) -> Result<(), SourceError> {
    match echoed {
        Some(echo) if echo == expected => Ok(()),
        Some(echo) => Err(SourceError::permanent(format!(
            "{source}: list {uri}: the server applied shard selector {echo:?}, not the {expected:?} asked for"
        ))
        .with_reason(SyncFailureKind::Unsupported)),
        None => Err(SourceError::permanent(format!(
            "{source}: list {uri}: the server does not support shardSelector (its list has no \
             metadata.shardInfo, so it answered the whole collection): enable the Kubernetes feature \
             gate ShardedListAndWatch (alpha since 1.36) on the API server, or shard on the client \
             with informer_core::Sharded"
        ))
        .with_reason(SyncFailureKind::Unsupported)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_core::ShardRange;

    #[test]
    fn the_expression_lists_every_range_in_order_as_the_server_echoes_it() {
        let q = ShardRange::FULL.split(4).unwrap();
        let selector = ShardSelector::new([q[3], q[0]]).unwrap();
        assert_eq!(
            shard_selector_expression(&selector, ShardField::Namespace),
            "shardRange(object.metadata.namespace, '0x0000000000000000', '0x4000000000000000') || \
             shardRange(object.metadata.namespace, '0xc000000000000000', '0x10000000000000000')"
        );
    }

    #[test]
    fn a_missing_or_different_echo_is_an_error_naming_the_cause() {
        assert!(check_echo("kube pods", "/api/v1/pods", "x", Some("x")).is_ok());
        let err = check_echo("kube pods", "/api/v1/pods", "x", None).unwrap_err();
        assert_eq!(err.kind(), informer_core::ErrorKind::Permanent);
        assert!(err.to_string().contains("does not support shardSelector"), "{err}");
        assert!(err.to_string().contains("ShardedListAndWatch"), "{err}");
        let err = check_echo("kube pods", "/api/v1/pods", "x", Some("y")).unwrap_err();
        assert!(err.to_string().contains("\"y\", not the \"x\""), "{err}");
    }
}

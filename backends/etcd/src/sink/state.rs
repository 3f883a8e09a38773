//! The mirror's state record: one key in the destination, written in the same transaction as
//! the data it describes.
//!
//! Its value is one JSON object:
//!
//! ```json
//! {"format":"informer-mirror/1","source":"etcd://10.0.0.1:2379/app/","version":"4711","complete":true}
//! ```
//!
//! * `format`: `informer-mirror/1`; a value in another format is not ours and is never
//!   overwritten.
//! * `source`: what the mirror copies (the caller's description, e.g. the SOURCE URL); a
//!   restart from another source does not resume from this record.
//! * `version`: the last source version (etcd revision) whose changes the destination holds
//!   completely.
//! * `complete`: false while an initial sync (or a relist) is being written: the destination
//!   prefix is then a mix of old and new keys, so a restarted mirror lists again and finishes
//!   the sync instead of resuming.

use informer_core::Version;
use serde::{Deserialize, Serialize};

/// The format tag of the record.
pub(crate) const FORMAT: &str = "informer-mirror/1";

/// The mirror's state record, stored as JSON under the sink's state key in the same
/// transaction as the data it describes:
///
/// ```json
/// {"format":"informer-mirror/1","source":"etcd://10.0.0.1:2379/app/","version":"4711","complete":true}
/// ```
///
/// A value in another format is never overwritten; a record of another `source` is not
/// resumed from; `complete: false` marks an initial sync (or relist) under way, which a
/// restarted mirror finishes with a list instead of resuming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorState {
    /// Always `informer-mirror/1`.
    pub format: String,
    /// What the mirror copies.
    pub source: String,
    /// The last source version applied completely.
    pub version: String,
    /// False while an initial sync is under way.
    pub complete: bool,
}

impl MirrorState {
    /// A record of `source` at `version`.
    pub(crate) fn new(source: &str, version: &Version, complete: bool) -> Self {
        Self { format: FORMAT.to_string(), source: source.to_string(), version: version.to_string(), complete }
    }

    /// The record as stored.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and a bool cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a stored record; the error says why the value is not one.
    pub(crate) fn decode(value: &[u8]) -> Result<Self, String> {
        let state: Self = serde_json::from_slice(value).map_err(|e| format!("not an informer mirror state ({e})"))?;
        if state.format != FORMAT {
            return Err(format!("state format {:?} is not {FORMAT:?}", state.format));
        }
        Ok(state)
    }

    /// The version to resume from, if this record is a complete state of `source`.
    pub(crate) fn resume_point(&self, source: &str) -> Option<Version> {
        (self.complete && self.source == source && !self.version.is_empty())
            .then(|| Version::from(self.version.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_resumes_only_when_complete_and_from_the_same_source() {
        let state = MirrorState::new("etcd://a:2379/app/", &Version::from("42"), true);
        let decoded = MirrorState::decode(&state.encode()).unwrap();
        assert_eq!(decoded, state);
        assert_eq!(decoded.resume_point("etcd://a:2379/app/"), Some(Version::from("42")));
        assert_eq!(decoded.resume_point("etcd://b:2379/app/"), None);
        let syncing = MirrorState::new("etcd://a:2379/app/", &Version::from("42"), false);
        assert_eq!(syncing.resume_point("etcd://a:2379/app/"), None);
    }

    #[test]
    fn values_that_are_not_records_are_refused_with_a_reason() {
        assert!(MirrorState::decode(b"hello").unwrap_err().contains("not an informer mirror state"));
        let other = br#"{"format":"other/9","source":"s","version":"1","complete":true}"#;
        assert!(MirrorState::decode(other).unwrap_err().contains("other/9"));
    }
}

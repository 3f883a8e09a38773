//! The observer's clock: how long this process has seen a Lease unchanged, on its own monotonic
//! clock, as client-go's leader election judges a leader's lease (`observedTime`).
//!
//! Kubernetes never expires a Lease: `renewTime` is a wall-clock stamp written by the holder,
//! and comparing it with our wall clock would need synchronised clocks. Instead an observer
//! notes the moment it *first* saw the current value (its resourceVersion) and judges the Lease
//! expired once that value stayed the same for the Lease's `leaseDurationSeconds`, measured on
//! its own clock. Only clock *rates* need to agree, never their readings.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What this process saw of the Leases it reads, and since when.
#[derive(Debug, Default)]
pub(super) struct Observations {
    /// Lease name → its last seen resourceVersion and when that value was first seen.
    seen: HashMap<String, Seen>,
    /// Shard Lease name → the holder session whose member Lease was seen gone (deleted, or
    /// re-created under another uid), and since when.
    gone: HashMap<String, Gone>,
}

#[derive(Debug)]
struct Seen {
    version: String,
    since: Instant,
}

#[derive(Debug)]
struct Gone {
    session: String,
    since: Instant,
}

impl Observations {
    /// Records that `lease` reads `version` at `now` (a moment after the answer arrived) and
    /// answers for how long this observer has seen that same version.
    pub(super) fn unchanged_for(&mut self, lease: &str, version: &str, now: Instant) -> Duration {
        match self.seen.get_mut(lease) {
            Some(seen) if seen.version == version => now.saturating_duration_since(seen.since),
            Some(seen) => {
                *seen = Seen { version: version.to_string(), since: now };
                Duration::ZERO
            }
            None => {
                self.seen.insert(lease.to_string(), Seen { version: version.to_string(), since: now });
                Duration::ZERO
            }
        }
    }

    /// Forgets what was seen of `lease` (it was deleted, or this process wrote it and knows
    /// better).
    pub(super) fn forget(&mut self, lease: &str) {
        self.seen.remove(lease);
    }

    /// Forgets the Leases starting with `prefix` that `listed` does not hold: they are gone, and
    /// a Lease re-created under the same name must be observed afresh.
    pub(super) fn forget_unlisted(&mut self, prefix: &str, listed: &dyn Fn(&str) -> bool) {
        self.seen.retain(|name, _| !name.starts_with(prefix) || listed(name));
    }

    /// Records that the member Lease of `session`, holder of `shard_lease`, is gone at `now`
    /// and answers for how long it has been seen gone.
    pub(super) fn gone_for(&mut self, shard_lease: &str, session: &str, now: Instant) -> Duration {
        match self.gone.get_mut(shard_lease) {
            Some(gone) if gone.session == session => now.saturating_duration_since(gone.since),
            _ => {
                self.gone.insert(shard_lease.to_string(), Gone { session: session.to_string(), since: now });
                Duration::ZERO
            }
        }
    }

    /// The shard Lease changed hands: what was seen gone no longer matters.
    pub(super) fn forget_gone(&mut self, shard_lease: &str) {
        self.gone.remove(shard_lease);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_counts_from_when_it_was_first_seen() {
        let mut seen = Observations::default();
        let t0 = Instant::now();
        assert_eq!(seen.unchanged_for("a", "1", t0), Duration::ZERO);
        assert_eq!(seen.unchanged_for("a", "1", t0 + Duration::from_secs(2)), Duration::from_secs(2));
        // A new version restarts the count, whatever its renewTime says.
        assert_eq!(seen.unchanged_for("a", "2", t0 + Duration::from_secs(3)), Duration::ZERO);
        assert_eq!(seen.unchanged_for("a", "2", t0 + Duration::from_secs(4)), Duration::from_secs(1));
    }

    #[test]
    fn leases_are_observed_separately_and_forgotten_on_request() {
        let mut seen = Observations::default();
        let t0 = Instant::now();
        seen.unchanged_for("g-member-a", "1", t0);
        seen.unchanged_for("g-member-b", "1", t0);
        seen.unchanged_for("g-shard-00000", "1", t0);
        let later = t0 + Duration::from_secs(5);
        seen.forget_unlisted("g-member-", &|name| name == "g-member-a");
        assert_eq!(seen.unchanged_for("g-member-a", "1", later), Duration::from_secs(5));
        assert_eq!(seen.unchanged_for("g-member-b", "1", later), Duration::ZERO, "b was forgotten");
        assert_eq!(seen.unchanged_for("g-shard-00000", "1", later), Duration::from_secs(5), "other prefixes stay");
        seen.forget("g-member-a");
        assert_eq!(seen.unchanged_for("g-member-a", "1", later), Duration::ZERO);
    }

    #[test]
    fn a_gone_session_counts_from_when_it_was_first_seen_gone() {
        let mut seen = Observations::default();
        let t0 = Instant::now();
        assert_eq!(seen.gone_for("g-shard-00001", "uid-1/0", t0), Duration::ZERO);
        assert_eq!(seen.gone_for("g-shard-00001", "uid-1/0", t0 + Duration::from_secs(2)), Duration::from_secs(2));
        // Another holder session restarts the count.
        assert_eq!(seen.gone_for("g-shard-00001", "uid-2/0", t0 + Duration::from_secs(3)), Duration::ZERO);
        seen.forget_gone("g-shard-00001");
        assert_eq!(seen.gone_for("g-shard-00001", "uid-2/0", t0 + Duration::from_secs(9)), Duration::ZERO);
    }
}

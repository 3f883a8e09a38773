//! The sync state: is the mirror current, and if not, why.
//!
//! `has_synced` answers "did the first list ever finish?"; it cannot say why a mirror that
//! never syncs is stuck (an RBAC `forbidden` looks like a slow server). The reflector therefore
//! publishes a [`SyncState`] on a `tokio::sync::watch` channel:
//!
//! ```text
//!  NotSynced ──list/stream ok──► Synced ◄──watch open again──┐
//!      │                           │                          │
//!      └──source error──► Failing { kind, message, since, attempts } ──► ...
//!                                                   run() returns ──► Stopped
//! ```
//!
//! * Every failed list or watch (not an expired version, which a relist answers, and not an
//!   unsupported streaming list, which falls back) moves the state to
//!   [`SyncState::Failing`] with the backend's reason ([`SourceError::reason`]), the message,
//!   when the failures started and how many attempts in a row failed.
//! * A list, a streaming list's end bookmark, or a watch that opens again moves it back to
//!   [`SyncState::Synced`] (or [`SyncState::NotSynced`] if no list ever finished).
//! * A change the store refused is a failure too ([`SyncFailureKind::StoreRefused`]); the
//!   relist that repairs it ends it.
//! * When [`Reflector::run`](super::Reflector::run) returns, the state is [`SyncState::Stopped`].
//! * The metrics show it too: `informer_reflector_synced`, and
//!   `informer_reflector_sync_failing{kind}` at 1 for the reason of a failing state.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use metrics::{Gauge, Label};

use crate::telemetry::{LABEL_KIND, LABEL_NAME, REFLECTOR_SYNC_FAILING};

use tokio::sync::watch;

use super::ReflectorHandle;
use crate::reason::SyncFailureKind;
use crate::source::SourceError;

/// Why the mirror is not synced: the reason, the last message, since when and how many
/// attempts in a row failed.
///
/// ```
/// use std::time::SystemTime;
/// use informer_core::{SyncFailure, SyncFailureKind};
/// let failure = SyncFailure::new(SyncFailureKind::Forbidden, "list answered 403", SystemTime::now(), 3);
/// assert!(failure.to_string().starts_with("forbidden: list answered 403 (3 attempts"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct SyncFailure {
    /// Why.
    pub kind: SyncFailureKind,
    /// The last error's message; it names the source and the request.
    pub message: String,
    /// When the first failure of this run of failures happened.
    pub since: SystemTime,
    /// Consecutive failed attempts (1 after the first failure).
    pub attempts: u32,
}

impl SyncFailure {
    /// A failure of `kind`.
    pub fn new(kind: SyncFailureKind, message: impl Into<String>, since: SystemTime, attempts: u32) -> Self {
        Self { kind, message: message.into(), since, attempts }
    }

    /// True if the reason can never succeed as configured ([`SyncFailureKind::is_permanent`]).
    pub fn is_permanent(&self) -> bool {
        self.kind.is_permanent()
    }
}

impl fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let for_ = self.since.elapsed().unwrap_or_default();
        write!(
            f,
            "{}: {} ({} attempt{} in a row, failing for {:.1?})",
            self.kind,
            self.message,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            Duration::from_millis(u64::try_from(for_.as_millis()).unwrap_or(u64::MAX))
        )
    }
}

/// Where a reflector stands, published by [`ReflectorHandle::subscribe_sync_state`].
///
/// * A failed list or watch (not an expired version, which a relist answers, nor an
///   unsupported streaming list, which falls back) makes it `Failing` with the backend's
///   reason ([`SourceError::reason`]), the message, since when and how many attempts in a row
///   failed.
/// * A list, a streaming list's end bookmark, or a watch that opens again makes it `Synced`
///   (`NotSynced` if no list ever finished).
/// * A change the store refused is `Failing` with [`SyncFailureKind::StoreRefused`] until the
///   repairing relist is stored.
/// * `Stopped` once [`Reflector::run`](super::Reflector::run) returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncState {
    /// No list has finished yet, and nothing failed so far.
    #[default]
    NotSynced,
    /// The store holds a complete state and the watch is running.
    Synced,
    /// The last attempt failed; the reflector retries after backoff.
    Failing(SyncFailure),
    /// [`Reflector::run`](super::Reflector::run) returned.
    Stopped,
}

impl SyncState {
    /// The failure, if the state is [`SyncState::Failing`].
    pub fn failure(&self) -> Option<&SyncFailure> {
        match self {
            Self::Failing(f) => Some(f),
            _ => None,
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSynced => f.write_str("not synced"),
            Self::Synced => f.write_str("synced"),
            Self::Failing(failure) => write!(f, "failing: {failure}"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

/// The reasons a running reflector can fail for, each with its `sync_failing` series.
const FAILING_KINDS: [SyncFailureKind; 11] = [
    SyncFailureKind::Unauthorized,
    SyncFailureKind::Forbidden,
    SyncFailureKind::NotFound,
    SyncFailureKind::Invalid,
    SyncFailureKind::Refused,
    SyncFailureKind::Unavailable,
    SyncFailureKind::Malformed,
    SyncFailureKind::Expired,
    SyncFailureKind::Unsupported,
    SyncFailureKind::Stalled,
    SyncFailureKind::StoreRefused,
];

/// The runner's side: turns errors and successes into state changes.
#[derive(Debug)]
pub(super) struct SyncTracker {
    tx: watch::Sender<SyncState>,
    /// `informer_reflector_sync_failing`, one series per reason.
    failing: [Gauge; FAILING_KINDS.len()],
    /// The reason the gauges show now.
    shown: Mutex<Option<SyncFailureKind>>,
}

impl SyncTracker {
    /// A tracker whose metrics carry the label `name`.
    pub(super) fn new(name: &str) -> Self {
        let failing = FAILING_KINDS.map(|kind| {
            let labels = vec![Label::new(LABEL_NAME, name.to_string()), Label::new(LABEL_KIND, kind.as_str())];
            let gauge = metrics::gauge!(REFLECTOR_SYNC_FAILING, labels);
            gauge.set(0.0);
            gauge
        });
        Self { tx: watch::channel(SyncState::NotSynced).0, failing, shown: Mutex::new(None) }
    }

    /// Moves the `sync_failing` gauges to the state's reason, if it changed.
    fn show(&self) {
        let kind = self.tx.borrow().failure().map(|f| f.kind);
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if *shown == kind {
            return;
        }
        for (k, gauge) in FAILING_KINDS.iter().zip(&self.failing) {
            if Some(*k) == *shown {
                gauge.set(0.0);
            }
            if Some(*k) == kind {
                gauge.set(1.0);
            }
        }
        *shown = kind;
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<SyncState> {
        self.tx.subscribe()
    }

    pub(super) fn get(&self) -> SyncState {
        self.tx.borrow().clone()
    }

    /// One more failed attempt of `kind`; returns the failure now published.
    pub(super) fn fail(&self, kind: SyncFailureKind, message: String) -> SyncFailure {
        let mut published = None;
        self.tx.send_modify(|state| {
            let (since, attempts) = match state {
                SyncState::Failing(f) => (f.since, f.attempts.saturating_add(1)),
                _ => (SystemTime::now(), 1),
            };
            let failure = SyncFailure { kind, message, since, attempts };
            published = Some(failure.clone());
            *state = SyncState::Failing(failure);
        });
        self.show();
        published.expect("send_modify ran the closure")
    }

    pub(super) fn fail_source(&self, err: &SourceError) -> SyncFailure {
        self.fail(err.reason(), err.message().to_string())
    }

    /// The source answered: synced if a complete state was ever stored, else not synced yet.
    /// A refused change is not cleared by this: only a complete state stored again is
    /// ([`SyncTracker::stored`]).
    pub(super) fn healthy(&self, listed: bool) {
        let next = if listed { SyncState::Synced } else { SyncState::NotSynced };
        self.tx.send_if_modified(|state| {
            let refused = state.failure().is_some_and(|f| f.kind == SyncFailureKind::StoreRefused);
            if *state == next || *state == SyncState::Stopped || refused {
                return false;
            }
            *state = next;
            true
        });
        self.show();
    }

    /// A complete state was stored (a list, a streaming list, a resume): synced.
    pub(super) fn stored(&self) {
        self.tx.send_if_modified(|state| {
            if matches!(state, SyncState::Synced | SyncState::Stopped) {
                return false;
            }
            *state = SyncState::Synced;
            true
        });
        self.show();
    }

    pub(super) fn stopped(&self) {
        self.tx.send_replace(SyncState::Stopped);
        self.show();
    }
}

impl ReflectorHandle {
    /// The sync state now.
    pub fn sync_state(&self) -> SyncState {
        self.shared.sync.get()
    }

    /// A receiver that sees every change of the sync state (a `tokio::sync::watch` channel).
    pub fn subscribe_sync_state(&self) -> watch::Receiver<SyncState> {
        self.shared.sync.subscribe()
    }

    /// Waits at most `timeout` for [`SyncState::Synced`]. On time-out the error is the current
    /// failure (with its reason) if the reflector is failing, else
    /// [`SyncFailureKind::TimedOut`]; if the reflector stops first it is
    /// [`SyncFailureKind::Stopped`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use informer_core::{KeyFn, Reflector, ReflectorConfig};
    /// use informer_memory::MemorySource;
    /// use informer_stores::Cache;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = MemorySource::<String>::new();
    /// let store = Arc::new(Cache::new(KeyFn::keyed()));
    /// let reflector = Reflector::new(source, store, ReflectorConfig::default());
    /// let handle = reflector.handle();
    /// let cancel = CancellationToken::new();
    /// let task = tokio::spawn(reflector.run(cancel.clone()));
    /// handle.wait_synced_for(Duration::from_secs(5)).await.expect("synced");
    /// cancel.cancel();
    /// task.await.unwrap().unwrap();
    /// # }
    /// ```
    pub async fn wait_synced_for(&self, timeout: Duration) -> Result<(), SyncFailure> {
        let mut rx = self.subscribe_sync_state();
        let waited =
            tokio::time::timeout(timeout, rx.wait_for(|s| matches!(s, SyncState::Synced | SyncState::Stopped))).await;
        let stopped = || {
            SyncFailure::new(
                SyncFailureKind::Stopped,
                format!("{}: the reflector stopped before it synced", self.source_name()),
                SystemTime::now(),
                0,
            )
        };
        match waited {
            Ok(Ok(state)) if *state == SyncState::Synced => Ok(()),
            Ok(_) => Err(stopped()),
            Err(_) => match self.sync_state() {
                SyncState::Failing(failure) => Err(failure),
                SyncState::Synced => Ok(()),
                SyncState::Stopped => Err(stopped()),
                SyncState::NotSynced => Err(SyncFailure::new(
                    SyncFailureKind::TimedOut,
                    format!("{}: not synced after {timeout:?}, and no request failed", self.source_name()),
                    SystemTime::now(),
                    0,
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_failures_count_attempts_and_keep_the_first_time() {
        let tracker = SyncTracker::new("test");
        let first = tracker.fail(SyncFailureKind::Unavailable, "refused".into());
        let second = tracker.fail(SyncFailureKind::Forbidden, "403".into());
        assert_eq!((first.attempts, second.attempts), (1, 2));
        assert_eq!(second.since, first.since);
        assert_eq!(second.kind, SyncFailureKind::Forbidden);
        tracker.healthy(true);
        assert_eq!(tracker.get(), SyncState::Synced);
        tracker.fail(SyncFailureKind::StoreRefused, "index failed".into());
        tracker.healthy(true);
        assert!(tracker.get().failure().is_some(), "a watch that opens does not repair a refused change");
        tracker.stored();
        assert_eq!(tracker.get(), SyncState::Synced);
        assert_eq!(tracker.fail(SyncFailureKind::Unavailable, "again".into()).attempts, 1);
    }

    #[test]
    fn stopped_is_final() {
        let tracker = SyncTracker::new("test");
        tracker.stopped();
        tracker.healthy(true);
        assert_eq!(tracker.get(), SyncState::Stopped);
    }
}

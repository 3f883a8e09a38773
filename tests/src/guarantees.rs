//! The six watch guarantees of etcd's robustness tests, as a checker over what a watch
//! delivered: each violation is reported by the guarantee's name.
//!
//! | guarantee | what must hold for one watch from version `from` |
//! | --- | --- |
//! | ordered | versions never go down, and every one is after `from` |
//! | unique | no change (key, version) is delivered twice |
//! | atomic | a version's changes are delivered together: all of them (per the history), never interleaved with another version |
//! | bookmarkable | a bookmark at `b` comes after every change up to `b`, and nothing at or before `b` follows it |
//! | reliable | no gap: every change of the history between the first and the last version delivered is delivered |
//! | resumable | the first change delivered is the first change of the history after `from` |
//!
//! Checks that need the server's real history (atomic's "all of them", reliable, resumable)
//! run only when it is given; the others need nothing but the trace. Wrap a backend in
//! [`Recording`] to get the traces of every watch a reflector opened.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use informer_core::{
    ListOptions, ListPage, ListerWatcher, SourceError, Version, WatchEvent, WatchOptions, WatchStream,
};

/// One of the six guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Guarantee {
    /// Versions in order.
    Ordered,
    /// No duplicates.
    Unique,
    /// A version's changes never split.
    Atomic,
    /// A bookmark means everything up to it was delivered.
    Bookmarkable,
    /// No gap.
    Reliable,
    /// A watch from `v` continues right after `v`.
    Resumable,
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ordered => "ordered",
            Self::Unique => "unique",
            Self::Atomic => "atomic",
            Self::Bookmarkable => "bookmarkable",
            Self::Reliable => "reliable",
            Self::Resumable => "resumable",
        })
    }
}

/// What one watch delivered, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A change of `key` at `version`.
    Change {
        /// The object's key.
        key: String,
        /// The collection's version after the change.
        version: u64,
    },
    /// A bookmark.
    Bookmark {
        /// Its version.
        version: u64,
    },
}

/// One watch: where it started and what it delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchTrace {
    /// The version the watch started after.
    pub from: u64,
    /// Everything it delivered.
    pub delivered: Vec<Delivered>,
}

/// A broken guarantee, with the watch and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which guarantee.
    pub guarantee: Guarantee,
    /// The index of the watch in the traces.
    pub watch: usize,
    /// What was wrong.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated by watch {}: {}", self.guarantee, self.watch, self.detail)
    }
}

/// The server's history: for each version, the keys it changed.
pub type History = BTreeMap<u64, BTreeSet<String>>;

/// Checks every watch; returns every violation found (empty: all six hold).
///
/// ```
/// use informer_tests::guarantees::{Delivered, Guarantee, WatchTrace, check};
/// let change = |key: &str, version| Delivered::Change { key: key.into(), version };
/// let trace = WatchTrace { from: 1, delivered: vec![change("a", 3), change("b", 2)] };
/// let violations = check(&[trace], None);
/// assert_eq!(violations[0].guarantee, Guarantee::Ordered);
/// ```
pub fn check(traces: &[WatchTrace], history: Option<&History>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (watch, trace) in traces.iter().enumerate() {
        let mut v = |guarantee, detail: String| out.push(Violation { guarantee, watch, detail });
        let mut last = trace.from;
        let mut last_change: Option<u64> = None;
        let mut seen = BTreeSet::new();
        let mut finished_versions = BTreeSet::new();
        let mut bookmarked = 0u64;
        let mut delivered_at: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for item in &trace.delivered {
            match item {
                Delivered::Change { key, version } => {
                    let version = *version;
                    if version < last || version <= trace.from {
                        v(
                            Guarantee::Ordered,
                            format!("{key}@{version} after version {last} (watch from {})", trace.from),
                        );
                    }
                    if !seen.insert((key.clone(), version)) {
                        v(Guarantee::Unique, format!("{key}@{version} delivered twice"));
                    }
                    if let Some(prev) = last_change
                        && prev != version
                    {
                        finished_versions.insert(prev);
                    }
                    if finished_versions.contains(&version) {
                        v(Guarantee::Atomic, format!("version {version} split: {key} came after another version"));
                    }
                    if version <= bookmarked {
                        v(Guarantee::Bookmarkable, format!("{key}@{version} after a bookmark at {bookmarked}"));
                    }
                    delivered_at.entry(version).or_default().insert(key.clone());
                    last_change = Some(version);
                    last = last.max(version);
                }
                Delivered::Bookmark { version } => {
                    if let Some(history) = history {
                        let missing: Vec<_> = history
                            .range(trace.from + 1..=*version)
                            .filter(|(rev, keys)| delivered_at.get(rev) != Some(keys))
                            .map(|(rev, _)| *rev)
                            .collect();
                        if !missing.is_empty() {
                            v(Guarantee::Bookmarkable, format!("bookmark at {version} before versions {missing:?}"));
                        }
                    }
                    bookmarked = bookmarked.max(*version);
                    last = last.max(*version);
                }
            }
        }
        let Some(history) = history else { continue };
        let (Some(first), Some(newest)) = (delivered_at.keys().next().copied(), delivered_at.keys().last().copied())
        else {
            continue;
        };
        if let Some((&expected, _)) = history.range(trace.from + 1..).next()
            && expected != first
        {
            v(Guarantee::Resumable, format!("watch from {} began at {first}, not at {expected}", trace.from));
        }
        for (rev, keys) in history.range(first..=newest) {
            match delivered_at.get(rev) {
                None => v(Guarantee::Reliable, format!("version {rev} ({} changes) never delivered", keys.len())),
                Some(got) if got != keys => {
                    let lost: Vec<_> = keys.difference(got).collect();
                    v(Guarantee::Atomic, format!("version {rev} delivered without {lost:?}"));
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// Panics with every violation, each named, if any guarantee is broken.
pub fn assert_guarantees(what: &str, traces: &[WatchTrace], history: Option<&History>) {
    let violations = check(traces, history);
    let changes: usize = traces.iter().map(|t| t.delivered.len()).sum();
    assert!(
        violations.is_empty(),
        "{what}: {} violations over {} watches and {changes} deliveries:\n{}",
        violations.len(),
        traces.len(),
        violations.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n")
    );
}

type KeyOf<T> = dyn Fn(&T) -> String + Send + Sync;
type VersionOf = dyn Fn(&Version) -> Option<u64> + Send + Sync;

/// A [`ListerWatcher`] that passes everything through and records what every watch delivered.
pub struct Recording<L: ListerWatcher> {
    inner: L,
    key: Arc<KeyOf<L::Object>>,
    version: Arc<VersionOf>,
    traces: Arc<Mutex<Vec<WatchTrace>>>,
}

impl<L: ListerWatcher> Recording<L> {
    /// Records `inner`'s watches, keying objects with `key`; versions are read as numbers.
    pub fn new(inner: L, key: impl Fn(&L::Object) -> String + Send + Sync + 'static) -> Self {
        Self { inner, key: Arc::new(key), version: Arc::new(|v: &Version| v.parse().ok()), traces: Arc::default() }
    }

    /// A handle to the traces, readable while the reflector runs.
    pub fn traces(&self) -> Arc<Mutex<Vec<WatchTrace>>> {
        Arc::clone(&self.traces)
    }

    /// Records a watch from `from`; a streaming list (`streaming`) is recorded from its
    /// initial-events-end bookmark on (its initial events describe the state, not changes).
    fn record(&self, from: u64, streaming: bool, stream: WatchStream<L::Object>) -> WatchStream<L::Object> {
        let index = {
            let mut traces = self.traces.lock().unwrap_or_else(|e| e.into_inner());
            traces.push(WatchTrace { from, delivered: Vec::new() });
            traces.len() - 1
        };
        let (traces, key, version) = (Arc::clone(&self.traces), Arc::clone(&self.key), Arc::clone(&self.version));
        let mut initial = streaming;
        Box::pin(stream.inspect(move |item| {
            let Ok(event) = item else { return };
            let Some(v) = version(event.version()) else { return };
            if initial {
                if let WatchEvent::Bookmark(b) = event
                    && b.initial_events_end
                {
                    initial = false;
                    traces.lock().unwrap_or_else(|e| e.into_inner())[index].from = v;
                }
                return;
            }
            let delivered = match event {
                WatchEvent::Added { object, .. }
                | WatchEvent::Modified { object, .. }
                | WatchEvent::Deleted { object, .. } => Delivered::Change { key: key(object), version: v },
                WatchEvent::Bookmark(_) => Delivered::Bookmark { version: v },
            };
            traces.lock().unwrap_or_else(|e| e.into_inner())[index].delivered.push(delivered);
        }))
    }
}

impl<L: ListerWatcher> ListerWatcher for Recording<L> {
    type Object = L::Object;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<L::Object>, SourceError> {
        self.inner.list(options).await
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<L::Object>, SourceError> {
        let stream = self.inner.watch(version, options).await?;
        let from = (self.version)(version).unwrap_or(0);
        Ok(self.record(from, false, stream))
    }

    async fn watch_list(
        &self,
        min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> Result<WatchStream<L::Object>, SourceError> {
        let stream = self.inner.watch_list(min_version, options).await?;
        Ok(self.record(0, true, stream))
    }

    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        self.inner.version_order()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, version: u64) -> Delivered {
        Delivered::Change { key: key.into(), version }
    }

    fn history() -> History {
        [(2, vec!["a"]), (3, vec!["b", "c"]), (4, vec!["a"])]
            .into_iter()
            .map(|(v, keys)| (v, keys.into_iter().map(String::from).collect()))
            .collect()
    }

    fn names(trace: Vec<Delivered>, from: u64) -> Vec<Guarantee> {
        let mut g: Vec<_> = check(&[WatchTrace { from, delivered: trace }], Some(&history()))
            .into_iter()
            .map(|v| v.guarantee)
            .collect();
        g.dedup();
        g
    }

    #[test]
    fn a_complete_watch_holds_every_guarantee() {
        let trace =
            vec![change("a", 2), change("b", 3), change("c", 3), Delivered::Bookmark { version: 3 }, change("a", 4)];
        assert_eq!(names(trace, 1), []);
        assert_eq!(names(vec![change("a", 4)], 3), [], "a resumed watch");
    }

    #[test]
    fn each_violation_is_reported_by_name() {
        assert_eq!(
            names(vec![change("a", 2), change("a", 4), change("b", 3), change("c", 3)], 1),
            [Guarantee::Ordered]
        );
        assert_eq!(names(vec![change("a", 2), change("a", 2), change("b", 3), change("c", 3)], 1), [Guarantee::Unique]);
        assert_eq!(names(vec![change("a", 2), change("b", 3), change("a", 4)], 1), [Guarantee::Atomic]);
        assert_eq!(names(vec![change("a", 2), Delivered::Bookmark { version: 3 }], 1), [Guarantee::Bookmarkable]);
        assert_eq!(names(vec![change("a", 2), change("a", 4)], 1), [Guarantee::Reliable]);
        assert_eq!(names(vec![change("b", 3), change("c", 3)], 1), [Guarantee::Resumable]);
    }
}

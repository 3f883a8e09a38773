//! The sink's writer task: takes jobs from the queue in order, writes each as destination
//! transactions fenced by the state record, retries transient failures with backoff, and stops
//! the sink on a refusal.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp};
use informer_core::{Change, ErrorKind, Version};

use super::state::MirrorState;
use super::{Job, RawKeyValue, Shared, SinkConfig, SinkError};
use crate::error::classify;
use crate::key::key_to_string;

/// Why one attempt at a job failed.
pub(crate) enum Failure {
    /// Worth retrying after backoff (unavailable, timeout).
    Transient(String),
    /// The sink must stop.
    Fatal(SinkError),
}

/// Reads the state record: its decoded value (if any) and its `mod_revision` (0 if absent).
pub(crate) async fn read_state(
    kv: &mut KvClient,
    config: &SinkConfig,
    name: &str,
) -> Result<(Option<MirrorState>, i64), SinkError> {
    let key = &config.state_key;
    let request = kv.get(key.clone(), None);
    let unavailable = |reason: String| SinkError::Unavailable {
        destination: name.to_string(),
        reason: format!("reading state key {:?}: {reason}", key_to_string(key)),
    };
    let response = match tokio::time::timeout(config.destination.request_timeout, request).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return Err(unavailable(classify(err, String::new).message().trim_start_matches(": ").into())),
        Err(_) => return Err(unavailable(format!("no answer within {:?}", config.destination.request_timeout))),
    };
    let Some(kv) = response.kvs().first() else { return Ok((None, 0)) };
    let state = MirrorState::decode(kv.value()).map_err(|reason| SinkError::ForeignState {
        destination: name.to_string(),
        key: key_to_string(key),
        reason,
    })?;
    Ok((Some(state), kv.mod_revision()))
}

pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) kv: KvClient,
    /// The state record's `mod_revision` as this sink last wrote (or read) it.
    state_mod_revision: i64,
    /// The state record as last written.
    recorded: Option<MirrorState>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        kv: KvClient,
        state_mod_revision: i64,
        recorded: Option<MirrorState>,
    ) -> Self {
        Self { shared, kv, state_mod_revision, recorded }
    }

    pub(crate) fn config(&self) -> &SinkConfig {
        &self.shared.config
    }

    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) async fn run(mut self) {
        loop {
            let Some((job, ops)) = self.next_job().await else { return };
            let done = self.execute(job).await;
            {
                let mut queue = self.shared.queue();
                queue.ops = queue.ops.saturating_sub(ops);
                queue.busy = false;
            }
            self.shared.ready.wake();
            self.shared.progress.notify_waiters();
            if !done {
                return;
            }
        }
    }

    /// The next job to write and how many queued operations it took (several queued revisions
    /// joined into one job when [`SinkConfig::group_revisions`] is on).
    async fn next_job(&self) -> Option<(Job, usize)> {
        loop {
            let notified = self.shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.failure().is_some() {
                return None;
            }
            {
                let mut queue = self.shared.queue();
                if let Some(job) = queue.jobs.pop_front() {
                    queue.busy = true;
                    let mut taken = job.ops();
                    if self.config().group_revisions {
                        // One operation of each transaction is the state record.
                        let room = self.config().max_txn_ops - 1;
                        let job = group_queued(job, &mut queue.jobs, room, &mut taken);
                        return Some((job, taken));
                    }
                    return Some((job, taken));
                }
            }
            notified.await;
        }
    }

    /// Writes one job, retrying transient failures. False if the sink failed.
    async fn execute(&mut self, job: Job) -> bool {
        let (initial, max) = self.config().retry;
        let mut delay = initial;
        let mut progress = 0usize;
        let mut failures = 0u32;
        loop {
            let result = match &job {
                Job::Replace { items, version } => self.replace(items, version, &mut progress).await,
                Job::Batch { version, changes } => self.batch(version.as_ref(), changes, &mut progress).await,
                Job::Progress { version } => self.progress(version).await,
            };
            match result {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(sink = self.name(), failures, "destination writable again");
                    }
                    return true;
                }
                Err(Failure::Fatal(err)) => {
                    self.shared.fail(err);
                    return false;
                }
                Err(Failure::Transient(reason)) => {
                    failures += 1;
                    self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(sink = self.name(), failures, retry_in = ?delay, error = %reason, "write failed; retrying");
                    }
                    tokio::time::sleep(delay.mul_f64(0.5 + fastrand_like(failures))).await;
                    delay = (delay * 2).min(max);
                }
            }
        }
    }

    /// Records the source's progress (no change under the prefix) if the state is complete.
    async fn progress(&mut self, version: &Version) -> Result<(), Failure> {
        match &self.recorded {
            Some(state) if state.complete && state.version != version.as_str() => {
                let state = MirrorState::new(&self.config().source_id, version, true);
                self.commit(Vec::new(), Some(state), "the state record").await
            }
            _ => Ok(()),
        }
    }

    /// One source version: one transaction, split only if it exceeds `max_txn_ops`.
    async fn batch(
        &mut self,
        version: Option<&Version>,
        changes: &[Change<RawKeyValue>],
        progress: &mut usize,
    ) -> Result<(), Failure> {
        let ops = self.change_ops(changes)?;
        let state = version.map(|v| MirrorState::new(&self.config().source_id, v, self.recorded_complete()));
        let room = self.config().max_txn_ops - usize::from(state.is_some());
        let chunks: Vec<&[Op]> = ops.chunks(room.max(1)).collect();
        let what = match version {
            Some(v) => format!("source revision {v}"),
            None => "a change without a version".to_string(),
        };
        if chunks.len() > 1 {
            tracing::debug!(sink = self.name(), %what, ops = ops.len(), txns = chunks.len(), "revision split over transactions");
        }
        while *progress < chunks.len() {
            let last = *progress + 1 == chunks.len();
            let chunk = chunks[*progress].iter().map(Op::to_txn).collect();
            self.commit(chunk, if last { state.clone() } else { None }, &what).await?;
            self.count(chunks[*progress]);
            *progress += 1;
        }
        Ok(())
    }

    fn recorded_complete(&self) -> bool {
        // Without a record no sync was ever completed: changes alone make no complete state.
        self.recorded.as_ref().is_some_and(|s| s.complete)
    }

    /// The destination operations of `changes`: one per key, the last change winning.
    fn change_ops(&self, changes: &[Change<RawKeyValue>]) -> Result<Vec<Op>, Failure> {
        let mut ops: Vec<Op> = Vec::with_capacity(changes.len());
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        for change in changes {
            let key = self.destination_key(&change.object().raw_key).map_err(Failure::Fatal)?;
            let op = match change {
                Change::Added(o) | Change::Modified(o) => Op::Put(key.clone(), o.value.clone()),
                Change::Deleted(_) => Op::Delete(key.clone()),
            };
            match seen.get(&key) {
                Some(&at) => ops[at] = op,
                None => {
                    seen.insert(key, ops.len());
                    ops.push(op);
                }
            }
        }
        Ok(ops)
    }

    /// `source prefix + rest` → `destination prefix + rest`.
    pub(crate) fn destination_key(&self, source_key: &[u8]) -> Result<Vec<u8>, SinkError> {
        let config = self.config();
        let Some(rest) = source_key.strip_prefix(config.source_prefix.as_slice()) else {
            return Err(SinkError::Config {
                destination: self.name().to_string(),
                reason: format!(
                    "key {:?} is not under the source prefix {:?}",
                    key_to_string(source_key),
                    key_to_string(&config.source_prefix)
                ),
            });
        };
        let mut key = config.destination_prefix().to_vec();
        key.extend_from_slice(rest);
        Ok(key)
    }

    pub(crate) fn count(&self, ops: &[Op]) {
        let puts = ops.iter().filter(|o| matches!(o, Op::Put(..))).count() as u64;
        let counters = &self.shared.counters;
        counters.puts.fetch_add(puts, Ordering::Relaxed);
        counters.deletes.fetch_add(ops.len() as u64 - puts, Ordering::Relaxed);
    }

    /// Commits `ops` (plus the state record, if given) in one transaction fenced by the state
    /// record's `mod_revision`.
    pub(crate) async fn commit(
        &mut self,
        mut ops: Vec<TxnOp>,
        state: Option<MirrorState>,
        what: &str,
    ) -> Result<(), Failure> {
        let key = self.config().state_key.clone();
        if let Some(state) = &state {
            ops.push(TxnOp::put(key.clone(), state.encode(), None));
        }
        let txn = Txn::new()
            .when([Compare::mod_revision(key.clone(), CompareOp::Equal, self.state_mod_revision)])
            .and_then(ops);
        let timeout = self.config().destination.request_timeout;
        let response = match tokio::time::timeout(timeout, self.kv.txn(txn)).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                let err = classify(err, || format!("{}: writing {what}", self.name()));
                return Err(match err.kind() {
                    ErrorKind::Permanent => Failure::Fatal(SinkError::Refused {
                        destination: self.name().to_string(),
                        what: what.to_string(),
                        reason: err
                            .message()
                            .rsplit_once(&format!("writing {what}: "))
                            .map_or(err.message(), |(_, r)| r)
                            .to_string(),
                    }),
                    _ => Failure::Transient(err.to_string()),
                });
            }
            Err(_) => {
                return Err(Failure::Transient(format!(
                    "{}: writing {what}: no answer within {timeout:?}",
                    self.name()
                )));
            }
        };
        if !response.succeeded() {
            return self.reconcile(state).await;
        }
        self.shared.counters.txns.fetch_add(1, Ordering::Relaxed);
        if let Some(state) = state {
            self.state_mod_revision = response.header().map_or(self.state_mod_revision, |h| h.revision());
            self.recorded = Some(state);
        }
        Ok(())
    }

    /// The fence failed: either an earlier attempt of this very transaction was applied and its
    /// answer lost (the record then holds what it wrote), or another writer changed the record.
    async fn reconcile(&mut self, state: Option<MirrorState>) -> Result<(), Failure> {
        let name = self.shared.name.clone();
        let shared = Arc::clone(&self.shared);
        let (current, mod_revision) = read_state(&mut self.kv, &shared.config, &name).await.map_err(|e| match e {
            SinkError::Unavailable { reason, .. } => Failure::Transient(reason),
            other => Failure::Fatal(other),
        })?;
        if state.is_some() && current == state {
            self.shared.counters.txns.fetch_add(1, Ordering::Relaxed);
            self.state_mod_revision = mod_revision;
            self.recorded = state;
            return Ok(());
        }
        Err(Failure::Fatal(SinkError::Fenced {
            destination: name,
            key: key_to_string(&self.config().state_key),
            expected: self.state_mod_revision,
        }))
    }
}

/// Joins `first` with the versioned batches and progress records queued right after it, in
/// order, while their changes fit in `room` operations: one job whose version is the last one
/// joined. A revision is never split (one that does not fit stays queued), and jobs of another
/// kind (a relist, a change without a version) end the group. `taken` grows by the queued
/// operations joined.
fn group_queued(first: Job, queued: &mut VecDeque<Job>, room: usize, taken: &mut usize) -> Job {
    let (mut version, mut changes) = match first {
        Job::Batch { version: Some(version), changes } if changes.len() < room => (version, changes),
        Job::Progress { version } => (version, Vec::new()),
        other => return other,
    };
    while let Some(next) = queued.pop_front() {
        match next {
            Job::Batch { version: Some(next_version), changes: next_changes }
                if changes.len() + next_changes.len() <= room =>
            {
                *taken += next_changes.len().max(1);
                version = next_version;
                changes.extend(next_changes);
            }
            Job::Progress { version: next_version } => {
                *taken += 1;
                version = next_version;
            }
            other => {
                queued.push_front(other);
                break;
            }
        }
    }
    if changes.is_empty() { Job::Progress { version } } else { Job::Batch { version: Some(version), changes } }
}

/// A destination operation.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Op {
    pub(crate) fn to_txn(&self) -> TxnOp {
        match self {
            Self::Put(key, value) => TxnOp::put(key.clone(), value.clone(), None),
            Self::Delete(key) => TxnOp::delete(key.clone(), None),
        }
    }
}

/// A jitter factor in [0, 1) that differs between attempts (no RNG dependency needed).
fn fastrand_like(attempt: u32) -> f64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).subsec_nanos();
    f64::from((nanos ^ attempt.wrapping_mul(0x9e37_79b9)) % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_core::ObjectKey;

    fn kv(key: &str) -> Change<RawKeyValue> {
        Change::Modified(Arc::new(RawKeyValue {
            key: ObjectKey::from(key),
            raw_key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: 0,
        }))
    }

    fn batch(version: &str, keys: &[&str]) -> Job {
        Job::Batch { version: Some(Version::from(version)), changes: keys.iter().map(|k| kv(k)).collect() }
    }

    /// (version, keys) of a job, for comparisons.
    fn shape(job: &Job) -> (String, Vec<String>) {
        match job {
            Job::Batch { version, changes } => (
                version.as_deref().unwrap_or("-").to_string(),
                changes.iter().map(|c| c.object().key.to_string()).collect(),
            ),
            Job::Progress { version } => (format!("progress {version}"), Vec::new()),
            Job::Replace { version, items } => (format!("replace {version}"), vec![items.len().to_string()]),
        }
    }

    #[test]
    fn queued_revisions_are_joined_whole_up_to_the_room() {
        let mut queued: VecDeque<Job> =
            [batch("3", &["b", "c"]), Job::Progress { version: Version::from("4") }, batch("5", &["d", "e"])].into();
        let mut taken = 1;
        let joined = group_queued(batch("2", &["a"]), &mut queued, 4, &mut taken);
        // 1 + 2 fit, the progress record moves the version, revision 5 (2 more) would not fit.
        assert_eq!(shape(&joined), ("4".to_string(), vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(taken, 4, "a, b, c and the progress record");
        assert_eq!(queued.iter().map(shape).collect::<Vec<_>>(), [("5".to_string(), vec!["d".into(), "e".into()])]);
    }

    #[test]
    fn a_relist_or_an_unversioned_change_ends_the_group() {
        let replace = Job::Replace { items: Vec::new(), version: Version::from("9") };
        let mut queued: VecDeque<Job> = [batch("3", &["b"]), replace, batch("10", &["c"])].into();
        let mut taken = 1;
        let joined = group_queued(batch("2", &["a"]), &mut queued, 100, &mut taken);
        assert_eq!(shape(&joined), ("3".to_string(), vec!["a".into(), "b".into()]));
        assert_eq!(queued.len(), 2, "the relist and what follows it stay queued");

        let mut queued: VecDeque<Job> =
            [Job::Batch { version: None, changes: vec![kv("x")] }, batch("4", &["y"])].into();
        let joined = group_queued(batch("3", &["a"]), &mut queued, 100, &mut taken);
        assert_eq!(shape(&joined).1, ["a"]);
        assert_eq!(queued.len(), 2);
    }

    #[test]
    fn progress_records_alone_collapse_into_the_newest() {
        let mut queued: VecDeque<Job> =
            [Job::Progress { version: Version::from("6") }, Job::Progress { version: Version::from("7") }].into();
        let mut taken = 1;
        let joined = group_queued(Job::Progress { version: Version::from("5") }, &mut queued, 10, &mut taken);
        assert_eq!(shape(&joined).0, "progress 7");
        assert_eq!((taken, queued.len()), (3, 0));
    }

    #[test]
    fn a_revision_larger_than_the_room_is_left_to_split_alone() {
        let mut queued: VecDeque<Job> = [batch("3", &["z"])].into();
        let mut taken = 3;
        let joined = group_queued(batch("2", &["a", "b", "c"]), &mut queued, 2, &mut taken);
        assert_eq!(shape(&joined).1.len(), 3);
        assert_eq!((taken, queued.len()), (3, 1));
    }
}

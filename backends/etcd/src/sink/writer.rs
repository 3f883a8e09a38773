//! The sink's writer task: takes jobs from the queue in order, writes each as destination
//! transactions fenced by the state record, retries transient failures with backoff, and stops
//! the sink on a refusal.

use std::collections::HashMap;
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
            let Some(job) = self.next_job().await else { return };
            let ops = job.ops();
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

    async fn next_job(&self) -> Option<Job> {
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
                    return Some(job);
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

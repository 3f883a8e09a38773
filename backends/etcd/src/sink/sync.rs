//! The initial sync (and every relist): make the destination prefix hold exactly the source's
//! items, writing only what differs, then prune.
//!
//! 1. Read the destination prefix page by page at one revision. A key the source lacks is to
//!    be deleted; a key whose value is already equal is left alone (a restart after a partial
//!    sync, or a relist after compaction, rewrites only what changed).
//! 2. Write the remaining puts, then the deletes, in transactions of at most `max_txn_ops`
//!    operations. Every transaction also writes the state record as *incomplete* at the
//!    source version; the last one marks it *complete*. A sync cut short leaves an incomplete
//!    record, so a restarted mirror lists and syncs again instead of resuming.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use etcd_client::GetOptions;
use informer_core::Version;

use super::RawKeyValue;
use super::state::MirrorState;
use super::writer::{Failure, Op, Writer};
use crate::error::classify;
use crate::key::key_to_string;

/// Keys read from the destination per request.
const SCAN_PAGE: i64 = 1000;

impl Writer {
    /// Writes a `replace` of `items` at source `version`. `progress` counts transactions
    /// already committed, so a retry goes on where it stopped (the plan is computed again: it
    /// is the same, minus what was written).
    pub(crate) async fn replace(
        &mut self,
        items: &[Arc<RawKeyValue>],
        version: &Version,
        progress: &mut usize,
    ) -> Result<(), Failure> {
        let mut wanted: HashMap<Vec<u8>, &[u8]> = HashMap::with_capacity(items.len());
        for item in items {
            let key = self.destination_key(&item.raw_key).map_err(Failure::Fatal)?;
            wanted.insert(key, item.value.as_slice());
        }
        let (deletes, unchanged) = self.scan(&mut wanted).await?;
        let mut puts: Vec<(Vec<u8>, &[u8])> = wanted.into_iter().collect();
        puts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let ops: Vec<Op> =
            puts.into_iter().map(|(k, v)| Op::Put(k, v.to_vec())).chain(deletes.into_iter().map(Op::Delete)).collect();
        let source = self.config().source_id.clone();
        let room = self.config().max_txn_ops - 1;
        let chunks: Vec<&[Op]> = if ops.is_empty() { vec![&[]] } else { ops.chunks(room).collect() };
        tracing::info!(
            sink = self.name(),
            %version,
            items = items.len(),
            writes = ops.len(),
            unchanged,
            txns = chunks.len(),
            "syncing the destination"
        );
        // A retry starts over with a fresh plan; what was committed no longer differs.
        *progress = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let complete = i + 1 == chunks.len();
            let state = MirrorState::new(&source, version, complete);
            let what = format!("initial sync at source revision {version}, transaction {} of {}", i + 1, chunks.len());
            self.commit(chunk.iter().map(Op::to_txn).collect(), Some(state), &what).await?;
            self.count(chunk);
            *progress += 1;
        }
        self.shared.counters.unchanged.fetch_add(unchanged, Ordering::Relaxed);
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the destination prefix: returns the keys to delete and how many keys are already
    /// equal; removes those from `wanted`.
    async fn scan(&mut self, wanted: &mut HashMap<Vec<u8>, &[u8]>) -> Result<(Vec<Vec<u8>>, u64), Failure> {
        let range = self.config().destination.range.clone();
        let timeout = self.config().destination.request_timeout;
        let mut deletes = Vec::new();
        let mut unchanged = 0u64;
        let mut start = range.start().to_vec();
        let mut revision = 0;
        loop {
            let mut options = GetOptions::new().with_range(range.end()).with_limit(SCAN_PAGE);
            if revision > 0 {
                options = options.with_revision(revision);
            }
            let name = self.shared.name.clone();
            let what = || format!("{name}: reading the destination from key {:?}", key_to_string(&start));
            let mut kv = self.kv.clone();
            let response = match tokio::time::timeout(timeout, kv.get(start.clone(), Some(options))).await {
                Ok(Ok(response)) => response,
                Ok(Err(err)) => return Err(Failure::Transient(classify(err, what).to_string())),
                Err(_) => return Err(Failure::Transient(format!("{}: no answer within {timeout:?}", what()))),
            };
            if revision == 0 {
                revision = response.header().map_or(0, |h| h.revision());
            }
            for kv in response.kvs() {
                match wanted.get(kv.key()) {
                    Some(value) if *value == kv.value() => {
                        wanted.remove(kv.key());
                        unchanged += 1;
                    }
                    Some(_) => {}
                    None => deletes.push(kv.key().to_vec()),
                }
            }
            match response.kvs().last() {
                Some(last) if response.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => return Ok((deletes, unchanged)),
            }
        }
    }
}

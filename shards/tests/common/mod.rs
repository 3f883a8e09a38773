//! Helpers shared by the tests of every lease service (`tests/etcd.rs`, `tests/kube.rs`): a log
//! of who worked on which shard when, members run by a `ShardOwner`, and waits on conditions.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer_shards::{LeaseError, LeaseService, ShardConfig, ShardOwner};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const SHARDS: u32 = 8;
pub const TTL: Duration = Duration::from_secs(3);
/// How long a wait on a condition may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One period of work: (shard, member, start, end).
type Period = (u32, String, Instant, Option<Instant>);

/// When each member worked on each shard.
#[derive(Clone, Default)]
pub struct WorkLog(Arc<Mutex<Vec<Period>>>);

impl WorkLog {
    fn begin(&self, shard: u32, member: &str) -> usize {
        let mut log = self.0.lock();
        log.push((shard, member.to_string(), Instant::now(), None));
        log.len() - 1
    }

    fn end(&self, entry: usize) {
        self.0.lock()[entry].3 = Some(Instant::now());
    }

    /// Pairs of work periods on one shard by two members that overlap in time.
    pub fn overlaps(&self) -> Vec<String> {
        let log = self.0.lock();
        let mut found = Vec::new();
        for (i, a) in log.iter().enumerate() {
            for b in log.iter().skip(i + 1) {
                if a.0 != b.0 || a.1 == b.1 {
                    continue;
                }
                let (a_end, b_end) = (a.3.unwrap_or_else(Instant::now), b.3.unwrap_or_else(Instant::now));
                if a.2 < b_end && b.2 < a_end {
                    found.push(format!("shard {}: {} and {}", a.0, a.1, b.1));
                }
            }
        }
        found
    }
}

/// Records the end of a work period even when the work is aborted.
struct EndOnDrop(WorkLog, usize);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end(self.1);
    }
}

/// A member run by a `ShardOwner` on its own task.
pub struct Member {
    pub name: String,
    pub owned: watch::Receiver<BTreeSet<u32>>,
    pub cancel: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), LeaseError>>,
}

impl Member {
    /// Starts `name` over `service` with [`SHARDS`] shards and a [`TTL`] lease; its work logs
    /// into `log` and runs until cancelled.
    pub fn spawn<S: LeaseService>(service: S, name: &str, log: &WorkLog) -> Member {
        let config = ShardConfig::new("test", name, SHARDS).with_ttl(TTL);
        let owner = ShardOwner::new(service, config).expect("valid config");
        let owned = owner.owned();
        let cancel = CancellationToken::new();
        let (log, member) = (log.clone(), name.to_string());
        let task = tokio::spawn(owner.run(cancel.clone(), move |assignment| {
            let (log, member) = (log.clone(), member.clone());
            async move {
                let _period = EndOnDrop(log.clone(), log.begin(assignment.shard, &member));
                assignment.cancel.cancelled().await;
            }
        }));
        Member { name: name.to_string(), owned, cancel, task }
    }

    /// Stops the member cleanly and checks that it ended without error.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await.expect("the member's task").expect("the member stopped cleanly");
    }
}

/// Waits until the members' owned shards are exactly `expected` sizes (in member order) and
/// together cover every shard once.
pub async fn until_split(members: &[&Member], expected: &[usize]) -> Vec<BTreeSet<u32>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let owned: Vec<BTreeSet<u32>> = members.iter().map(|m| m.owned.borrow().clone()).collect();
        let union: BTreeSet<u32> = owned.iter().flatten().copied().collect();
        let total: usize = owned.iter().map(BTreeSet::len).sum();
        let sizes: Vec<usize> = owned.iter().map(BTreeSet::len).collect();
        if union.len() == SHARDS as usize && total == SHARDS as usize && sizes == expected {
            return owned;
        }
        assert!(Instant::now() < deadline, "no split {expected:?} within {PATIENCE:?}; now {owned:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that `member` owns nothing for a whole lease TTL (and one renewal more), failing as
/// soon as it takes a shard: how a member that must wait is seen waiting.
pub async fn owns_nothing_for_a_ttl(member: &Member) {
    let mut owned = member.owned.clone();
    let waited = tokio::time::timeout(TTL + TTL / 3, owned.wait_for(|shards| !shards.is_empty())).await;
    if let Ok(taken) = waited {
        panic!("{} took shards while it had to wait: {:?}", member.name, taken.map(|shards| (*shards).clone()));
    }
}

/// Checks that a dead member's shards were not taken before its lease could have expired: the
/// lease was renewed at most one renewal interval (TTL / 3) before `died`.
pub fn not_before_the_ttl(died: Instant) {
    let earliest = TTL - TTL / 3;
    assert!(
        died.elapsed() >= earliest,
        "the shards were taken {:?} after the death, before the lease could expire",
        died.elapsed()
    );
}

/// Who owns what, from the members' own view: shard → member.
pub fn records_of(owned: &[BTreeSet<u32>], members: &[&Member]) -> BTreeMap<u32, String> {
    owned.iter().zip(members).flat_map(|(shards, m)| shards.iter().map(|s| (*s, m.name.clone()))).collect()
}

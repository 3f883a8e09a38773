//! Synthetic data for demos and the CLI's `memory://demo` source: pod-like objects spread
//! over nodes and namespaces, and a churn loop that creates, changes and deletes them.
//!
//! ```
//! use informer_memory::MemorySource;
//! use informer_memory::demo::{DemoPod, populate};
//! let source = MemorySource::<DemoPod>::new();
//! populate(&source, 100, 42);
//! assert_eq!(source.len(), 100);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use informer_core::CancellationToken;
use serde::Serialize;

use crate::MemorySource;

/// A small pod-like object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoPod {
    /// Namespace.
    pub namespace: String,
    /// Name, unique in its namespace.
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// `Pending`, `Running`, `Succeeded` or `Failed`.
    pub phase: String,
    /// Labels (`app`, `tier`).
    pub labels: BTreeMap<String, String>,
    /// Bumped on every change.
    pub generation: u64,
}

impl DemoPod {
    /// The `namespace/name` key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

const NAMESPACES: [&str; 4] = ["default", "payments", "search", "batch"];
const APPS: [&str; 6] = ["web", "api", "worker", "cache", "db", "cron"];
const PHASES: [&str; 4] = ["Pending", "Running", "Running", "Succeeded"];
/// Nodes in the demo cluster.
pub const NODES: usize = 16;

fn make_pod(rng: &mut fastrand::Rng, id: u64) -> DemoPod {
    let app = APPS[rng.usize(..APPS.len())];
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), app.to_string());
    labels.insert("tier".to_string(), if rng.bool() { "frontend" } else { "backend" }.to_string());
    DemoPod {
        namespace: NAMESPACES[rng.usize(..NAMESPACES.len())].to_string(),
        name: format!("{app}-{id:06}"),
        node: format!("node-{:02}", rng.usize(..NODES)),
        phase: PHASES[rng.usize(..PHASES.len())].to_string(),
        labels,
        generation: 1,
    }
}

/// Adds `count` pods, reproducibly for a given `seed`.
pub fn populate(source: &MemorySource<DemoPod>, count: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for id in 0..count as u64 {
        let pod = make_pod(&mut rng, id);
        source.put(pod.key(), pod);
    }
}

/// What a churn loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChurnStats {
    /// Pods created.
    pub created: u64,
    /// Pods changed.
    pub updated: u64,
    /// Pods deleted.
    pub deleted: u64,
}

impl ChurnStats {
    /// All changes.
    pub fn total(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// Changes the collection about `per_second` times a second (in batches every 10 ms) until
/// `cancel` fires: 60 % updates (phase or node), 20 % creates, 20 % deletes.
pub async fn churn(source: MemorySource<DemoPod>, per_second: u32, seed: u64, cancel: CancellationToken) -> ChurnStats {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stats = ChurnStats::default();
    let mut next_id = 1_000_000u64 + rng.u64(..1_000_000);
    let per_tick = (per_second / 100).max(1);
    // The keys this loop may touch, picked in O(1); other writers may delete them meanwhile.
    let mut keys: Vec<String> = source.snapshot().into_keys().map(|k| k.to_string()).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    // A slow machine skips ticks instead of bursting: a burst would hold its worker thread and
    // starve tasks it wakes (such as a reflector) until Tokio's cooperative budget runs out.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return stats,
            _ = tick.tick() => {}
        }
        for _ in 0..per_tick {
            let roll = rng.u8(..100);
            if roll < 20 || keys.is_empty() {
                let pod = make_pod(&mut rng, next_id);
                next_id += 1;
                keys.push(pod.key());
                source.put(pod.key(), pod);
                stats.created += 1;
                continue;
            }
            let index = rng.usize(..keys.len());
            if roll < 40 {
                let key = keys.swap_remove(index);
                if source.delete(&key).is_some() {
                    stats.deleted += 1;
                }
            } else if let Some(current) = source.get(&keys[index]) {
                let mut pod = (**current.value()).clone();
                pod.generation += 1;
                if rng.bool() {
                    pod.phase = PHASES[rng.usize(..PHASES.len())].to_string();
                } else {
                    pod.node = format!("node-{:02}", rng.usize(..NODES));
                }
                source.put(keys[index].as_str(), pod);
                stats.updated += 1;
            } else {
                keys.swap_remove(index);
            }
        }
        // Let the tasks this batch woke run before the next batch.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populate_is_reproducible_for_a_seed() {
        let a = MemorySource::new();
        let b = MemorySource::new();
        populate(&a, 50, 9);
        populate(&b, 50, 9);
        let keys = |s: &MemorySource<DemoPod>| s.snapshot().into_keys().collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        assert_eq!(a.len(), 50);
    }

    #[tokio::test]
    async fn churn_creates_updates_and_deletes_until_cancelled() {
        let source = MemorySource::new();
        populate(&source, 100, 1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(churn(source.clone(), 5_000, 2, cancel.clone()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
        let stats = task.await.unwrap();
        assert!(stats.created > 0 && stats.updated > 0 && stats.deleted > 0, "{stats:?}");
        assert_eq!(source.revision(), 100 + stats.total());
    }
}

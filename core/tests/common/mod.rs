//! Shared helpers of the reflector tests.
#![allow(dead_code)]

use std::time::Duration;

use informer_core::{BackoffConfig, KeyFn, ReflectorConfig};
use informer_memory::{MemoryObject, MemorySource};
use informer_tests::MapStore;

pub type Obj = MemoryObject<u64>;

/// Small, fast backoff and no minimum watch duration, so fault tests run in milliseconds.
pub fn fast_config() -> ReflectorConfig {
    ReflectorConfig::default()
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(2)).with_max(Duration::from_millis(20)),
        )
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(7))
}

/// A reflector over a memory source into a `MapStore`.
pub type Running = informer_tests::reflect::Running<Obj>;

pub fn start(source: &MemorySource<u64>, config: ReflectorConfig) -> Running {
    informer_tests::reflect::start(source.clone(), KeyFn::keyed(), config)
}

/// The store's contents as (key, value, mod_revision), sorted.
pub fn store_state(store: &MapStore<Obj>) -> Vec<(String, u64, u64)> {
    store.snapshot().into_iter().map(|(k, o)| (k.to_string(), **o.value(), o.mod_revision())).collect()
}

/// The source's contents in the same shape.
pub fn source_state(source: &MemorySource<u64>) -> Vec<(String, u64, u64)> {
    source.snapshot().into_iter().map(|(k, o)| (k.to_string(), **o.value(), o.mod_revision())).collect()
}

/// Waits until `cond` holds, polling; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until the store equals the source and the reflector has seen the source's revision.
pub async fn converged(run: &Running, source: &MemorySource<u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let caught_up = run.handle.last_synced_version().map(|v| v.to_string()) == Some(source.revision().to_string());
        if caught_up && store_state(&run.store) == source_state(source) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            assert_eq!(store_state(&run.store), source_state(source), "store never converged");
            panic!("reflector never caught up with revision {}", source.revision());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

//! Helpers shared by the convergence, soak and secrets tests: the replayable seed, a fast
//! reflector config, polling, and the final store-versus-server comparison with its report.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use informer_core::{BackoffConfig, ReflectorConfig};

/// The run's seed: `INFORMER_SEED` if set (to replay a failure), else a fresh random one.
/// Printed so a failing run can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("INFORMER_SEED") {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("INFORMER_SEED={text:?} is not a u64")),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("[{test}] seed {seed} (replay with INFORMER_SEED={seed})");
    seed
}

/// Small backoff, no minimum watch duration, seeded jitter, pages of `page_size`.
pub fn fast_config(page_size: u32, seed: u64) -> ReflectorConfig {
    ReflectorConfig::default()
        .with_page_size(Some(page_size))
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(10)).with_max(Duration::from_millis(300)),
        )
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(seed))
}

// Not every test binary uses it.
#[allow(unused_imports)]
pub use informer_tests::reflect::eventually;

/// How a mirror differs from the server: keys missing from the mirror (lost), keys the server
/// no longer has (stale), and keys whose value or version differ (also stale).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Diff {
    pub lost: usize,
    pub stale_extra: usize,
    pub stale_value: usize,
}

impl Diff {
    pub fn of<V: PartialEq>(server: &BTreeMap<String, V>, mirror: &BTreeMap<String, V>) -> Self {
        Self {
            lost: server.keys().filter(|k| !mirror.contains_key(*k)).count(),
            stale_extra: mirror.keys().filter(|k| !server.contains_key(*k)).count(),
            stale_value: server.iter().filter(|(k, v)| mirror.get(*k).is_some_and(|m| m != *v)).count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Polls until `mirror()` equals `server()` (keys and values), or panics after `timeout` with
/// the diff and one differing key. Returns the final state's size.
pub async fn converge<V, S, SF, M>(timeout: Duration, mut server: S, mut mirror: M) -> (usize, Diff)
where
    V: PartialEq + Debug,
    S: FnMut() -> SF,
    SF: Future<Output = BTreeMap<String, V>>,
    M: FnMut() -> BTreeMap<String, V>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let server_state = server().await;
        let mirror_state = mirror();
        let diff = Diff::of(&server_state, &mirror_state);
        if diff.is_empty() {
            return (server_state.len(), diff);
        }
        if Instant::now() > deadline {
            let example = server_state
                .iter()
                .find(|(k, v)| mirror_state.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}: server {v:?}, mirror {:?}", mirror_state.get(k)))
                .or_else(|| {
                    mirror_state.keys().find(|k| !server_state.contains_key(*k)).map(|k| format!("{k} only in mirror"))
                });
            panic!(
                "mirror did not converge in {timeout:?}: server {} keys, mirror {} keys, {diff:?}; e.g. {}",
                server_state.len(),
                mirror_state.len(),
                example.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Current resident set size of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

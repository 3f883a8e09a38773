//! Rate limiters: how long a key waits before it is retried (client-go `workqueue`'s
//! `TypedRateLimiter` family).

use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::cache::FastMap;

/// Decides how long a key waits before [`WorkQueue::add_rate_limited`](super::WorkQueue::add_rate_limited)
/// queues it again.
///
/// Contract: `when` is called once per retry and may count it; `forget` resets whatever the
/// limiter remembers about the key; `num_requeues` says how many retries it counted since the
/// last `forget`.
pub trait RateLimiter<K>: Send + Sync + 'static {
    /// How long `key` waits before its next attempt (counts the attempt).
    fn when(&self, key: &K) -> Duration;
    /// Stops tracking `key` (it succeeded, or the caller gave up).
    fn forget(&self, key: &K);
    /// Retries counted for `key` since the last `forget`.
    fn num_requeues(&self, key: &K) -> u32;
}

/// Per-key exponential backoff: `base * 2^failures`, capped at `max` (client-go's
/// `ItemExponentialFailureRateLimiter`, default 5 ms to 1000 s).
///
/// ```
/// use std::time::Duration;
/// use informer_stores::{ExponentialBackoff, RateLimiter};
/// let limiter = ExponentialBackoff::new(Duration::from_millis(10), Duration::from_millis(35));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(10));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(20));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(35)); // capped
/// assert_eq!(limiter.num_requeues(&"a"), 3);
/// limiter.forget(&"a");
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(10));
/// ```
#[derive(Debug)]
pub struct ExponentialBackoff<K> {
    base: Duration,
    max: Duration,
    failures: Mutex<FastMap<K, u32>>,
}

impl<K> ExponentialBackoff<K> {
    /// Waits `base`, `2 * base`, `4 * base`, ... up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, failures: Mutex::new(FastMap::default()) }
    }
}

impl<K> Default for ExponentialBackoff<K> {
    fn default() -> Self {
        Self::new(Duration::from_millis(5), Duration::from_secs(1000))
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> RateLimiter<K> for ExponentialBackoff<K> {
    fn when(&self, key: &K) -> Duration {
        let mut failures = self.failures.lock();
        let count = failures.entry(key.clone()).or_insert(0);
        let exp = *count;
        *count = count.saturating_add(1);
        // 2^exp overflows quickly: cap the exponent, then the duration.
        let factor = 1u32.checked_shl(exp.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }

    fn forget(&self, key: &K) {
        self.failures.lock().remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.failures.lock().get(key).copied().unwrap_or(0)
    }
}

/// An overall token bucket: `qps` retries per second with bursts of `burst`, whatever the key
/// (client-go's `BucketRateLimiter`). It counts no retries per key.
///
/// ```
/// use std::time::Duration;
/// use informer_stores::{RateLimiter, TokenBucket};
/// let bucket = TokenBucket::new(10.0, 2);
/// assert_eq!(RateLimiter::<&str>::when(&bucket, &"a"), Duration::ZERO);
/// assert_eq!(RateLimiter::<&str>::when(&bucket, &"b"), Duration::ZERO);
/// assert!(RateLimiter::<&str>::when(&bucket, &"c") > Duration::from_millis(90));
/// ```
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens available at the instant (may be negative: reservations not yet covered).
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A bucket that refills `qps` tokens per second and holds at most `burst`.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self { qps: if qps > 0.0 { qps } else { f64::MIN_POSITIVE }, burst, state: Mutex::new((burst, Instant::now())) }
    }
}

impl<K> RateLimiter<K> for TokenBucket {
    fn when(&self, _key: &K) -> Duration {
        let mut state = self.state.lock();
        let now = Instant::now();
        let refilled = state.0 + now.saturating_duration_since(state.1).as_secs_f64() * self.qps;
        let tokens = refilled.min(self.burst) - 1.0;
        *state = (tokens, now);
        if tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-tokens / self.qps) }
    }

    fn forget(&self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> u32 {
        0
    }
}

/// The longest wait of two limiters (client-go's `MaxOfRateLimiter`), e.g. per-key backoff
/// plus an overall bucket. `num_requeues` is the larger count.
#[derive(Debug, Default)]
pub struct MaxOf<A, B>(pub A, pub B);

impl<K, A: RateLimiter<K>, B: RateLimiter<K>> RateLimiter<K> for MaxOf<A, B> {
    fn when(&self, key: &K) -> Duration {
        self.0.when(key).max(self.1.when(key))
    }

    fn forget(&self, key: &K) {
        self.0.forget(key);
        self.1.forget(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.0.num_requeues(key).max(self.1.num_requeues(key))
    }
}

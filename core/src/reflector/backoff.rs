//! Exponential backoff with full jitter, reset after a healthy period.
//!
//! The n-th consecutive failure waits a uniformly random duration in
//! `[0, min(max, initial * factor^n)]` ("full jitter": clients that failed together do not
//! retry together). If the previous failure is older than `reset_after`, the sequence starts
//! over, so a long-healthy connection that drops once retries quickly (client-go's
//! `NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0)`).
//!
//! Written here rather than taken from `backoff` (unmaintained) or `backon`: neither resets
//! after a healthy period measured from the last failure, the reflector needs a seedable
//! jitter for reproducible tests, and core keeps its dependencies to tokio, futures and serde.

use std::time::{Duration, Instant};

/// Backoff parameters. Defaults follow client-go's reflector: 800 ms, doubling, 30 s cap,
/// reset after 2 minutes without failures.
///
/// ```
/// use std::time::Duration;
/// use informer_core::BackoffConfig;
/// let fast = BackoffConfig::default().with_initial(Duration::from_millis(1));
/// assert_eq!(fast.max, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The upper bound of the first wait.
    pub initial: Duration,
    /// The cap of any wait.
    pub max: Duration,
    /// Growth per consecutive failure.
    pub factor: f64,
    /// A failure this long after the previous one starts the sequence over.
    pub reset_after: Duration,
    /// Give up after this many consecutive failures (`None`: retry forever, client-go's
    /// behaviour). The reflector then returns the last error.
    pub max_retries: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(800),
            max: Duration::from_secs(30),
            factor: 2.0,
            reset_after: Duration::from_secs(120),
            max_retries: None,
        }
    }
}

impl BackoffConfig {
    /// Sets the first wait's bound.
    #[must_use]
    pub fn with_initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// Sets the cap.
    #[must_use]
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets the healthy period after which the sequence restarts.
    #[must_use]
    pub fn with_reset_after(mut self, reset_after: Duration) -> Self {
        self.reset_after = reset_after;
        self
    }

    /// Sets the number of consecutive failures after which the reflector gives up.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: Option<u32>) -> Self {
        self.max_retries = max_retries;
        self
    }
}

/// The state of one backoff sequence.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
    last_failure: Option<Instant>,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A fresh sequence. `seed` makes the jitter reproducible (tests); `None` seeds randomly.
    pub fn new(config: BackoffConfig, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self { config, failures: 0, last_failure: None, rng }
    }

    /// Records a failure at `now` and returns how long to wait, or `None` if the retry limit
    /// is reached.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use informer_core::{Backoff, BackoffConfig};
    /// let mut b = Backoff::new(BackoffConfig::default(), Some(7));
    /// let wait = b.next_delay(Instant::now()).unwrap();
    /// assert!(wait <= Duration::from_millis(800));
    /// ```
    pub fn next_delay(&mut self, now: Instant) -> Option<Duration> {
        if let Some(last) = self.last_failure
            && now.saturating_duration_since(last) >= self.config.reset_after
        {
            self.failures = 0;
        }
        self.last_failure = Some(now);
        if let Some(limit) = self.config.max_retries
            && self.failures >= limit
        {
            return None;
        }
        let exp = self.config.factor.powi(self.failures.min(64) as i32);
        let bound = self.config.initial.as_secs_f64() * exp;
        let bound = bound.min(self.config.max.as_secs_f64());
        self.failures = self.failures.saturating_add(1);
        Some(Duration::from_secs_f64(bound * self.rng.f64()))
    }

    /// Consecutive failures counted so far (reset by a healthy period or [`Self::reset`]).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Starts the sequence over (after a success that proves the source is healthy).
    pub fn reset(&mut self) {
        self.failures = 0;
        self.last_failure = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig::default()
    }

    #[test]
    fn backoff_waits_grow_exponentially_up_to_the_cap_with_full_jitter() {
        let mut b = Backoff::new(config(), Some(1));
        let t = Instant::now();
        let mut max_seen = Duration::ZERO;
        for n in 0..20u32 {
            let wait = b.next_delay(t + Duration::from_millis(n as u64)).unwrap();
            let bound = Duration::from_millis(800).mul_f64(2f64.powi(n as i32)).min(Duration::from_secs(30));
            assert!(wait <= bound, "failure {n}: {wait:?} > {bound:?}");
            max_seen = max_seen.max(wait);
        }
        assert!(max_seen > Duration::from_secs(5), "jitter never used the upper range: {max_seen:?}");
        assert!(max_seen <= Duration::from_secs(30));
    }

    #[test]
    fn backoff_jitter_is_spread_over_the_whole_range() {
        let mut low = 0;
        for seed in 0..200 {
            let mut b = Backoff::new(config(), Some(seed));
            if b.next_delay(Instant::now()).unwrap() < Duration::from_millis(400) {
                low += 1;
            }
        }
        assert!((60..140).contains(&low), "{low} of 200 first waits under half the bound");
    }

    #[test]
    fn backoff_resets_after_a_healthy_period() {
        let mut b = Backoff::new(config(), Some(3));
        let t = Instant::now();
        for i in 0..6 {
            b.next_delay(t + Duration::from_millis(i)).unwrap();
        }
        assert_eq!(b.failures(), 6);
        b.next_delay(t + Duration::from_secs(121)).unwrap();
        assert_eq!(b.failures(), 1, "a failure after 2 healthy minutes starts over");
    }

    #[test]
    fn backoff_gives_up_after_max_retries() {
        let mut b = Backoff::new(config().with_max_retries(Some(2)), Some(3));
        let t = Instant::now();
        assert!(b.next_delay(t).is_some());
        assert!(b.next_delay(t).is_some());
        assert!(b.next_delay(t).is_none());
    }
}

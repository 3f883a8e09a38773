//! Reflector configuration.

use std::time::Duration;

use super::backoff::BackoffConfig;

/// How the reflector gets the initial state of the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InitialList {
    /// A paged list, then a watch from the list's version.
    #[default]
    ListThenWatch,
    /// A streaming list ([`ListerWatcher::watch_list`](crate::ListerWatcher::watch_list)):
    /// one watch that first replays the current state. Falls back to
    /// [`InitialList::ListThenWatch`] when the source answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    Streaming,
}

/// Everything a [`Reflector`](crate::Reflector) can be tuned with.
///
/// ```
/// use std::time::Duration;
/// use informer_core::ReflectorConfig;
/// let config = ReflectorConfig::default()
///     .with_page_size(Some(100))
///     .with_resync_period(Some(Duration::from_secs(60)));
/// assert_eq!(config.page_size, Some(100));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReflectorConfig {
    /// Items per list page; `None` lists everything in one request. Default 500.
    pub page_size: Option<u32>,
    /// Backoff after transient errors.
    pub backoff: BackoffConfig,
    /// Call [`Store::resync`](crate::Store::resync) this often once synced. Default: never.
    pub resync_period: Option<Duration>,
    /// The base server-side timeout of a watch; each watch asks for a random duration in
    /// `[t, 2t)` so clients spread their reconnects (client-go uses 5 minutes). `None` lets the
    /// server decide.
    pub watch_timeout: Option<Duration>,
    /// Ask the source for bookmarks. Default true.
    pub bookmarks: bool,
    /// List-then-watch or streaming list.
    pub initial_list: InitialList,
    /// Make the very first list a consistent read instead of allowing a cached answer.
    pub consistent_first_list: bool,
    /// A watch that ends cleanly with no event within this time counts as a failure and is
    /// retried after backoff, so a server that closes every watch at once is not hammered.
    pub min_watch_duration: Duration,
    /// Seed for the jitter (tests); `None` seeds randomly.
    pub seed: Option<u64>,
    /// The `name` label of the reflector's metrics ([`crate::telemetry`]); `None` uses the
    /// source's [`describe`](crate::ListerWatcher::describe).
    pub name: Option<String>,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            page_size: Some(500),
            backoff: BackoffConfig::default(),
            resync_period: None,
            watch_timeout: Some(Duration::from_secs(300)),
            bookmarks: true,
            initial_list: InitialList::ListThenWatch,
            consistent_first_list: false,
            min_watch_duration: Duration::from_secs(1),
            seed: None,
            name: None,
        }
    }
}

impl ReflectorConfig {
    /// Sets the page size.
    #[must_use]
    pub fn with_page_size(mut self, page_size: Option<u32>) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets the backoff.
    #[must_use]
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the resync period.
    #[must_use]
    pub fn with_resync_period(mut self, period: Option<Duration>) -> Self {
        self.resync_period = period;
        self
    }

    /// Sets the base watch timeout.
    #[must_use]
    pub fn with_watch_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.watch_timeout = timeout;
        self
    }

    /// Turns bookmarks on or off.
    #[must_use]
    pub fn with_bookmarks(mut self, bookmarks: bool) -> Self {
        self.bookmarks = bookmarks;
        self
    }

    /// Chooses list-then-watch or a streaming list.
    #[must_use]
    pub fn with_initial_list(mut self, initial_list: InitialList) -> Self {
        self.initial_list = initial_list;
        self
    }

    /// Makes the first list a consistent read.
    #[must_use]
    pub fn with_consistent_first_list(mut self, consistent: bool) -> Self {
        self.consistent_first_list = consistent;
        self
    }

    /// Sets the minimum healthy watch duration.
    #[must_use]
    pub fn with_min_watch_duration(mut self, duration: Duration) -> Self {
        self.min_watch_duration = duration;
        self
    }

    /// Names the reflector in its metrics (the `name` label); the default is the source's
    /// description.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Seeds the jitter.
    #[must_use]
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.seed = seed;
        self
    }
}

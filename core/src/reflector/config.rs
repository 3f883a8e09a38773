//! Reflector configuration.

use std::time::Duration;

use super::backoff::BackoffConfig;

/// How the reflector gets the initial state of the collection.
///
/// A streaming list that stalls (its end bookmark never comes: a proxy or an aggregated
/// server that drops it, kubernetes #140890) is dropped after
/// [`ReflectorConfig::initial_events_stall`] without any event, or after
/// [`ReflectorConfig::initial_events_deadline`] in all; the reflector then lists in pages,
/// counts the fallback (`stream_fallbacks`) and logs it once at WARN with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InitialList {
    /// A streaming list where the backend supports it, else a paged list then a watch. The
    /// default. Falls back to a paged list for good when the source answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) (not counted as an error)
    /// or a streaming list stalls.
    #[default]
    Auto,
    /// A paged list, then a watch from the list's version.
    ListThenWatch,
    /// A streaming list ([`ListerWatcher::watch_list`](crate::ListerWatcher::watch_list)):
    /// one watch that first replays the current state. Falls back to
    /// [`InitialList::ListThenWatch`] when the source answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) (counted as an error, since
    /// it was asked for) or the stream stalls.
    Streaming,
}

impl InitialList {
    /// True if the first attempt is a streaming list.
    pub fn tries_streaming(self) -> bool {
        matches!(self, Self::Auto | Self::Streaming)
    }
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
    /// Streaming list, list-then-watch, or the streaming list where supported (default).
    pub initial_list: InitialList,
    /// A streaming list during which nothing at all arrives for this long (no object, no
    /// bookmark) is dropped for a paged list. Default 10 s.
    pub initial_events_stall: Duration,
    /// A streaming list whose end bookmark has not come after this long in all is dropped
    /// for a paged list. Default: no bound (a large collection streams for long).
    pub initial_events_deadline: Option<Duration>,
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
            initial_list: InitialList::Auto,
            initial_events_stall: Duration::from_secs(10),
            initial_events_deadline: None,
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

    /// Chooses auto, list-then-watch or a streaming list.
    #[must_use]
    pub fn with_initial_list(mut self, initial_list: InitialList) -> Self {
        self.initial_list = initial_list;
        self
    }

    /// Sets how long a streaming list may receive nothing before the paged-list fallback.
    #[must_use]
    pub fn with_initial_events_stall(mut self, stall: Duration) -> Self {
        self.initial_events_stall = stall;
        self
    }

    /// Bounds the whole streaming list (until its end bookmark); `None`: no bound.
    #[must_use]
    pub fn with_initial_events_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.initial_events_deadline = deadline;
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

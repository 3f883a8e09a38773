//! The watch side: a stream that polls until its deadline, in event-feed or snapshot mode.
//!
//! Both modes share one loop: take a rate-limit token, send a poll that the server (or, for
//! feeds without a hold parameter, the client) ends after the wait, turn the answer into
//! events, repeat. A poll with no change yields nothing; the stream ends cleanly at
//! [`WatchOptions::timeout`]. The first error ends the stream (the reflector decides what
//! next: relist on expired, back off otherwise).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use informer_core::{Bookmark, ObjectKey, SourceError, Version, WatchEvent, WatchOptions, WatchStream};
use tokio::time::Instant;

use crate::client::{self, Fetched, TokenBucket};
use crate::config::WatchMode;
use crate::item::HttpItem;
use crate::source::{Inner, Snapshot};

type Item = Result<WatchEvent<HttpItem>, SourceError>;

/// Where a watch stream stands.
struct Poller {
    inner: Arc<Inner>,
    /// The feed's cursor version, or the snapshot's version.
    version: Version,
    /// Snapshot modes: the state the next answer is diffed against.
    snapshot: Option<Snapshot>,
    /// A snapshot to publish to the source once its last event has been handed out.
    publish: Option<Snapshot>,
    pending: VecDeque<Item>,
    deadline: Option<Instant>,
    bucket: Option<TokenBucket>,
    bookmarks: bool,
    done: bool,
}

pub(crate) fn feed_stream(inner: Arc<Inner>, version: Version, options: &WatchOptions) -> WatchStream<HttpItem> {
    run(Poller::new(inner, version, None, options))
}

pub(crate) fn snapshot_stream(inner: Arc<Inner>, snapshot: Snapshot, options: &WatchOptions) -> WatchStream<HttpItem> {
    run(Poller::new(inner, snapshot.version.clone(), Some(snapshot), options))
}

fn run(poller: Poller) -> WatchStream<HttpItem> {
    Box::pin(stream::unfold(poller, |mut p| async move {
        loop {
            if let Some(item) = p.pending.pop_front() {
                if p.pending.is_empty()
                    && let Some(snapshot) = p.publish.take()
                {
                    p.inner.remember(snapshot);
                }
                return Some((item, p));
            }
            if p.done {
                return None;
            }
            p.poll().await;
        }
    }))
}

impl Poller {
    fn new(inner: Arc<Inner>, version: Version, snapshot: Option<Snapshot>, options: &WatchOptions) -> Self {
        let bucket = inner.config.rate_limit.map(TokenBucket::new);
        Self {
            inner,
            version,
            snapshot,
            publish: None,
            pending: VecDeque::new(),
            deadline: options.timeout.map(|t| Instant::now() + t),
            bucket,
            bookmarks: options.bookmarks,
            done: false,
        }
    }

    /// The wait of the next poll, or `None` if the deadline has passed.
    fn next_wait(&self) -> Option<Duration> {
        let wait = self.inner.config.wait;
        match self.deadline {
            None => Some(wait),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (left >= Duration::from_millis(5)).then(|| wait.min(left))
            }
        }
    }

    /// Sleeps `delay`, or ends the stream if the deadline comes first.
    async fn pause(&mut self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        match self.deadline {
            Some(deadline) if Instant::now() + delay >= deadline => {
                tokio::time::sleep_until(deadline).await;
                self.done = true;
            }
            _ => tokio::time::sleep(delay).await,
        }
    }

    fn fail(&mut self, err: SourceError) {
        self.pending.push_back(Err(err));
        self.done = true;
    }

    /// One poll; its events (or its error) go to `pending`.
    async fn poll(&mut self) {
        if let Some(bucket) = &mut self.bucket {
            let delay = bucket.take();
            self.pause(delay).await;
            if self.done {
                return;
            }
        }
        let Some(wait) = self.next_wait() else {
            self.done = true;
            return;
        };
        let result = match self.inner.config.watch.clone() {
            WatchMode::EventFeed(feed) => self.poll_feed(&feed, wait).await,
            WatchMode::BlockingSnapshot { index_param, wait: wait_param } => {
                self.poll_blocking(&index_param, wait_param.as_ref(), wait).await
            }
            WatchMode::ETagSnapshot { wait: wait_param, poll_interval } => {
                self.poll_etag(wait_param.as_ref(), poll_interval, wait).await
            }
        };
        if let Err(err) = result {
            self.fail(err);
        }
    }

    async fn poll_feed(&mut self, feed: &crate::config::EventFeed, wait: Duration) -> Result<(), SourceError> {
        let inner = Arc::clone(&self.inner);
        let cursor = (feed.cursor)(&self.version).map_err(|why| {
            SourceError::expired(format!(
                "{}: version {} is not a cursor of this feed: {why}",
                inner.name, self.version
            ))
        })?;
        let mut query = feed.query.clone();
        query.push((feed.cursor_param.clone(), cursor));
        let (timeout, client_held) = match &feed.wait {
            Some(param) => {
                query.push(param.render(wait));
                (inner.held_timeout(wait), false)
            }
            None => (wait, true),
        };
        let answer = match client::get(&inner.client, &inner.config, false, &query, None, timeout, client_held).await? {
            Fetched::Answer(a) => a,
            Fetched::Empty(_) | Fetched::NotModified | Fetched::TimedOut => return Ok(()),
        };
        let batch = (feed.decode)(&answer)?;
        let last_event_version = batch.events.last().map(|e| e.version().clone());
        self.pending.extend(batch.events.into_iter().map(Ok));
        if self.bookmarks && last_event_version.as_ref() != Some(&batch.cursor) && batch.cursor != self.version {
            self.pending.push_back(Ok(bookmark(batch.cursor.clone())));
        }
        self.version = batch.cursor;
        Ok(())
    }

    async fn poll_blocking(
        &mut self,
        index_param: &str,
        wait_param: Option<&crate::config::WaitParam>,
        wait: Duration,
    ) -> Result<(), SourceError> {
        let inner = Arc::clone(&self.inner);
        let index: u64 = self.version.parse().map_err(|_| {
            SourceError::expired(format!("{}: version {:?} is not a blocking-query index", inner.name, self.version))
        })?;
        // Consul: an index below 1 would make every query return at once.
        let mut query = vec![(index_param.to_string(), index.max(1).to_string())];
        query.extend(wait_param.map(|p| p.render(wait)));
        let timeout = inner.held_timeout(wait);
        let (answer, empty) =
            match client::get(&inner.client, &inner.config, true, &query, None, timeout, false).await? {
                Fetched::Answer(a) => (a, false),
                Fetched::Empty(a) => (a, true),
                Fetched::NotModified | Fetched::TimedOut => return Ok(()),
            };
        let raw = inner.config.index.read(&answer)?;
        let new_index: u64 = raw.parse().map_err(|_| {
            SourceError::malformed(format!("{}: the index {raw:?} is not an unsigned number", answer.request))
        })?;
        if new_index < index {
            return Err(SourceError::expired(format!(
                "{}: index went backwards from {index} to {new_index} (the server's state was reset)",
                answer.request
            )));
        }
        if new_index == index {
            return Ok(()); // the wait ended without a change
        }
        let items = if empty { Vec::new() } else { inner.config.items.decode(&answer)? };
        self.apply_snapshot(raw, items);
        Ok(())
    }

    async fn poll_etag(
        &mut self,
        wait_param: Option<&crate::config::WaitParam>,
        poll_interval: Duration,
        wait: Duration,
    ) -> Result<(), SourceError> {
        let inner = Arc::clone(&self.inner);
        let query: Vec<_> = wait_param.map(|p| p.render(wait)).into_iter().collect();
        let timeout = inner.held_timeout(if query.is_empty() { Duration::ZERO } else { wait });
        let etag = self.version.clone();
        let fetched = client::get(&inner.client, &inner.config, true, &query, Some(&etag), timeout, false).await?;
        let (answer, empty) = match fetched {
            Fetched::Answer(a) => (a, false),
            Fetched::Empty(a) => (a, true),
            Fetched::NotModified | Fetched::TimedOut => {
                self.pause(poll_interval).await;
                return Ok(());
            }
        };
        let new_etag = inner.config.index.read(&answer)?;
        if new_etag == etag {
            self.pause(poll_interval).await;
            return Ok(());
        }
        let items = if empty { Vec::new() } else { inner.config.items.decode(&answer)? };
        self.apply_snapshot(new_etag, items);
        Ok(())
    }

    /// Diffs a new snapshot against the current one and queues the events.
    fn apply_snapshot(&mut self, version: Version, items: Vec<HttpItem>) {
        let new: BTreeMap<ObjectKey, HttpItem> = items.into_iter().map(|i| (i.key.clone(), i)).collect();
        let old = self.snapshot.as_ref().map(|s| Arc::clone(&s.items)).unwrap_or_default();
        let events = diff(&old, &new, &version);
        if events.is_empty() && self.bookmarks {
            self.pending.push_back(Ok(bookmark(version.clone())));
        }
        let no_events = events.is_empty();
        self.pending.extend(events.into_iter().map(Ok));
        let snapshot = Snapshot { version: version.clone(), items: Arc::new(new) };
        if no_events && self.pending.is_empty() {
            self.inner.remember(snapshot.clone());
        } else {
            self.publish = Some(snapshot.clone());
        }
        self.snapshot = Some(snapshot);
        self.version = version;
    }
}

fn bookmark(version: Version) -> WatchEvent<HttpItem> {
    WatchEvent::Bookmark(Bookmark { version, initial_events_end: false })
}

/// The events that turn `old` into `new`, all at `version`: deletions, then additions and
/// modifications, each in key order.
pub(crate) fn diff(
    old: &BTreeMap<ObjectKey, HttpItem>,
    new: &BTreeMap<ObjectKey, HttpItem>,
    version: &Version,
) -> Vec<WatchEvent<HttpItem>> {
    let mut events = Vec::new();
    for (key, item) in old {
        if !new.contains_key(key) {
            events.push(WatchEvent::Deleted { object: item.clone(), version: version.clone() });
        }
    }
    for (key, item) in new {
        match old.get(key) {
            None => events.push(WatchEvent::Added { object: item.clone(), version: version.clone() }),
            Some(before) if !before.same_state(item) => {
                events.push(WatchEvent::Modified { object: item.clone(), version: version.clone() });
            }
            Some(_) => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, &str)]) -> BTreeMap<ObjectKey, HttpItem> {
        items
            .iter()
            .map(|(k, v)| (ObjectKey::from(*k), HttpItem::new(*k, Some(Version::from(*v)), serde_json::json!(v))))
            .collect()
    }

    #[test]
    fn diff_reports_added_modified_and_deleted_at_the_new_version() {
        let old = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = map(&[("b", "2"), ("c", "9"), ("d", "9")]);
        let v = Version::from("9");
        let got: Vec<(String, String)> =
            diff(&old, &new, &v).iter().map(|e| (e.type_name().to_string(), key_of(e))).collect();
        let want = [("DELETED", "a"), ("MODIFIED", "c"), ("ADDED", "d")];
        assert_eq!(got, want.map(|(t, k)| (t.to_string(), k.to_string())));
        assert!(diff(&old, &new, &v).iter().all(|e| e.version() == "9"));
        assert!(diff(&new, &new, &v).is_empty());
    }

    fn key_of(e: &WatchEvent<HttpItem>) -> String {
        match e {
            WatchEvent::Added { object, .. }
            | WatchEvent::Modified { object, .. }
            | WatchEvent::Deleted { object, .. } => object.key.to_string(),
            WatchEvent::Bookmark(_) => String::new(),
        }
    }
}

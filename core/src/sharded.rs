//! [`Sharded`]: client-side hash sharding of any [`ListerWatcher`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::Stream;

use crate::key::{KeyError, KeyFn, Version};
use crate::order::VersionOrder;
use crate::shard::ShardSelector;
use crate::source::{
    Bookmark, ListOptions, ListPage, ListerWatcher, SourceError, WatchEvent, WatchOptions, WatchStream,
};

type HashClosure<T> = dyn Fn(&T) -> Result<u64, KeyError> + Send + Sync;

/// The shard test and its counters, shared by the source and its watch streams.
struct Filter<T> {
    selector: ShardSelector,
    hash: Box<HashClosure<T>>,
    read: AtomicU64,
    kept: AtomicU64,
}

impl<T> Filter<T> {
    fn keeps(&self, object: &T) -> bool {
        self.read.fetch_add(1, Ordering::Relaxed);
        let keep = match (self.hash)(object) {
            Ok(hash) => self.selector.contains(hash),
            Err(err) => {
                tracing::debug!(shard = %self.selector, error = %err, "no shard hash: the object is kept");
                true
            }
        };
        if keep {
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
        keep
    }
}

/// How many objects a [`Sharded`] source read (list items and watch events carrying an
/// object) and how many of them were in its shard.
///
/// ```
/// let counts = informer_core::ShardCounts { read: 100, kept: 25 };
/// assert_eq!(counts.dropped(), 75);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardCounts {
    /// Objects the backend delivered.
    pub read: u64,
    /// Objects in the shard, passed on.
    pub kept: u64,
}

impl ShardCounts {
    /// Objects read and dropped.
    pub fn dropped(&self) -> u64 {
        self.read - self.kept
    }
}

/// A [`ListerWatcher`] that keeps only the objects of one shard of another's collection:
/// client-side hash sharding.
///
/// A backend with no server-side sharding (etcd, HTTP, the memory source) still lets several
/// processes split a collection: each wraps its source in a `Sharded` with its own
/// [`ShardSelector`] and keeps only the objects whose hash falls in it. The shards of one
/// [`ShardRange::split`](crate::shard::ShardRange::split) together keep every object exactly
/// once.
///
/// # The cost: every shard still reads everything
///
/// The filter runs in this process, after the backend has fetched and decoded each object.
/// With `n` shards the server serves the whole collection `n` times (every list, every watch
/// event), the network carries it `n` times, and each process decodes all of it to keep
/// `1/n`. What sharding saves is the memory of the stores and the work of the handlers behind
/// them, not reading. [`Sharded::counts`] says how many objects were read and kept;
/// `BENCHMARKS.md` has figures. Where the server can filter (Kubernetes with
/// `ShardedListAndWatch`), use its selector instead (`informer-kube`'s
/// `KubeSource::with_shard_selector`).
///
/// # What holds
///
/// * The hash input must never change for an object's life. [`Sharded::by_key`] hashes the
///   key, which by definition never changes, so an object never moves between shards and a
///   `Modified` never has to turn into a `Deleted` in one shard and an `Added` in another.
/// * `Deleted` events are kept by the same test, on the object they carry; the hash of a key
///   needs nothing but the key, so a tombstone (a deleted object with only its key) passes.
/// * Objects whose hash input cannot be computed (a [`KeyError`]) are kept by every shard, not
///   dropped: with the store's own key function the store then refuses them and the reflector
///   reports it, rather than the object vanishing unseen.
/// * List pages keep their version and continue token, even when no item of the page is in
///   the shard; bookmarks and errors pass unchanged.
/// * Versions are not lost with the events: a run of dropped events is replaced by one
///   [`Bookmark`] at the last dropped version, once that version is complete (the next event
///   has another version, or the stream has nothing more ready). The reflector's version then
///   moves with the collection's, so `wait_for_version` works and a re-watch does not start
///   from far behind. No bookmark is made before a streaming list's initial-events-end.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use informer_core::shard::{ShardRange, ShardSelector};
/// use informer_core::{KeyFn, ListOptions, ListerWatcher, Sharded};
/// use informer_memory::MemorySource;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let source = MemorySource::<u32>::new();
/// for i in 0..100 {
///     source.put(format!("k{i}"), i);
/// }
/// let halves = ShardRange::FULL.split(2).unwrap();
/// let mut total = 0;
/// for half in halves {
///     let shard = Sharded::by_key(source.clone(), ShardSelector::from(half), KeyFn::keyed());
///     total += shard.list(&ListOptions::default()).await.unwrap().items.len();
///     assert_eq!(shard.counts().read, 100);
/// }
/// assert_eq!(total, 100);
/// # }
/// ```
pub struct Sharded<L: ListerWatcher> {
    inner: L,
    filter: Arc<Filter<L::Object>>,
}

impl<L: ListerWatcher> Sharded<L> {
    /// Keeps the objects whose key, by `key_fn`, hashes ([`key_hash`](crate::shard::key_hash))
    /// into `selector`. Use the store's own key function.
    pub fn by_key(inner: L, selector: ShardSelector, key_fn: KeyFn<L::Object>) -> Self {
        Self::by_hash(inner, selector, move |object| {
            key_fn.key(object).map(|key| crate::shard::key_hash(key.as_bytes()))
        })
    }

    /// Keeps the objects whose `hash` falls into `selector`. The hash input must never change
    /// for an object's life, and must be computable from what a `Deleted` event carries.
    /// [`fnv1a64`](crate::shard::fnv1a64) of a Kubernetes object's `metadata.uid` keeps what
    /// the API server's `shardSelector` on `object.metadata.uid` keeps.
    ///
    /// ```
    /// use informer_core::shard::{ShardSelector, fnv1a64};
    /// use informer_core::Sharded;
    /// use informer_memory::{MemoryObject, MemorySource};
    /// // Shard by the value's first word, say a tenant that never changes.
    /// let shard = Sharded::by_hash(MemorySource::<String>::new(), ShardSelector::full(), |o: &MemoryObject<String>| {
    ///     Ok(fnv1a64(o.value().split(' ').next().unwrap_or("").as_bytes()))
    /// });
    /// assert_eq!(shard.selector(), &ShardSelector::full());
    /// ```
    pub fn by_hash(
        inner: L,
        selector: ShardSelector,
        hash: impl Fn(&L::Object) -> Result<u64, KeyError> + Send + Sync + 'static,
    ) -> Self {
        let filter = Filter { selector, hash: Box::new(hash), read: AtomicU64::new(0), kept: AtomicU64::new(0) };
        Self { inner, filter: Arc::new(filter) }
    }

    /// The shard this source keeps.
    pub fn selector(&self) -> &ShardSelector {
        &self.filter.selector
    }

    /// The wrapped source.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Objects read and kept so far, over every list and watch.
    pub fn counts(&self) -> ShardCounts {
        ShardCounts { read: self.filter.read.load(Ordering::Relaxed), kept: self.filter.kept.load(Ordering::Relaxed) }
    }

    fn filtered(&self, stream: WatchStream<L::Object>, streaming_list: bool) -> WatchStream<L::Object> {
        Box::pin(ShardStream {
            inner: stream,
            filter: Arc::clone(&self.filter),
            pending: None,
            held: None,
            bookmarks: !streaming_list,
            done: false,
        })
    }
}

impl<L: ListerWatcher> std::fmt::Debug for Sharded<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("source", &self.inner.describe())
            .field("selector", &self.filter.selector)
            .finish_non_exhaustive()
    }
}

impl<L: ListerWatcher> ListerWatcher for Sharded<L> {
    type Object = L::Object;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<L::Object>, SourceError> {
        let mut page = self.inner.list(options).await?;
        page.items.retain(|object| self.filter.keeps(object));
        Ok(page)
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<L::Object>, SourceError> {
        Ok(self.filtered(self.inner.watch(version, options).await?, false))
    }

    async fn watch_list(
        &self,
        min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> Result<WatchStream<L::Object>, SourceError> {
        Ok(self.filtered(self.inner.watch_list(min_version, options).await?, true))
    }

    fn version_order(&self) -> Option<VersionOrder> {
        self.inner.version_order()
    }

    /// The inner source's description and the shard: `memory shard 0x…-0x…`.
    fn describe(&self) -> String {
        format!("{} shard {}", self.inner.describe(), self.filter.selector)
    }
}

type Item<T> = Result<WatchEvent<T>, SourceError>;

/// A watch stream keeping one shard's events; see the module docs for the bookmarks it makes.
struct ShardStream<T> {
    inner: WatchStream<T>,
    filter: Arc<Filter<T>>,
    /// The version of the last dropped event not yet followed by an event or bookmark.
    pending: Option<Version>,
    /// An event held back while the bookmark for the version before it goes out.
    held: Option<Item<T>>,
    /// Whether dropped versions become bookmarks (not before a streaming list's end).
    bookmarks: bool,
    done: bool,
}

// Nothing of a `ShardStream` is pinned but `inner`, which is boxed.
impl<T> Unpin for ShardStream<T> {}

fn bookmark<T>(version: Version) -> Item<T> {
    Ok(WatchEvent::Bookmark(Bookmark { version, initial_events_end: false }))
}

impl<T> Stream for ShardStream<T> {
    type Item = Item<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item<T>>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.held.take() {
                return Poll::Ready(Some(item));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let event = match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return this.pending.take().map_or(Poll::Pending, |v| Poll::Ready(Some(bookmark(v)))),
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(this.pending.take().map(bookmark));
                }
                Poll::Ready(Some(Err(err))) => {
                    this.pending = None;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(Some(Ok(event))) => event,
            };
            let object = match &event {
                WatchEvent::Added { object, .. }
                | WatchEvent::Modified { object, .. }
                | WatchEvent::Deleted { object, .. } => object,
                WatchEvent::Bookmark(b) => {
                    this.bookmarks |= b.initial_events_end;
                    this.pending = None;
                    return Poll::Ready(Some(Ok(event)));
                }
            };
            if !this.filter.keeps(object) {
                if this.bookmarks {
                    this.pending = Some(event.version().clone());
                }
                continue;
            }
            return Poll::Ready(Some(match this.pending.take() {
                Some(dropped) if dropped != *event.version() => {
                    this.held = Some(Ok(event));
                    bookmark(dropped)
                }
                _ => Ok(event),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn added(key: &str, version: &str) -> Item<String> {
        Ok(WatchEvent::Added { object: key.to_string(), version: Version::from(version) })
    }

    /// A shard keeping keys that start with `k` (by a hash chosen for the test).
    fn stream(events: Vec<Item<String>>, streaming_list: bool) -> ShardStream<String> {
        let filter = Filter {
            selector: ShardSelector::from(crate::shard::ShardRange::new(1, 2).unwrap()),
            hash: Box::new(
                |s: &String| if s.is_empty() { Err(KeyError::new("empty")) } else { Ok(u64::from(s.starts_with('k'))) },
            ),
            read: AtomicU64::new(0),
            kept: AtomicU64::new(0),
        };
        ShardStream {
            inner: Box::pin(futures::stream::iter(events)),
            filter: Arc::new(filter),
            pending: None,
            held: None,
            bookmarks: !streaming_list,
            done: false,
        }
    }

    fn shown(items: Vec<Item<String>>) -> Vec<String> {
        items
            .into_iter()
            .map(|item| match item {
                Ok(WatchEvent::Bookmark(b)) => {
                    format!("bookmark@{}{}", b.version, if b.initial_events_end { "!" } else { "" })
                }
                Ok(e) => format!("{}@{}", e.type_name(), e.version()),
                Err(e) => format!("error {}", e.message()),
            })
            .collect()
    }

    #[tokio::test]
    async fn dropped_versions_become_one_bookmark_once_complete() {
        let events = vec![
            added("k1", "1"),
            added("x1", "2"),
            added("x2", "2"),
            added("k2", "2"),
            added("x3", "3"),
            added("x4", "4"),
            added("k3", "5"),
            added("x5", "6"),
        ];
        let out = shown(stream(events, false).collect().await);
        assert_eq!(out, ["ADDED@1", "ADDED@2", "bookmark@4", "ADDED@5", "bookmark@6"]);
    }

    #[tokio::test]
    async fn errors_bookmarks_and_unhashable_deletes_pass() {
        let events = vec![
            added("x1", "1"),
            Ok(WatchEvent::Deleted { object: String::new(), version: Version::from("2") }),
            Ok(WatchEvent::Bookmark(Bookmark { version: Version::from("3"), initial_events_end: false })),
            added("x2", "4"),
            Err(SourceError::transient("cut")),
        ];
        let out = shown(stream(events, false).collect().await);
        assert_eq!(out, ["bookmark@1", "DELETED@2", "bookmark@3", "error cut"]);
    }

    #[tokio::test]
    async fn no_bookmark_is_made_before_a_streaming_lists_end() {
        let end = Ok(WatchEvent::Bookmark(Bookmark { version: Version::from("5"), initial_events_end: true }));
        let events = vec![added("x1", "1"), added("k1", "2"), added("x2", "3"), end, added("x3", "6")];
        let mut s = stream(events, true);
        let out = shown((&mut s).collect().await);
        assert_eq!(out, ["ADDED@2", "bookmark@5!", "bookmark@6"]);
        assert_eq!((s.filter.read.load(Ordering::Relaxed), s.filter.kept.load(Ordering::Relaxed)), (4, 1));
    }
}

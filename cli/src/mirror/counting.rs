//! [`CountingSource`]: a pass-through [`ListerWatcher`] that counts listed pages and objects,
//! so the progress display can show how far the initial list is, and remembers the version of
//! the watch event being handed to the reflector.
//!
//! The reflector applies each event to the store before it polls the stream again, so while
//! the store handles an event, [`ListProgress::event_version`] is that event's version: the
//! collection's version right after the change, which `--events` lines show (an object's own
//! version is not the same thing for deletions).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use parking_lot::Mutex;

use informer_core::{ListOptions, ListPage, ListerWatcher, SourceError, Version, WatchOptions, WatchStream};

/// Pages and objects received by list requests so far.
#[derive(Debug, Default)]
pub struct ListProgress {
    pages: AtomicU64,
    objects: AtomicU64,
    event_version: Mutex<Option<Version>>,
}

impl ListProgress {
    /// List pages received.
    pub fn pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// Objects received in list pages.
    pub fn objects(&self) -> u64 {
        self.objects.load(Ordering::Relaxed)
    }

    /// The version of the last watch event handed to the reflector.
    pub fn event_version(&self) -> Option<Version> {
        self.event_version.lock().clone()
    }

    fn track<T: Send + 'static>(self: &Arc<Self>, stream: WatchStream<T>) -> WatchStream<T> {
        let me = Arc::clone(self);
        stream
            .inspect(move |item| {
                if let Ok(event) = item {
                    *me.event_version.lock() = Some(event.version().clone());
                }
            })
            .boxed()
    }
}

/// Wraps a source and counts what its lists return; everything else passes through.
#[derive(Debug)]
pub struct CountingSource<L> {
    inner: L,
    progress: Arc<ListProgress>,
}

impl<L> CountingSource<L> {
    /// Wraps `inner`, counting into `progress`.
    pub fn new(inner: L, progress: Arc<ListProgress>) -> Self {
        Self { inner, progress }
    }
}

impl<L: ListerWatcher> ListerWatcher for CountingSource<L> {
    type Object = L::Object;

    async fn list(&self, options: &ListOptions) -> Result<ListPage<L::Object>, SourceError> {
        let page = self.inner.list(options).await?;
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        self.progress.objects.fetch_add(page.items.len() as u64, Ordering::Relaxed);
        Ok(page)
    }

    async fn watch(&self, version: &Version, options: &WatchOptions) -> Result<WatchStream<L::Object>, SourceError> {
        Ok(self.progress.track(self.inner.watch(version, options).await?))
    }

    async fn watch_list(
        &self,
        min_version: Option<&Version>,
        options: &WatchOptions,
    ) -> Result<WatchStream<L::Object>, SourceError> {
        Ok(self.progress.track(self.inner.watch_list(min_version, options).await?))
    }

    fn version_order(&self) -> Option<informer_core::VersionOrder> {
        self.inner.version_order()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer_memory::MemorySource;

    #[tokio::test]
    async fn counts_pages_and_objects_of_lists() {
        let memory = MemorySource::<u32>::new();
        for i in 0..5 {
            memory.put(format!("k{i}"), i);
        }
        let progress = Arc::new(ListProgress::default());
        let source = CountingSource::new(memory, Arc::clone(&progress));
        let first = source.list(&ListOptions::first_page(Some(3))).await.unwrap();
        source.list(&ListOptions::first_page(Some(3)).with_continue(first.continue_token)).await.unwrap();
        assert_eq!((progress.pages(), progress.objects()), (2, 5));
    }
}

//! Warm restarts: a reflector that starts from a state and its version instead of a list.
//!
//! A program that kept its mirror (a snapshot file, or a store that persists itself, like the
//! etcd sink) restarts with [`Reflector::resume_from`] or [`Reflector::resume_with`]: the first
//! step is a watch from the saved version, so nothing is listed again. Only if the source says
//! that version has expired does the reflector list, and `replace` then removes whatever
//! vanished meanwhile.
//!
//! A resumed reflector counts as synced at once (its store holds a complete state of the
//! collection, possibly behind the source until the watch has caught up);
//! [`ReflectorHandle::last_synced_version`](super::ReflectorHandle::last_synced_version) says
//! how far it is. A list after a resume counts as a relist.

use std::sync::Arc;

use tracing::info;

use super::{Phase, Reflector, Runner};
use crate::key::Version;
use crate::source::ListerWatcher;
use crate::store::{Store, StoreError};

impl<L, S> Reflector<L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    /// Starts from the state the store already holds, which describes the collection at
    /// `version`: `run` watches from `version` instead of listing first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use informer_core::{KeyFn, Reflector, ReflectorConfig, Store, Version};
    /// use informer_memory::MemorySource;
    /// use informer_stores::Cache;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = MemorySource::<String>::new();
    /// source.put("a", "one".to_string());
    /// let saved = Version::from(source.revision().to_string());
    /// source.put("b", "two".to_string());
    ///
    /// // The store already holds the state at `saved` (e.g. loaded from a snapshot).
    /// let store = Arc::new(Cache::new(KeyFn::keyed()));
    /// store.add(Arc::new(source.get("a").unwrap())).unwrap();
    /// let reflector = Reflector::new(source, store.clone(), ReflectorConfig::default()).resume_from(saved);
    /// let handle = reflector.handle();
    /// let cancel = CancellationToken::new();
    /// let task = tokio::spawn(reflector.run(cancel.clone()));
    /// while store.len() < 2 { tokio::task::yield_now().await; }
    /// assert_eq!(handle.metrics().lists, 0, "caught up by watching, not listing");
    /// cancel.cancel();
    /// task.await.unwrap().unwrap();
    /// # }
    /// ```
    pub fn resume_from(mut self, version: Version) -> Self {
        self.resume = Some(version);
        self
    }

    /// Puts `items`, the collection at `version`, into the store (one `replace`), then
    /// [`resume_from`](Self::resume_from) `version`. Fails if the store refused part of the
    /// items; the store then holds the others.
    pub fn resume_with(self, items: Vec<Arc<L::Object>>, version: Version) -> Result<Self, StoreError> {
        self.store.replace(items, version.clone())?;
        Ok(self.resume_from(version))
    }
}

impl<L, S> Runner<'_, L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    /// The start of a resumed run: the version to watch from, and synced.
    pub(super) fn start_resumed(&mut self, version: Version) {
        info!(source = self.name(), %version, "resuming from a saved state; watching without a list");
        self.need_list = false;
        // The store holds a complete state: later lists are relists, resyncs may run.
        self.lists_done = 1;
        self.set_version(version);
        self.r.shared.sync.stored();
        self.r.shared.state.send_if_modified(|p| {
            let changed = *p != Phase::Synced;
            *p = Phase::Synced;
            changed
        });
    }
}

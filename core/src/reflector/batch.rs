//! Watch events → [`Store::apply_batch`]: one batch per version.
//!
//! Events of one version (an etcd transaction) carry the same version and arrive together.
//! After each event the reflector takes every further event the stream has *ready* (without
//! waiting), and closes the batch when the version changes, at a bookmark, when nothing more
//! is ready (the end of one server response), or when the stream ends or fails. A backend that
//! cannot deliver all of a version's changes delivers none of them (it fails first), so a
//! closed batch is always a whole version.
//!
//! Before each batch the reflector waits for [`Store::poll_ready`], so a full store stops the
//! reading of the watch (back-pressure) instead of growing without bound.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::metrics::Metrics;
use super::{Runner, WatchEnd};
use crate::key::Version;
use crate::reason::SyncFailureKind;
use crate::source::{ListerWatcher, SourceError, WatchEvent, WatchStream};
use crate::store::{Change, Store};

/// The events of one version gathered so far.
struct Batch<T> {
    version: Option<Version>,
    changes: Vec<Change<T>>,
}

impl<T> Batch<T> {
    /// True if `version` belongs to another batch than the one being gathered.
    fn ends_before(&self, version: &Version) -> bool {
        self.version.as_ref().is_some_and(|v| v != version)
    }
}

/// The change an object event carries; `None` for a bookmark.
fn change_of<T>(event: WatchEvent<T>) -> Result<(Version, Change<T>), Version> {
    match event {
        WatchEvent::Added { object, version } => Ok((version, Change::Added(Arc::new(object)))),
        WatchEvent::Modified { object, version } => Ok((version, Change::Modified(Arc::new(object)))),
        WatchEvent::Deleted { object, version } => Ok((version, Change::Deleted(Arc::new(object)))),
        WatchEvent::Bookmark(b) => Err(b.version),
    }
}

impl<L, S> Runner<'_, L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    /// Applies `first` and every event the stream has ready after it, one batch per version.
    /// `events` counts every event taken from the stream. `Err` ends the watch.
    pub(super) async fn apply_ready(
        &mut self,
        first: WatchEvent<L::Object>,
        stream: &mut WatchStream<L::Object>,
        events: &mut u64,
        cancel: &CancellationToken,
    ) -> Result<(), WatchEnd> {
        let mut batch = Batch { version: None, changes: Vec::new() };
        let mut next = first;
        loop {
            match change_of(next) {
                Ok((version, change)) => {
                    if batch.ends_before(&version) {
                        self.flush(&mut batch, cancel).await?;
                    }
                    batch.version = Some(version);
                    batch.changes.push(change);
                }
                Err(version) => {
                    self.flush(&mut batch, cancel).await?;
                    Metrics::inc(&self.metrics().bookmarks);
                    self.apply_batch(version, Vec::new(), cancel).await?;
                }
            }
            next = match stream.next().now_or_never() {
                // Nothing more ready: the server's response ended, and with it the version.
                None => return self.flush(&mut batch, cancel).await,
                Some(None) => {
                    self.flush(&mut batch, cancel).await?;
                    return Err(WatchEnd::Closed { events: *events });
                }
                Some(Some(Err(err))) => {
                    self.flush(&mut batch, cancel).await?;
                    return Err(WatchEnd::Failed(err));
                }
                Some(Some(Ok(event))) => {
                    if let Err(end) = self.check_version(&event) {
                        self.flush(&mut batch, cancel).await?;
                        return Err(end);
                    }
                    *events += 1;
                    event
                }
            };
        }
    }

    /// A watch event must carry a version: it is where the next watch resumes.
    pub(super) fn check_version(&self, event: &WatchEvent<L::Object>) -> Result<(), WatchEnd> {
        if !event.version().is_empty() {
            return Ok(());
        }
        Err(WatchEnd::Failed(SourceError::malformed(format!(
            "{}: {} event without a version after version {}",
            self.name(),
            event.type_name(),
            self.version.as_deref().unwrap_or("")
        ))))
    }

    async fn flush(&mut self, batch: &mut Batch<L::Object>, cancel: &CancellationToken) -> Result<(), WatchEnd> {
        let Some(version) = batch.version.take() else { return Ok(()) };
        let changes = std::mem::take(&mut batch.changes);
        self.apply_batch(version, changes, cancel).await
    }

    /// Waits until the store is ready, applies one version's changes, moves to `version`.
    async fn apply_batch(
        &mut self,
        version: Version,
        changes: Vec<Change<L::Object>>,
        cancel: &CancellationToken,
    ) -> Result<(), WatchEnd> {
        let store = &self.r.store;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(WatchEnd::Cancelled),
            _ = std::future::poll_fn(|cx| store.poll_ready(cx)) => {}
        }
        for change in &changes {
            Metrics::inc(match change {
                Change::Added(_) => &self.metrics().added,
                Change::Modified(_) => &self.metrics().modified,
                Change::Deleted(_) => &self.metrics().deleted,
            });
        }
        if !changes.is_empty() {
            self.metrics().events_applied();
        }
        let count = changes.len();
        if let Err(err) = store.apply_batch(&version, changes) {
            Metrics::inc(&self.metrics().store_errors);
            self.r.shared.sync.fail(
                SyncFailureKind::StoreRefused,
                format!("{}: the store refused a change at version {version}: {err}", self.name()),
            );
            // Repaired by a relist once the events ready now are applied (see the Store contract).
            self.repair = true;
            warn!(source = self.name(), %version, changes = count, error = %err, "store rejected part of a version's changes; relisting to repair");
        }
        self.set_version(version);
        Ok(())
    }
}

//! Watch streams over the history of a [`MemorySource`](crate::MemorySource).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use informer_core::{Bookmark, SourceError, Version, WatchEvent, WatchOptions, WatchStream};

use crate::faults::WatchKill;
use crate::object::MemoryObject;
use crate::source::Inner;

/// At most this many history entries are copied out per lock.
const BATCH: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One entry of the history.
pub(crate) struct Change<T> {
    pub(crate) revision: u64,
    pub(crate) kind: ChangeKind,
    /// The new state; for a delete, the last state before it.
    pub(crate) object: MemoryObject<T>,
}

struct Cursor<T> {
    inner: Arc<Inner<T>>,
    /// Every change up to this revision was delivered.
    delivered: u64,
    pending: VecDeque<Result<WatchEvent<MemoryObject<T>>, SourceError>>,
    revision_rx: tokio::sync::watch::Receiver<u64>,
    kill_rx: tokio::sync::watch::Receiver<(u64, WatchKill)>,
    bookmark_every: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
    done: bool,
}

/// Opens a watch that delivers every change after revision `from`. With `initial`, it first
/// replays the collection at `from` as `Added` events and an initial-events-end bookmark.
pub(crate) fn open<T: Send + Sync + 'static>(
    inner: Arc<Inner<T>>,
    from: u64,
    options: &WatchOptions,
    initial: bool,
) -> Result<WatchStream<MemoryObject<T>>, SourceError> {
    let mut pending = VecDeque::new();
    let mut from = from;
    {
        let state = inner.state.lock();
        if initial {
            from = state.revision;
            pending.extend(
                state
                    .objects
                    .values()
                    .map(|o| Ok(WatchEvent::Added { object: o.clone(), version: Version::new(from.to_string()) })),
            );
            pending.push_back(Ok(WatchEvent::Bookmark(Bookmark {
                version: Version::new(from.to_string()),
                initial_events_end: true,
            })));
        } else if from < state.compacted {
            return Err(expired(&inner, from, state.compacted));
        }
    }
    let cursor = Cursor {
        revision_rx: inner.revision_tx.subscribe(),
        kill_rx: inner.kill_tx.subscribe(),
        bookmark_every: if options.bookmarks { inner.config.bookmark_interval } else { None },
        deadline: options.timeout.map(|t| tokio::time::Instant::now() + t),
        inner,
        delivered: from,
        pending,
        done: false,
    };
    Ok(Box::pin(stream::unfold(cursor, |mut cursor| async move {
        let item = cursor.next().await?;
        Some((item, cursor))
    })))
}

fn expired<T>(inner: &Inner<T>, from: u64, compacted: u64) -> SourceError {
    SourceError::expired(format!(
        "{}: cannot watch from revision {from}: history is compacted up to revision {compacted}",
        inner.config.name
    ))
}

impl<T: Send + Sync + 'static> Cursor<T> {
    async fn next(&mut self) -> Option<Result<WatchEvent<MemoryObject<T>>, SourceError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if self.kill_rx.has_changed().unwrap_or(true) {
                let (_, how) = *self.kill_rx.borrow_and_update();
                self.done = true;
                let name = &self.inner.config.name;
                return match how {
                    WatchKill::Close => None,
                    WatchKill::Break => {
                        Some(Err(SourceError::transient(format!("{name}: watch connection broken (injected)"))))
                    }
                    WatchKill::Expire => Some(Err(SourceError::expired(format!(
                        "{name}: watch from revision {} expired: history was compacted (injected)",
                        self.delivered
                    )))),
                };
            }
            if self.fill() {
                continue;
            }
            let bookmark = async {
                match self.bookmark_every {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending().await,
                }
            };
            let deadline = async {
                match self.deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.revision_rx.changed() => {}
                _ = self.kill_rx.changed() => {
                    // Seen again at the top of the loop.
                    self.kill_rx.mark_changed();
                }
                _ = bookmark => {
                    self.pending.push_back(Ok(WatchEvent::Bookmark(Bookmark {
                        version: Version::new(self.delivered.to_string()),
                        initial_events_end: false,
                    })));
                }
                _ = deadline => self.done = true,
            }
        }
    }

    /// Copies the next changes out of the history. Returns false if there were none.
    fn fill(&mut self) -> bool {
        let state = self.inner.state.lock();
        if self.delivered < state.compacted {
            self.pending.push_back(Err(expired(&self.inner, self.delivered, state.compacted)));
            self.done = true;
            return true;
        }
        // History holds revisions compacted+1 ..= revision contiguously.
        let start = (self.delivered - state.compacted) as usize;
        let before = self.pending.len();
        for change in state.history.iter().skip(start).take(BATCH) {
            let version = Version::new(change.revision.to_string());
            let object = change.object.clone();
            self.pending.push_back(Ok(match change.kind {
                ChangeKind::Added => WatchEvent::Added { object, version },
                ChangeKind::Modified => WatchEvent::Modified { object, version },
                ChangeKind::Deleted => WatchEvent::Deleted { object, version },
            }));
            self.delivered = change.revision;
        }
        self.pending.len() > before
    }
}

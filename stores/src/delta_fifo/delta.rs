//! The items a [`DeltaFifo`](super::DeltaFifo) hands out: deltas, deletions, popped entries.

use std::sync::Arc;

use informer_core::{ObjectKey, Version};

/// How an object left the collection.
///
/// client-go passes either the object or a `DeletedFinalStateUnknown` wrapper through an
/// `interface{}`; here the two cases are an enum, so a handler cannot forget the second one.
#[derive(Debug)]
pub enum Deletion<T> {
    /// The source reported the deletion, with the object's final state.
    Known(Arc<T>),
    /// The deletion was only noticed by a relist (the watch missed it): the final state is
    /// unknown; `last_known` is the newest state the client had seen, if any.
    FinalStateUnknown {
        /// The key of the vanished object.
        key: ObjectKey,
        /// The newest state the client knew (from the known-objects store or the queue).
        last_known: Option<Arc<T>>,
    },
}

impl<T> Deletion<T> {
    /// The object's final or last known state, if there is one.
    pub fn object(&self) -> Option<&Arc<T>> {
        match self {
            Deletion::Known(object) => Some(object),
            Deletion::FinalStateUnknown { last_known, .. } => last_known.as_ref(),
        }
    }

    /// True when the deletion was only detected by a relist.
    pub fn is_final_state_unknown(&self) -> bool {
        matches!(self, Deletion::FinalStateUnknown { .. })
    }
}

impl<T> Clone for Deletion<T> {
    fn clone(&self) -> Self {
        match self {
            Deletion::Known(object) => Deletion::Known(Arc::clone(object)),
            Deletion::FinalStateUnknown { key, last_known } => {
                Deletion::FinalStateUnknown { key: key.clone(), last_known: last_known.clone() }
            }
        }
    }
}

/// One change of one object, as queued by a [`DeltaFifo`](super::DeltaFifo).
#[derive(Debug)]
pub enum Delta<T> {
    /// The object was added (a watch `Added` event, or [`Store::add`](informer_core::Store::add)).
    Added(Arc<T>),
    /// The object changed.
    Updated(Arc<T>),
    /// The object was deleted.
    Deleted(Deletion<T>),
    /// The object was part of a relist (`replace`) and the queue emits `Replaced` deltas.
    Replaced(Arc<T>),
    /// The object was re-delivered by a resync, or was part of a relist and the queue emits
    /// `Sync` deltas (client-go's default before `EmitDeltaTypeReplaced`).
    Sync(Arc<T>),
}

/// The kind of a [`Delta`], without its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeltaKind {
    /// [`Delta::Added`].
    Added,
    /// [`Delta::Updated`].
    Updated,
    /// [`Delta::Deleted`].
    Deleted,
    /// [`Delta::Replaced`].
    Replaced,
    /// [`Delta::Sync`].
    Sync,
}

impl<T> Delta<T> {
    /// The kind of this delta.
    pub fn kind(&self) -> DeltaKind {
        match self {
            Delta::Added(_) => DeltaKind::Added,
            Delta::Updated(_) => DeltaKind::Updated,
            Delta::Deleted(_) => DeltaKind::Deleted,
            Delta::Replaced(_) => DeltaKind::Replaced,
            Delta::Sync(_) => DeltaKind::Sync,
        }
    }

    /// The object the delta carries (for a deletion: the final or last known state).
    pub fn object(&self) -> Option<&Arc<T>> {
        match self {
            Delta::Added(o) | Delta::Updated(o) | Delta::Replaced(o) | Delta::Sync(o) => Some(o),
            Delta::Deleted(deletion) => deletion.object(),
        }
    }

    /// True for [`Delta::Deleted`].
    pub fn is_deletion(&self) -> bool {
        matches!(self, Delta::Deleted(_))
    }
}

impl<T> Clone for Delta<T> {
    fn clone(&self) -> Self {
        match self {
            Delta::Added(o) => Delta::Added(Arc::clone(o)),
            Delta::Updated(o) => Delta::Updated(Arc::clone(o)),
            Delta::Deleted(d) => Delta::Deleted(d.clone()),
            Delta::Replaced(o) => Delta::Replaced(Arc::clone(o)),
            Delta::Sync(o) => Delta::Sync(Arc::clone(o)),
        }
    }
}

/// Every queued delta of one key, oldest first, as handed to a pop handler.
#[derive(Debug, Clone)]
pub struct Deltas<T> {
    /// The key all deltas belong to.
    pub key: ObjectKey,
    /// The deltas, oldest first; never empty.
    pub deltas: Vec<Delta<T>>,
    /// True when the key was queued by the first `replace` (the initial list): the queue
    /// counts as synced once every such entry has been handled.
    pub initial: bool,
}

impl<T> Deltas<T> {
    /// The oldest delta.
    pub fn oldest(&self) -> Option<&Delta<T>> {
        self.deltas.first()
    }

    /// The newest delta.
    pub fn newest(&self) -> Option<&Delta<T>> {
        self.deltas.last()
    }
}

/// A whole relist as one event (client-go RealFIFO's `ReplacedAll`), queued by `replace`
/// when [`DeltaFifoOptions::atomic_replace`](super::DeltaFifoOptions::atomic_replace) is on.
///
/// The consumer makes its own state equal to `items`: keys it holds that are absent from
/// `items` were deleted, with their final state unknown.
#[derive(Debug, Clone)]
pub struct ReplacedAll<T> {
    /// The complete collection.
    pub items: Vec<Arc<T>>,
    /// The collection version the items describe.
    pub version: Version,
    /// True for the first replace (the initial list).
    pub initial: bool,
}

/// What one pop hands to its handler.
#[derive(Debug, Clone)]
pub enum Popped<T> {
    /// The accumulated deltas of one key.
    Deltas(Deltas<T>),
    /// A whole relist, in atomic-replace mode.
    ReplacedAll(ReplacedAll<T>),
}

impl<T> Popped<T> {
    /// True when this entry belongs to the initial list.
    pub fn is_initial(&self) -> bool {
        match self {
            Popped::Deltas(d) => d.initial,
            Popped::ReplacedAll(r) => r.initial,
        }
    }

    /// The deltas, if this is a per-key entry.
    pub fn into_deltas(self) -> Option<Deltas<T>> {
        match self {
            Popped::Deltas(d) => Some(d),
            Popped::ReplacedAll(_) => None,
        }
    }
}

//! What subscribers of an [`Informer`](super::Informer) receive.

use std::sync::Arc;

use crate::Deletion;

/// One change seen by an informer's subscribers, after the local store was updated.
#[derive(Debug)]
pub enum Event<T> {
    /// An object appeared. `initial` is true for objects of the initial list and for the
    /// current-state snapshot a late subscriber receives first.
    Added {
        /// The new object.
        object: Arc<T>,
        /// Part of the initial list or of the late-join snapshot.
        initial: bool,
    },
    /// An object changed, or was re-delivered by a resync (`resync`, then `old` and `new` are
    /// usually the same object) or by a relist.
    Updated {
        /// The state held before.
        old: Arc<T>,
        /// The state held now.
        new: Arc<T>,
        /// True when the update comes from a periodic resync, not from the source.
        resync: bool,
    },
    /// An object was deleted (its final state may be unknown when a relist found it gone).
    Deleted(Deletion<T>),
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        match self {
            Event::Added { object, initial } => Event::Added { object: Arc::clone(object), initial: *initial },
            Event::Updated { old, new, resync } => {
                Event::Updated { old: Arc::clone(old), new: Arc::clone(new), resync: *resync }
            }
            Event::Deleted(d) => Event::Deleted(d.clone()),
        }
    }
}

/// Callbacks for an informer's events (client-go's `ResourceEventHandler`). Every method has
/// an empty default; implement the ones you need and run the handler with
/// [`InformerHandle::handler_task`](super::InformerHandle::handler_task).
pub trait EventHandler<T>: Send + 'static {
    /// An object was added; `initial` is true for the initial list / late-join snapshot.
    fn on_add(&mut self, object: &Arc<T>, initial: bool) {
        let _ = (object, initial);
    }
    /// An object changed (or was resynced: then `old` and `new` are usually equal).
    fn on_update(&mut self, old: &Arc<T>, new: &Arc<T>) {
        let _ = (old, new);
    }
    /// An object was deleted.
    fn on_delete(&mut self, deletion: &Deletion<T>) {
        let _ = deletion;
    }
}

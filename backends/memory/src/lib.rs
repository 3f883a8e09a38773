//! # informer-memory
//!
//! An in-process, thread-safe, versioned collection that implements
//! [`ListerWatcher`](informer_core::ListerWatcher): the embedded default source of `informer`
//! and the test double of the reflector core.
//!
//! It behaves like a small etcd:
//!
//! * every change (put or delete) gets the next revision, starting at 1;
//! * lists are paged and consistent: all pages of one list show the collection at the
//!   revision of the first page (a snapshot held for the list's continue token);
//! * watches deliver every change after a revision, in order, from a bounded history; a watch
//!   from a revision the history no longer holds answers *expired*, as does a continue token
//!   whose snapshot was evicted;
//! * optional periodic bookmarks, and streaming lists (`watch_list`);
//! * fault hooks for tests ([`MemorySource::faults`]): drop or break every open watch, expire
//!   the history, fail the next N calls.
//!
//! ```
//! use informer_memory::MemorySource;
//! let source = MemorySource::<String>::new();
//! let rev = source.put("greeting", "hello".to_string());
//! assert_eq!(rev, 1);
//! assert_eq!(source.delete("greeting"), Some(2));
//! assert!(source.is_empty());
//! ```

pub mod demo;
mod faults;
mod object;
mod source;
mod watch;

pub use faults::Faults;
pub use object::MemoryObject;
pub use source::{MemoryConfig, MemorySource};

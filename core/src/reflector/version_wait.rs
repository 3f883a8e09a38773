//! Read-your-writes: [`ReflectorHandle::wait_for_version`].
//!
//! A program that wrote through the same server gets the write's version back (an etcd
//! revision, a Kubernetes resourceVersion) and can wait until the mirror applied that version
//! or a later one before it reads the mirror. "Later" is the backend's declared
//! [`VersionOrder`]; on a backend without one the wait fails at once with
//! [`VersionWaitError::NoOrder`]. Every applied version counts: a list's, each event's, and a
//! bookmark's (deletes and bookmarks advance the mirror's version too).

use std::cmp::Ordering;

use super::ReflectorHandle;
use super::sync_state::SyncState;
use crate::key::Version;

/// Why [`ReflectorHandle::wait_for_version`] could not wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionWaitError {
    /// The backend declares no order of its versions, so "applied `version` or later" has no
    /// meaning.
    #[error("{source_name}: versions of this source have no order; cannot wait for version {version}")]
    NoOrder {
        /// The source's description.
        source_name: String,
        /// The version asked for.
        version: Version,
    },
    /// The version is not of the backend's form (e.g. not a number where versions are
    /// counters).
    #[error("{source_name}: version {version} cannot be compared in the source's {order} order")]
    Incomparable {
        /// The source's description.
        source_name: String,
        /// The version that could not be compared.
        version: Version,
        /// The order's name.
        order: &'static str,
    },
    /// The reflector stopped before it applied the version.
    #[error("{source_name}: the reflector stopped at version {reached:?} before version {version}")]
    Stopped {
        /// The source's description.
        source_name: String,
        /// The version asked for.
        version: Version,
        /// The last version applied, if any.
        reached: Option<Version>,
    },
}

impl ReflectorHandle {
    /// Waits until the store applied `version` or a later one (by the backend's
    /// [`VersionOrder`](crate::VersionOrder)) and returns the version applied then. Combine it
    /// with `tokio::time::timeout` for a bound.
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
    /// let store = Arc::new(Cache::new(KeyFn::keyed()));
    /// let reflector = Reflector::new(source.clone(), store.clone(), ReflectorConfig::default());
    /// let handle = reflector.handle();
    /// let cancel = CancellationToken::new();
    /// let task = tokio::spawn(reflector.run(cancel.clone()));
    /// let written = source.put("a", "hello".to_string()); // the write's revision
    /// handle.wait_for_version(&Version::from(written.to_string())).await.unwrap();
    /// assert!(store.get_by_key("a").is_some(), "read your write");
    /// cancel.cancel();
    /// task.await.unwrap().unwrap();
    /// # }
    /// ```
    pub async fn wait_for_version(&self, version: &Version) -> Result<Version, VersionWaitError> {
        let source_name = || self.source_name().to_string();
        let Some(order) = self.shared.order else {
            return Err(VersionWaitError::NoOrder { source_name: source_name(), version: version.clone() });
        };
        let incomparable = |v: &Version| VersionWaitError::Incomparable {
            source_name: source_name(),
            version: v.clone(),
            order: order.name(),
        };
        if order.compare(version, version).is_none() {
            return Err(incomparable(version));
        }
        let mut applied = self.shared.applied.subscribe();
        let mut states = self.subscribe_sync_state();
        loop {
            let current = applied.borrow_and_update().clone();
            if let Some(current) = &current {
                match order.compare(current, version) {
                    Some(Ordering::Greater | Ordering::Equal) => return Ok(current.clone()),
                    Some(Ordering::Less) => {}
                    None => return Err(incomparable(current)),
                }
            }
            if *states.borrow_and_update() == SyncState::Stopped {
                return Err(VersionWaitError::Stopped {
                    source_name: source_name(),
                    version: version.clone(),
                    reached: current,
                });
            }
            tokio::select! {
                _ = applied.changed() => {}
                _ = states.changed() => {}
            }
        }
    }
}

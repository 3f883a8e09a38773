//! A reflector running into a [`MapStore`], as the backends' tests start one.
//!
//! ```
//! use informer_core::{KeyFn, ReflectorConfig};
//! use informer_memory::MemorySource;
//! use informer_tests::reflect;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = MemorySource::<String>::new();
//! source.put("a", "one".to_string());
//! let running = reflect::start(source, KeyFn::keyed(), ReflectorConfig::default()).synced().await;
//! assert_eq!(running.store.len(), 1);
//! running.stop().await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer_core::{
    CancellationToken, KeyFn, ListerWatcher, Reflector, ReflectorConfig, ReflectorError, ReflectorHandle,
};
use tokio::task::JoinHandle;

use crate::MapStore;

/// A reflector task, its store and the handles to watch and stop it.
pub struct Running<T> {
    /// The store the reflector writes.
    pub store: Arc<MapStore<T>>,
    /// Readiness and metrics.
    pub handle: ReflectorHandle,
    /// Stops the reflector.
    pub cancel: CancellationToken,
    /// The reflector's task.
    pub task: JoinHandle<Result<(), ReflectorError>>,
}

impl<T: Send + Sync + 'static> Running<T> {
    /// Cancels the reflector and asserts that it stops within 5 s, returning `Ok`.
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("reflector stops promptly after cancel")
            .expect("reflector task does not panic")
            .expect("reflector returns Ok on cancel");
    }

    /// Waits (up to 15 s) until the reflector has synced; panics otherwise.
    pub async fn synced(self) -> Self {
        let synced = tokio::time::timeout(Duration::from_secs(15), self.handle.wait_synced()).await;
        assert_eq!(synced, Ok(true), "reflector syncs");
        self
    }
}

/// Spawns a reflector over `source` into a new [`MapStore`] keyed by `key_fn`.
pub fn start<L: ListerWatcher>(source: L, key_fn: KeyFn<L::Object>, config: ReflectorConfig) -> Running<L::Object> {
    let store = Arc::new(MapStore::new(key_fn));
    let reflector = Reflector::new(source, Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    Running { store, handle, cancel, task }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let start = std::time::Instant::now();
/// let held = informer_tests::reflect::eventually(std::time::Duration::from_secs(1), || async move {
///     start.elapsed() > std::time::Duration::from_millis(100)
/// })
/// .await;
/// assert!(held);
/// # }
/// ```
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

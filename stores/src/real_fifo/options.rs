//! Options of a [`RealFifo`](super::RealFifo).

use crate::Capacity;

/// Options of a [`RealFifo`](super::RealFifo).
///
/// Not [`DeltaFifoOptions`](crate::DeltaFifoOptions): two of its four fields would mean
/// nothing here (a `RealFifo` always queues a relist as one
/// [`ReplacedAll`](crate::ReplacedAll), so there is neither a per-object relist delta to
/// choose nor an atomic mode to switch on), and ignored options mislead.
///
/// ```
/// use informer_stores::{Capacity, RealFifoOptions};
///
/// let options = RealFifoOptions::default().with_name("pods").with_capacity(Capacity::Soft(10_000));
/// assert_eq!(options.name, "pods");
/// assert_eq!(options.capacity, Capacity::Soft(10_000));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RealFifoOptions {
    /// The name used in errors, logs and metrics. Default `RealFifo`.
    pub name: String,
    /// The capacity policy, counted in queued entries (one per change, one per relist).
    /// Default unbounded.
    pub capacity: Capacity,
}

impl Default for RealFifoOptions {
    fn default() -> Self {
        Self { name: "RealFifo".to_string(), capacity: Capacity::Unbounded }
    }
}

impl RealFifoOptions {
    /// Sets [`name`](Self::name).
    ///
    /// ```
    /// let options = informer_stores::RealFifoOptions::default().with_name("nodes");
    /// assert_eq!(options.name, "nodes");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`capacity`](Self::capacity).
    ///
    /// ```
    /// use informer_stores::{Capacity, RealFifoOptions};
    /// let options = RealFifoOptions::default().with_capacity(Capacity::Reject(100));
    /// assert_eq!(options.capacity, Capacity::Reject(100));
    /// ```
    pub fn with_capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = capacity;
        self
    }
}

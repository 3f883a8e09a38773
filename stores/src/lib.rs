//! # informer-stores
//!
//! Stores a [`Reflector`](informer_core::Reflector) can feed, all implementing
//! [`Store`](informer_core::Store):
//!
//! * [`Cache`]: a plain thread-safe map of `Arc<T>` by key;
//! * [`Indexer`]: a cache with named secondary indexes (by node, by label, ...);
//! * [`Fifo`], [`DeltaFifo`] and [`RealFifo`]: queues a controller pops work from;
//! * [`Undelta`]: pushes the complete state on every change;
//! * store stacks: [`Tee`], [`Transform`], [`Filter`], composed by type;
//! * [`Informer`]: reflector → delta FIFO → indexer → event handlers;
//! * [`Informers`]: a registry of shared informers, one per source and selector, started,
//!   waited for and stopped together;
//! * [`WorkQueue`]: a rate-limited, de-duplicating work queue for controllers and schedulers;
//! * the names of the metrics stores and queues record once named: [`telemetry`].

pub mod cache;
pub mod delta_fifo;
pub mod fifo;
pub mod indexer;
pub mod informer;
pub mod real_fifo;
pub mod registry;
pub mod stack;
pub mod telemetry;
pub mod undelta;
pub mod workqueue;

pub use cache::*;
pub use delta_fifo::*;
pub use fifo::*;
pub use indexer::*;
pub use informer::*;
pub use real_fifo::*;
pub use registry::*;
pub use stack::*;
pub use undelta::*;
pub use workqueue::*;

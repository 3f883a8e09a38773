//! Test harnesses shared by informer's integration tests and the backends' tests: a real etcd
//! started on loopback, a real Kubernetes control plane (etcd 3.7 + kube-apiserver 1.37, built
//! from Go modules), a local Kubernetes API server, a Consul-style blocking-query server,
//! and a fault-injecting TCP proxy. Used only by tests and benchmarks.

pub mod control_plane;
pub mod etcd;
pub mod guarantees;
pub mod map_store;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod reflect;
pub mod stats;
pub mod tls;

pub use map_store::MapStore;
pub mod consul;
pub mod kube_api;

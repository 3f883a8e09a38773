//! The pods the store benches share: 100k pod-like objects over 10 namespaces and 100 nodes, and
//! an indexer over them with two indexes (namespace and node).

use std::sync::Arc;

use informer_core::{KeyError, KeyFn, Keyed, ObjectKey, Store, Version};
use informer_stores::{IndexFn, Indexer, Indexers};

pub const N: usize = 100_000;
pub const NODES: usize = 100;
pub const NAMESPACES: usize = 10;

/// A pod-like object whose key is computed once, as a decoded object's would be.
pub struct Pod {
    pub key: ObjectKey,
    pub namespace: String,
    pub node: String,
    #[allow(dead_code)]
    pub generation: u64,
}

impl Keyed for Pod {
    fn key(&self) -> Result<ObjectKey, KeyError> {
        Ok(self.key.clone())
    }
}

/// The `i`-th pod, on node `(i + shift) % NODES`.
pub fn pod(i: usize, shift: usize, generation: u64) -> Arc<Pod> {
    let namespace = format!("ns-{}", i % NAMESPACES);
    Arc::new(Pod {
        key: ObjectKey::new(format!("{namespace}/pod-{i}")),
        namespace,
        node: format!("node-{}", (i + shift) % NODES),
        generation,
    })
}

/// All `N` pods, shifted by `shift` nodes.
pub fn pods(shift: usize, generation: u64) -> Vec<Arc<Pod>> {
    (0..N).map(|i| pod(i, shift, generation)).collect()
}

/// An indexer on namespace and node, named for metrics when `name` is given, holding `pods(0, 0)`.
pub fn indexer(name: Option<&str>) -> Indexer<Pod> {
    let indexer = Indexer::with_indexers(
        KeyFn::keyed(),
        Indexers::new()
            .with("namespace", IndexFn::single(|p: &Pod| p.namespace.as_str()))
            .with("node", IndexFn::single(|p: &Pod| p.node.as_str())),
    );
    let indexer = match name {
        Some(name) => indexer.with_name(name),
        None => indexer,
    };
    indexer.replace(pods(0, 0), Version::from("1")).expect("keyed pods");
    indexer
}

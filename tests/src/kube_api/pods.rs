//! Realistic pods for tests and benchmarks, generated from `shared/data/pod.json` (a pod in
//! the shape a real cluster serves: two containers, probes, volumes, status, and the
//! `managedFields` of kube-controller-manager and kubelet; 7.3 KB compact, 4.9 KB without
//! `managedFields`).
//!
//! The template is compiled in (`pod_template.json` is a byte-for-byte copy, checked against
//! `../shared/data/pod.json` by a test when that file is present), so users of this crate do
//! not depend on the working directory. Each copy varies name, uid, namespace, labels, node,
//! IPs, image versions and timestamps; the generator is seeded and reproducible.
//!
//! ```
//! use informer_tests::kube_api::PodGenerator;
//! let mut pods = PodGenerator::new(7);
//! let pod = pods.pod(0);
//! assert_eq!(pod["kind"], "Pod");
//! assert!(pod["metadata"]["managedFields"].is_array());
//! assert_eq!(PodGenerator::new(7).pod(0), pod);
//! ```

use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("pod_template.json");

const APPS: [&str; 12] = [
    "checkout", "cart", "catalog", "search", "payments", "shipping", "users", "reviews", "gateway", "auth", "mailer",
    "ledger",
];
const TEAMS: [&str; 4] = ["payments", "storefront", "platform", "growth"];
const TIERS: [&str; 3] = ["frontend", "backend", "data"];

/// The template pod, parsed.
pub fn template() -> Value {
    // The template is a fixed file in this crate; a parse failure is a build defect that
    // the crate's own tests catch.
    serde_json::from_str(TEMPLATE).unwrap_or(Value::Null)
}

/// Removes `metadata.managedFields` (what informer's strip transform does).
pub fn strip_managed_fields(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// A seeded generator of realistic pods.
#[derive(Debug, Clone)]
pub struct PodGenerator {
    template: Value,
    seed: u64,
    namespaces: usize,
    nodes: usize,
}

impl PodGenerator {
    /// A generator with 8 namespaces (`ns-0` ... `ns-7`) and 100 nodes.
    pub fn new(seed: u64) -> Self {
        Self { template: template(), seed, namespaces: 8, nodes: 100 }
    }

    /// Spreads pods over `n` namespaces (at least 1).
    #[must_use]
    pub fn with_namespaces(mut self, n: usize) -> Self {
        self.namespaces = n.max(1);
        self
    }

    /// Spreads pods over `n` nodes (at least 1).
    #[must_use]
    pub fn with_nodes(mut self, n: usize) -> Self {
        self.nodes = n.max(1);
        self
    }

    /// The namespace pod `index` lives in.
    pub fn namespace_of(&self, index: usize) -> String {
        format!("ns-{}", index % self.namespaces)
    }

    /// Pod number `index`: the same index and seed always give the same pod. No
    /// `resourceVersion` (the server sets it).
    pub fn pod(&self, index: usize) -> Value {
        let mut rng = fastrand::Rng::with_seed(self.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let app = APPS[rng.usize(..APPS.len())];
        let hash = format!("{:010x}", rng.u64(..) & 0xff_ffff_ffff);
        let hash = &hash[..10];
        let suffix: String = (0..5).map(|_| rng.alphanumeric().to_ascii_lowercase()).collect();
        let name = format!("{app}-{hash}-{suffix}-{index}");
        let version = format!("{}.{}.{}", rng.u8(1..5), rng.u8(0..20), rng.u8(0..10));
        let node = format!("node-{}", rng.usize(..self.nodes));
        let uid = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            rng.u32(..),
            rng.u16(..),
            rng.u16(..0x1000),
            rng.u16(..),
            rng.u64(..) & 0xffff_ffff_ffff
        );
        let created = format!(
            "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u8(..24),
            rng.u8(..60),
            rng.u8(..60)
        );
        let pod_ip = format!("10.{}.{}.{}", 200 + rng.u8(..50), rng.u8(..), rng.u8(1..255));
        let host_ip = format!("10.0.{}.{}", rng.u8(..), rng.u8(1..255));

        let mut pod = self.template.clone();
        let meta = &mut pod["metadata"];
        meta["name"] = json!(name);
        meta["generateName"] = json!(format!("{app}-{hash}-"));
        meta["namespace"] = json!(self.namespace_of(index));
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(created);
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
        }
        let labels = &mut meta["labels"];
        labels["app.kubernetes.io/name"] = json!(app);
        labels["app.kubernetes.io/instance"] = json!(format!("{app}-prod"));
        labels["app.kubernetes.io/version"] = json!(version);
        labels["pod-template-hash"] = json!(hash);
        labels["team"] = json!(TEAMS[rng.usize(..TEAMS.len())]);
        labels["tier"] = json!(TIERS[rng.usize(..TIERS.len())]);
        if let Some(owner) = meta["ownerReferences"].get_mut(0) {
            owner["name"] = json!(format!("{app}-{hash}"));
        }
        if let Some(fields) = meta["managedFields"].as_array_mut() {
            for entry in fields {
                entry["time"] = json!(created);
            }
        }
        pod["spec"]["nodeName"] = json!(node);
        if let Some(container) = pod["spec"]["containers"].get_mut(0) {
            container["name"] = json!(app);
            container["image"] = json!(format!("registry.example.com/shop/{app}:{version}"));
        }
        let status = &mut pod["status"];
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
        status["hostIP"] = json!(host_ip);
        status["hostIPs"] = json!([{"ip": host_ip}]);
        status["startTime"] = json!(created);
        if let Some(conditions) = status["conditions"].as_array_mut() {
            for c in conditions {
                c["lastTransitionTime"] = json!(created);
            }
        }
        if let Some(cs) = status["containerStatuses"].get_mut(0) {
            cs["name"] = json!(app);
            cs["image"] = json!(format!("registry.example.com/shop/{app}:{version}"));
        }
        pod
    }

    /// A realistic change to a pod: a restart bumps `restartCount` and the
    /// `kubectl.kubernetes.io/restartedAt` annotation; `step` makes each change distinct.
    pub fn touch(pod: &mut Value, step: u64) {
        if let Some(cs) = pod["status"]["containerStatuses"].get_mut(0) {
            cs["restartCount"] = json!(step);
        }
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
            json!(format!("2026-11-{:02}T{:02}:{:02}:{:02}Z", 1 + step % 28, step % 24, step % 60, (step / 60) % 60));
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pods_vary_and_are_reproducible() {
        let pods = PodGenerator::new(1);
        let (a, b) = (pods.pod(0), pods.pod(1));
        assert_ne!(a["metadata"]["name"], b["metadata"]["name"]);
        assert_ne!(a["metadata"]["uid"], b["metadata"]["uid"]);
        assert_eq!(a, PodGenerator::new(1).pod(0));
        assert_ne!(a, PodGenerator::new(2).pod(0));
        assert!(a["metadata"]["resourceVersion"].is_null());
        let size = serde_json::to_vec(&a).unwrap().len();
        assert!((6_000..9_000).contains(&size), "compact pod is {size} bytes");
    }

    #[test]
    fn embedded_template_matches_the_shared_data_file() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pod.json");
        if let Ok(text) = std::fs::read_to_string(&shared) {
            assert_eq!(text, TEMPLATE, "{} changed; copy it to pod_template.json", shared.display());
        }
        assert_eq!(template()["kind"], "Pod");
    }

    #[test]
    fn strip_removes_managed_fields_only() {
        let mut pod = PodGenerator::new(3).pod(5);
        strip_managed_fields(&mut pod);
        assert!(pod["metadata"].get("managedFields").is_none());
        assert!(pod["metadata"]["labels"].is_object());
    }
}

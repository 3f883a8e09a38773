//! The resource kinds the server knows and how request paths map onto them.

use std::sync::Arc;

/// One resource kind served by the [`KubeApiServer`](super::KubeApiServer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group; empty for the core group (`/api/v1`).
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Plural resource name used in paths, e.g. `pods`.
    pub plural: String,
    /// Namespaced (`/namespaces/{ns}/{plural}`) or cluster-scoped.
    pub namespaced: bool,
    /// Extra fields usable in field selectors besides `metadata.name` / `metadata.namespace`
    /// (pods: `spec.nodeName`, `status.phase`).
    pub selectable_fields: Vec<String>,
}

impl ResourceDef {
    /// Core `v1` pods.
    pub fn pods() -> Self {
        Self {
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
            namespaced: true,
            selectable_fields: vec!["spec.nodeName".into(), "status.phase".into()],
        }
    }

    /// Core `v1` configmaps.
    pub fn configmaps() -> Self {
        Self {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
            selectable_fields: Vec::new(),
        }
    }

    /// The custom resource `widgets.example.informer.dev/v1`, kind `Widget`, cluster-scoped
    /// (so that tests cover keys without a namespace).
    pub fn widgets() -> Self {
        Self {
            group: "example.informer.dev".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            namespaced: false,
            selectable_fields: Vec::new(),
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The path of the collection: `/api/v1/namespaces/ns/pods`, `/apis/g/v/widgets`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    /// The prefix of this resource's keys in the server's store: `pods/`, `widgets.g/`.
    pub(crate) fn store_prefix(&self) -> String {
        if self.group.is_empty() { format!("{}/", self.plural) } else { format!("{}.{}/", self.plural, self.group) }
    }

    /// The store key of one object.
    pub(crate) fn store_key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.store_prefix()),
            _ => format!("{}{name}", self.store_prefix()),
        }
    }

    pub(crate) fn is_selectable(&self, field: &str) -> bool {
        field == "metadata.name"
            || (field == "metadata.namespace" && self.namespaced)
            || self.selectable_fields.iter().any(|f| f == field)
    }
}

/// What a request path names.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) resource: Arc<ResourceDef>,
    /// The namespace of a namespaced path; `None` for cluster-wide requests.
    pub(crate) namespace: Option<String>,
    /// The object name for single-object paths.
    pub(crate) name: Option<String>,
}

impl Target {
    /// The store prefix covering every object the request may see.
    pub(crate) fn scan_prefix(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}{ns}/", self.resource.store_prefix()),
            None => self.resource.store_prefix(),
        }
    }
}

/// Maps a request path onto a resource, or `None` for paths this server does not serve.
/// The answer to a path [`parse_path`] found nothing for: as the real apiserver, a plain-text
/// `404 page not found` when no served resource has that group/version (nothing is registered
/// there), a `NotFound` `Status` for an unknown resource in a served group/version.
pub(crate) fn unknown_path_response(path: &str, resources: &[Arc<ResourceDef>]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let group_version = match segments.as_slice() {
        ["api", version, ..] => Some(("", *version)),
        ["apis", group, version, ..] => Some((*group, *version)),
        _ => None,
    };
    let served = group_version.is_some_and(|(g, v)| resources.iter().any(|r| r.group == g && r.version == v));
    if served {
        super::status::ApiError::unknown_path().into_response()
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response()
    }
}

pub(crate) fn parse_path(path: &str, resources: &[Arc<ResourceDef>]) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return None,
    };
    let resource = resources.iter().find(|r| r.group == group && r.version == version && r.plural == plural)?;
    if namespace.is_some() && !resource.namespaced {
        return None;
    }
    if name.is_some() && resource.namespaced && namespace.is_none() {
        return None;
    }
    Some(Target {
        resource: Arc::clone(resource),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<Arc<ResourceDef>> {
        vec![Arc::new(ResourceDef::pods()), Arc::new(ResourceDef::widgets())]
    }

    #[test]
    fn parses_namespaced_cluster_wide_and_group_paths() {
        let t = parse_path("/api/v1/namespaces/shop/pods", &table()).unwrap();
        assert_eq!((t.resource.kind.as_str(), t.namespace.as_deref()), ("Pod", Some("shop")));
        assert_eq!(t.scan_prefix(), "pods/shop/");
        let t = parse_path("/api/v1/pods", &table()).unwrap();
        assert_eq!(t.scan_prefix(), "pods/");
        let t = parse_path("/apis/example.informer.dev/v1/widgets/w1", &table()).unwrap();
        assert_eq!((t.resource.kind.as_str(), t.name.as_deref()), ("Widget", Some("w1")));
        assert!(parse_path("/api/v1/services", &table()).is_none());
        assert!(parse_path("/apis/example.informer.dev/v1/namespaces/a/widgets", &table()).is_none());
    }

    #[test]
    fn collection_paths_round_trip() {
        let pods = ResourceDef::pods();
        assert_eq!(pods.collection_path(Some("a")), "/api/v1/namespaces/a/pods");
        assert_eq!(ResourceDef::widgets().collection_path(None), "/apis/example.informer.dev/v1/widgets");
        assert_eq!(pods.store_key(Some("a"), "b"), "pods/a/b");
    }
}

//! A kubeconfig that points at the local server, and the discovery documents
//! (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::status::json_response;

/// A kubeconfig with one cluster, user and context (`informer-test`), namespace `default`.
pub(crate) fn yaml(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: informer-test
  cluster:
    server: {url}
users:
- name: informer-test
  user: {{}}
contexts:
- name: informer-test
  context:
    cluster: informer-test
    user: informer-test
    namespace: default
current-context: informer-test
"
    )
}

fn resource_list(group_version: &str, resources: &[Arc<ResourceDef>]) -> Value {
    let items: Vec<Value> = resources
        .iter()
        .filter(|r| r.api_version() == group_version)
        .map(|r| {
            json!({
                "name": r.plural,
                "singularName": r.kind.to_lowercase(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "list", "watch"],
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": items})
}

/// The discovery answer for `path`, or `None` if `path` is not a discovery path.
pub(crate) fn discovery(path: &str, resources: &[Arc<ResourceDef>]) -> Option<Response> {
    let body = match path.trim_end_matches('/') {
        "/version" => json!({
            "major": "1", "minor": "37", "gitVersion": "v1.37.0-informer-test",
            "platform": "linux/amd64", "goVersion": "go1.25", "compiler": "gc",
        }),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        "/apis" => {
            let mut groups: Vec<&ResourceDef> =
                resources.iter().map(|r| r.as_ref()).filter(|r| !r.group.is_empty()).collect();
            groups.dedup_by(|a, b| a.group == b.group);
            let groups: Vec<Value> = groups
                .iter()
                .map(|r| {
                    let gv = json!({"groupVersion": r.api_version(), "version": r.version});
                    json!({"name": r.group, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        p => {
            let group_version = p.strip_prefix("/api/").or_else(|| p.strip_prefix("/apis/"))?;
            if !resources.iter().any(|r| r.api_version() == group_version) {
                return None;
            }
            resource_list(group_version, resources)
        }
    };
    Some(match serde_json::to_vec(&body) {
        Ok(bytes) => json_response(bytes),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_group_resources() {
        let resources = vec![Arc::new(ResourceDef::pods()), Arc::new(ResourceDef::widgets())];
        assert!(discovery("/apis/example.informer.dev/v1", &resources).is_some());
        assert!(discovery("/api/v1", &resources).is_some());
        assert!(discovery("/api/v1/pods", &resources).is_none());
        assert!(yaml("http://127.0.0.1:1").contains("server: http://127.0.0.1:1"));
    }
}

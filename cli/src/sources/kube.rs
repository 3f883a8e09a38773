//! `kube://[GROUP/]VERSION/RESOURCE[?...]`: a Kubernetes collection as served (compact raw
//! objects), from the kubeconfig (`KUBECONFIG` honoured) or in-cluster configuration.

use informer_core::{KeyFn, Version};
use informer_kube::kube::api::ApiResource;
use informer_kube::{KubeSource, RawObject, RawOptions};
use serde_json::Value;

use crate::mirror::{MirrorError, MirrorSource, ObjectAdapter};
use crate::source_spec::KubeSpec;

/// How the command renders Kubernetes objects: the JSON as served (after transforms), keyed
/// `namespace/name`, versioned by `metadata.resourceVersion`; `--resume` decodes it again.
pub fn adapter() -> ObjectAdapter<RawObject> {
    ObjectAdapter::new(KeyFn::keyed(), |o: &RawObject| serde_json::from_slice(o.json()).unwrap_or(Value::Null))
        .with_version(|o: &RawObject| Some(Version::new(o.resource_version())))
        .with_raw_json(|o: &RawObject| o.json().as_ref())
        .with_from_json(|_key, json| {
            RawObject::from_json(json.as_bytes(), &RawOptions::default()).map_err(|e| e.to_string())
        })
}

/// The `ApiResource` of a spec (the kind is not needed for list and watch URLs).
pub fn api_resource(spec: &KubeSpec) -> ApiResource {
    ApiResource {
        group: spec.group.clone().unwrap_or_default(),
        version: spec.version.clone(),
        api_version: spec.api_version(),
        kind: String::new(),
        plural: spec.resource.clone(),
    }
}

/// Builds a client from the environment for the SOURCE `text`.
pub async fn mirror_source(
    text: &str,
    spec: &KubeSpec,
    strip_managed_fields: bool,
) -> Result<MirrorSource, MirrorError> {
    let client = informer_kube::default_client()
        .await
        .map_err(|e| MirrorError::Usage(format!("{text}: {e} (set KUBECONFIG or run in a cluster)")))?;
    let raw_options = RawOptions::default().strip_managed_fields(strip_managed_fields);
    let mut source = KubeSource::raw(client, &api_resource(spec), spec.namespace.as_deref(), raw_options);
    if let Some(selector) = &spec.label_selector {
        source = source.with_label_selector(selector.clone());
    }
    if let Some(selector) = &spec.field_selector {
        source = source.with_field_selector(selector.clone());
    }
    Ok(MirrorSource::new(text, source, adapter()))
}

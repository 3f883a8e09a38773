//! Keys like client-go's `MetaNamespaceKeyFunc`: `namespace/name`, or `name` for
//! cluster-scoped objects.

use informer_core::{KeyError, KeyFn, ObjectKey};
use kube::Resource;

/// The key of an object with this namespace and name.
///
/// ```
/// use informer_kube::meta_namespace_key;
/// assert_eq!(meta_namespace_key(Some("shop"), "web-0"), "shop/web-0");
/// assert_eq!(meta_namespace_key(None, "node-1"), "node-1");
/// assert_eq!(meta_namespace_key(Some(""), "node-1"), "node-1");
/// ```
pub fn meta_namespace_key(namespace: Option<&str>, name: &str) -> ObjectKey {
    match namespace {
        Some(ns) if !ns.is_empty() => ObjectKey::from(format!("{ns}/{name}")),
        _ => ObjectKey::from(name),
    }
}

/// The key function for any `kube::Resource` (typed `k8s_openapi` objects and
/// `DynamicObject`). A missing name is a [`KeyError`] that names the object's uid and
/// resourceVersion. (Rust's orphan rule forbids `impl Keyed for Pod`, hence a function.)
///
/// ```
/// use k8s_openapi::api::core::v1::Pod;
/// use kube::api::ObjectMeta;
/// let pod = Pod { metadata: ObjectMeta { name: Some("web-0".into()), namespace: Some("shop".into()),
///     ..Default::default() }, ..Default::default() };
/// assert_eq!(informer_kube::key_fn::<Pod>().key(&pod).unwrap(), "shop/web-0");
/// ```
pub fn key_fn<K: Resource + 'static>() -> KeyFn<K> {
    KeyFn::new(|object: &K| {
        let meta = object.meta();
        match meta.name.as_deref() {
            Some(name) if !name.is_empty() => Ok(meta_namespace_key(meta.namespace.as_deref(), name)),
            _ => Err(KeyError::new(format!(
                "metadata.name is missing (uid {:?}, resourceVersion {:?})",
                meta.uid.as_deref().unwrap_or(""),
                meta.resource_version.as_deref().unwrap_or("")
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn objects_without_a_name_have_no_key() {
        let cm = ConfigMap::default();
        let err = key_fn::<ConfigMap>().key(&cm).unwrap_err();
        assert!(err.to_string().contains("metadata.name is missing"));
    }
}

//! `memory://demo`: demo pods in an in-process source, changed by a churn loop.

use informer_core::{CancellationToken, KeyFn, Version};
use informer_memory::demo::{self, DemoPod};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};

use crate::mirror::{MirrorSource, ObjectAdapter};
use crate::source_spec::MemorySpec;

/// How the command renders a demo pod: its JSON, keyed `namespace/name`, versioned by the
/// revision of its last change.
pub fn adapter() -> ObjectAdapter<MemoryObject<DemoPod>> {
    ObjectAdapter::new(KeyFn::keyed(), |o: &MemoryObject<DemoPod>| {
        serde_json::to_value(&**o.value()).unwrap_or(serde_json::Value::Null)
    })
    .with_version(|o: &MemoryObject<DemoPod>| Some(Version::new(o.mod_revision().to_string())))
}

/// A populated demo source whose churn loop (unless `rate` is 0) runs until the returned
/// source is dropped.
pub fn mirror_source(text: &str, spec: &MemorySpec) -> MirrorSource {
    let history = (spec.rate as usize * 30).max(10_000);
    let source = MemorySource::with_config(MemoryConfig::default().with_name("memory://demo").with_history(history));
    demo::populate(&source, spec.objects, spec.seed);
    let stop_churn = CancellationToken::new();
    if spec.rate > 0 {
        tokio::spawn(demo::churn(source.clone(), spec.rate, spec.seed.wrapping_add(1), stop_churn.clone()));
    }
    MirrorSource::new(text, source, adapter()).with_guard(stop_churn.drop_guard())
}

//! `memory://demo`: demo pods in an in-process source, changed by a churn loop.

use informer_core::{CancellationToken, KeyFn, Version};
use informer_memory::demo::{self, DemoPod};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};

use crate::mirror::{MirrorError, MirrorOptions, ObjectAdapter, run_mirror};
use crate::output::Output;
use crate::source_spec::MemorySpec;

/// How the command renders a demo pod: its JSON, keyed `namespace/name`, versioned by the
/// revision of its last change.
pub fn adapter() -> ObjectAdapter<MemoryObject<DemoPod>> {
    ObjectAdapter::new(KeyFn::keyed(), |o: &MemoryObject<DemoPod>| {
        serde_json::to_value(&**o.value()).unwrap_or(serde_json::Value::Null)
    })
    .with_version(|o: &MemoryObject<DemoPod>| Some(Version::new(o.mod_revision().to_string())))
}

/// Populates a demo source, starts its churn loop (unless `rate` is 0) and mirrors it.
pub async fn run(spec: &MemorySpec, options: &MirrorOptions, output: &Output) -> Result<(), MirrorError> {
    let history = (spec.rate as usize * 30).max(10_000);
    let source = MemorySource::with_config(MemoryConfig::default().with_name("memory://demo").with_history(history));
    demo::populate(&source, spec.objects, spec.seed);
    let stop_churn = CancellationToken::new();
    let churn = (spec.rate > 0)
        .then(|| tokio::spawn(demo::churn(source.clone(), spec.rate, spec.seed.wrapping_add(1), stop_churn.clone())));
    let result = run_mirror(source, adapter(), options, output).await;
    stop_churn.cancel();
    if let Some(churn) = churn {
        let _ = churn.await;
    }
    result
}

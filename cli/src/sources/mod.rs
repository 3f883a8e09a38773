//! One module per SOURCE kind: each builds its backend's `ListerWatcher` and
//! [`ObjectAdapter`](crate::mirror::ObjectAdapter), then calls
//! [`run_mirror`](crate::mirror::run_mirror).

pub mod etcd;
pub mod etcd_sink;
pub mod http;
pub mod kube;
pub mod memory;

use crate::args::{MirrorArgs, TransformArg};
use crate::mirror::{MirrorError, MirrorOptions};
use crate::output::Output;
use crate::source_spec::SourceSpec;

/// Runs `informer mirror` for the parsed arguments.
pub async fn run(args: &MirrorArgs, options: &MirrorOptions, output: &Output) -> Result<(), MirrorError> {
    check_kind_specific_options(args)?;
    let strip = args.transforms.contains(&TransformArg::StripManagedFields);
    match &args.source.spec {
        SourceSpec::Memory(spec) => memory::run(spec, options, output).await,
        SourceSpec::Etcd(spec) => match &args.to {
            Some(dest) => etcd_sink::run(spec, dest, args, options).await,
            None => etcd::run(spec, options, output).await,
        },
        SourceSpec::Kube(spec) => kube::run(spec, strip, options, output).await,
        SourceSpec::Etcd2(_) | SourceSpec::Consul(_) | SourceSpec::Http(_) => http::run(args, options, output).await,
    }
}

/// Options that only some kinds of SOURCE understand are refused elsewhere, instead of being
/// silently ignored.
fn check_kind_specific_options(args: &MirrorArgs) -> Result<(), MirrorError> {
    let kind = args.source.spec.kind();
    if args.to.is_some() && kind != "etcd" {
        return Err(MirrorError::Usage(format!(
            "--to mirrors etcd:// sources into another etcd, not {kind}; \
             e.g. informer mirror etcd://127.0.0.1:2379/app/ --to etcd://127.0.0.1:22379/backup/app/"
        )));
    }
    if !args.transforms.is_empty() && kind != "kube" {
        return Err(MirrorError::Usage(format!(
            "--transform strip-managed-fields applies to kube:// sources only, not {kind}; \
             e.g. informer mirror kube://v1/pods --transform strip-managed-fields"
        )));
    }
    let http_only = [
        ("--items", args.items.is_some()),
        ("--key", args.key.is_some()),
        ("--index-header", args.index_header.is_some()),
    ];
    for (flag, given) in http_only {
        if given && kind != "http" {
            return Err(MirrorError::Usage(format!(
                "{flag} applies to http(s):// sources only, not {kind}; \
                 e.g. informer mirror http://127.0.0.1:8080/items --items /items --key /id --index-header X-Index"
            )));
        }
    }
    if let Some(query) = args.queries.iter().find(|q| !args.indexes.iter().any(|i| i.name == q.name)) {
        return Err(MirrorError::Usage(format!(
            "--query {}={}: no --index named `{}`; e.g. --index {}=/spec/nodeName --query {}={}",
            query.name, query.value, query.name, query.name, query.name, query.value
        )));
    }
    Ok(())
}

//! One module per SOURCE kind: each builds its backend's `ListerWatcher` and
//! [`ObjectAdapter`](crate::mirror::ObjectAdapter) as a [`MirrorSource`]; [`run`] hands them all
//! to [`run_mirrors`].

pub mod etcd;
pub mod etcd_sink;
pub mod http;
pub mod kube;
pub mod memory;

use crate::args::{MirrorArgs, SourceArg, TransformArg};
use crate::mirror::{MirrorError, MirrorOptions, MirrorSource, run_mirrors};
use crate::output::Output;
use crate::source_spec::SourceSpec;

/// Runs `informer mirror` for the parsed arguments: every SOURCE side by side
/// ([`run_mirrors`]), or one etcd SOURCE into `--to`.
pub async fn run(args: &MirrorArgs, options: &MirrorOptions, output: &Output) -> Result<(), MirrorError> {
    check_sources(args)?;
    check_kind_specific_options(args)?;
    if let Some(dest) = &args.to {
        return match args.sources.as_slice() {
            [SourceArg { spec: SourceSpec::Etcd(spec), .. }] => etcd_sink::run(spec, dest, args, options).await,
            _ => Err(MirrorError::Runtime("--to: checked to have one etcd SOURCE".to_string())),
        };
    }
    let mut sources = Vec::with_capacity(args.sources.len());
    for source in &args.sources {
        sources.push(mirror_source(source, args).await?);
    }
    run_mirrors(sources, options, output).await
}

/// Builds one SOURCE's backend (connecting where the backend needs to).
async fn mirror_source(source: &SourceArg, args: &MirrorArgs) -> Result<MirrorSource, MirrorError> {
    let strip = args.transforms.contains(&TransformArg::StripManagedFields);
    match &source.spec {
        SourceSpec::Memory(spec) => Ok(memory::mirror_source(&source.text, spec)),
        SourceSpec::Etcd(spec) => etcd::mirror_source(&source.text, spec).await,
        SourceSpec::Kube(spec) => kube::mirror_source(&source.text, spec, strip).await,
        SourceSpec::Etcd2(_) | SourceSpec::Consul(_) | SourceSpec::Http(_) => http::mirror_source(source, args),
    }
}

/// Several SOURCEs must differ, and `--to` takes exactly one.
fn check_sources(args: &MirrorArgs) -> Result<(), MirrorError> {
    for (i, source) in args.sources.iter().enumerate() {
        if let Some(earlier) = args.sources[..i].iter().find(|s| s.spec == source.spec) {
            let same = if earlier.text == source.text {
                format!("SOURCE {} is given twice", source.text)
            } else {
                format!("SOURCEs {} and {} are the same", earlier.text, source.text)
            };
            return Err(MirrorError::Usage(format!("{same}; give each SOURCE once")));
        }
    }
    if args.to.is_some() && args.sources.len() > 1 {
        let texts: Vec<&str> = args.sources.iter().map(|s| s.text.as_str()).collect();
        return Err(MirrorError::Usage(format!(
            "--to mirrors one etcd SOURCE into one destination, not {} SOURCEs ({}); \
             run one informer mirror per SOURCE, each with its own --to and --state-key",
            texts.len(),
            texts.join(", ")
        )));
    }
    Ok(())
}

/// Options that only some kinds of SOURCE understand apply to every SOURCE of that kind; given
/// without any SOURCE of that kind, they are refused instead of being silently ignored.
fn check_kind_specific_options(args: &MirrorArgs) -> Result<(), MirrorError> {
    let kinds: Vec<&str> = args.sources.iter().map(|s| s.spec.kind()).collect();
    let kind = kinds.join(", ");
    let any = |wanted: &str| kinds.contains(&wanted);
    if args.to.is_some() && !any("etcd") {
        return Err(MirrorError::Usage(format!(
            "--to mirrors etcd:// sources into another etcd, not {kind}; \
             e.g. informer mirror etcd://127.0.0.1:2379/app/ --to etcd://127.0.0.1:22379/backup/app/"
        )));
    }
    if !args.transforms.is_empty() && !any("kube") {
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
        if given && !any("http") {
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

//! The HTTP long-poll sources: `etcd2+http://HOST:PORT/v2/keys/DIR` (etcd's v2 keys API),
//! `consul+http://HOST:PORT/v1/kv/PREFIX` (Consul KV blocking queries), and plain
//! `http(s)://URL` JSON list endpoints.
//!
//! A plain URL needs `--key JSONPOINTER` (the key inside each item) and takes `--items
//! JSONPOINTER` (where the array of items is; default: the body is the array). With
//! `--index-header NAME` the collection's index is read from that header and watched with
//! blocking queries (`?index=<last index>&wait=60s`, as Consul does); without it the source is
//! polled with `If-None-Match` on its `ETag` once a second.

use std::time::Duration;

use informer_core::KeyFn;
use informer_http::{
    HttpConfig, HttpItem, HttpSource, IndexFrom, ItemsFormat, WaitFormat, WaitParam, WatchMode, presets,
};

use crate::args::{MirrorArgs, SourceArg};
use crate::mirror::{MirrorError, MirrorSource, ObjectAdapter};
use crate::source_spec::{HttpSpec, SourceSpec};

/// How the command renders HTTP items: the item's JSON value, keyed and versioned as the
/// backend found them.
pub fn adapter() -> ObjectAdapter<HttpItem> {
    ObjectAdapter::new(KeyFn::keyed(), |item: &HttpItem| item.value.clone())
        .with_version(|item: &HttpItem| item.version.clone())
        // A snapshot keeps the value only; without a version the differ compares values.
        .with_from_json(|key, json| {
            Ok(HttpItem::new(key, None, serde_json::from_str(json).map_err(|e| e.to_string())?))
        })
}

/// The backend configuration of an HTTP-kind SOURCE (`text`, parsed as `spec`) and its options.
pub fn config(text: &str, spec: &SourceSpec, args: &MirrorArgs) -> Result<HttpConfig, MirrorError> {
    let source = text;
    let usage = |e: informer_http::ConfigError| MirrorError::Usage(format!("{source}: {e}"));
    match spec {
        SourceSpec::Etcd2(s) => presets::etcd_v2_keys(&s.endpoint.http_url(), &s.dir).map_err(usage),
        SourceSpec::Consul(s) => presets::consul_kv(&s.endpoint.http_url(), &s.prefix).map_err(usage),
        SourceSpec::Http(s) => plain(s, args).map_err(|e| match e {
            PlainError::Config(e) => usage(e),
            PlainError::NoKey => MirrorError::Usage(format!(
                "{source}: an http(s) SOURCE needs --key JSONPOINTER (the key inside each item); \
                 e.g. informer mirror {source} --items /items --key /id --index-header X-Index"
            )),
        }),
        other => Err(MirrorError::Runtime(format!("{source}: {} is not an HTTP source", other.kind()))),
    }
}

enum PlainError {
    Config(informer_http::ConfigError),
    NoKey,
}

fn plain(spec: &HttpSpec, args: &MirrorArgs) -> Result<HttpConfig, PlainError> {
    let key = args.key.clone().ok_or(PlainError::NoKey)?;
    let items = ItemsFormat::pointers(args.items.clone().unwrap_or_default(), key);
    let (index, watch) = match &args.index_header {
        Some(header) => (
            IndexFrom::Header(header.clone()),
            WatchMode::BlockingSnapshot {
                index_param: "index".to_string(),
                wait: Some(WaitParam::new("wait", WaitFormat::GoDuration)),
            },
        ),
        None => (IndexFrom::ETag, WatchMode::ETagSnapshot { wait: None, poll_interval: Duration::from_secs(1) }),
    };
    HttpConfig::new(&spec.url, items, index, watch).map_err(PlainError::Config)
}

/// Builds the HTTP source of `source`.
pub fn mirror_source(source: &SourceArg, args: &MirrorArgs) -> Result<MirrorSource, MirrorError> {
    let config = config(&source.text, &source.spec, args)?;
    let usage = |e: &dyn std::fmt::Display| MirrorError::Usage(format!("{}: {e}", source.text));
    let http = match &args.ca_file {
        Some(path) => {
            let ca_file = |e: &dyn std::fmt::Display| usage(&format!("--ca-file {}: {e}", path.display()));
            let pem = std::fs::read(path).map_err(|e| ca_file(&e))?;
            HttpSource::with_extra_roots(config, &pem).map_err(|e| ca_file(&e))?
        }
        None => HttpSource::new(config).map_err(|e| usage(&e))?,
    };
    Ok(MirrorSource::new(source.text.clone(), http, adapter()))
}

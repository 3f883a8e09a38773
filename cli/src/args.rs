//! Command-line arguments (clap derive) and the small value types they parse into.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::source_spec::SourceSpec;

const AFTER_HELP: &str = "\
Examples:
  informer mirror memory://demo --once
  informer mirror 'memory://demo?objects=10000&rate=500' --events
  informer mirror etcd://127.0.0.1:2379/app/ --snapshot app.json --metrics 127.0.0.1:9100
  informer mirror etcd://127.0.0.1:2379/app/ --snapshot app.json --resume
  informer mirror etcd://127.0.0.1:2379/app/ kube://v1/pods --events --snapshot both.json
  informer mirror etcd://10.0.0.1:2379/app/ --to etcd://10.0.0.2:2379/backup/app/ --to-user mirror
  informer mirror kube://v1/pods --index node=/spec/nodeName --query node=node-1 --once
  informer mirror 'kube://apps/v1/deployments?namespace=default' --transform strip-managed-fields
  informer mirror etcd2+http://127.0.0.1:2379/v2/keys/app --snapshot app.json
  informer mirror consul+http://127.0.0.1:8500/v1/kv/app/ --events
  informer mirror http://127.0.0.1:8080/items --items /items --key /id --index-header X-Index

Mirroring into another etcd (--to): each source revision is written as one destination
transaction (split only beyond --max-txn-ops), keys under the destination prefix that the source
lacks are deleted, and the last source revision applied is recorded in the state key (in the same
transaction). A restarted mirror watches from the recorded revision without reading the source
prefix again; it lists and prunes only if the source compacted that revision, or if the last
sync was cut short. The destination prefix must hold nothing but mirrored keys.

Several SOURCEs (informer mirror SRC1 SRC2 ...): each is mirrored by its own reflector in one
process, sharing --metrics, the progress display and --snapshot (a format 2 snapshot with one
entry per SOURCE, each with its own version; --resume resumes each SOURCE from its entry). Event
and query lines carry a `source` field. Options of one kind of SOURCE (--items, --key,
--index-header, --ca-file, --transform) apply to every SOURCE of that kind; --to takes one
etcd SOURCE. A SOURCE given twice is refused.

Warm restarts (--resume --snapshot FILE): the mirror starts from the snapshot's items and watches
from its version instead of listing; it lists only if the source says that version expired.
Snapshot files are written with mode 0600 (they may hold secrets).

Failures: a mirror that cannot sync logs why (forbidden, unauthorized, not found, unavailable,
...) at each attempt and keeps retrying, since credentials rotate and CRDs get installed. With
--once, a permanent refusal (401, 403, 404, an invalid request) ends the run after 3 attempts.

Exit codes: 0 done, 2 bad arguments, an unreadable SOURCE or destination URL, 1 failure at run
time after retries, a --once run refused 3 times (the message names the reason), or a
destination that refuses writes (the message names it).
Logs go to stderr; RUST_LOG sets their level (e.g. RUST_LOG=debug).";

/// `informer`: keep a local, always-current mirror of a remote collection.
#[derive(Debug, Parser)]
#[command(name = "informer", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// How logs on stderr look: `text` for people, `json` (one object per line, with the
    /// list / watch span's source, version and page) for log collectors.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The format of the logs on stderr (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keep a local mirror of SOURCE and show it (--once, --events, --query) or write it (--snapshot).
    #[command(after_help = AFTER_HELP)]
    Mirror(MirrorArgs),
}

/// Arguments of `informer mirror`.
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// What to mirror: memory://demo[?objects=N&rate=N&seed=N] (demo pods, default 1000 objects,
    /// 100 changes a second, seed 42), etcd://HOST:PORT[,HOST:PORT...]/PREFIX (the prefix keeps
    /// its leading /),
    /// kube://[GROUP/]VERSION/RESOURCE[?namespace=NS&labelSelector=SEL&fieldSelector=SEL],
    /// etcd2+http://HOST:PORT/v2/keys/DIR, consul+http://HOST:PORT/v1/kv/PREFIX, or http(s)://URL.
    /// Several SOURCEs are mirrored side by side, each by its own reflector: event and query
    /// lines then carry a "source" field, and the snapshot an entry per SOURCE.
    #[arg(value_name = "SOURCE", required = true, num_args = 1.., value_parser = SourceArg::parse)]
    pub sources: Vec<SourceArg>,

    /// Finish the initial sync, write the snapshot (to --snapshot FILE, or stdout) and exit.
    #[arg(long)]
    pub once: bool,

    /// Keep FILE equal to the mirror: written atomically after the initial sync, after changes,
    /// and once more on SIGINT/SIGTERM.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Write the snapshot at most this often while changes arrive.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_duration)]
    pub snapshot_interval: Duration,

    /// Print one JSON line per change on stdout: {"type": ADDED|MODIFIED|DELETED|SYNCED|RELISTED,
    /// "key": ..., "version": ...}. The initial list prints ADDED per object, then SYNCED; a
    /// relist prints the differences, then RELISTED (key null for both). version is the
    /// collection's version after the change.
    #[arg(long)]
    pub events: bool,

    /// Build an index NAME over the value at JSONPOINTER of each object (repeatable), e.g.
    /// node=/spec/nodeName. Arrays index every element.
    #[arg(long = "index", value_name = "NAME=JSONPOINTER", value_parser = IndexSpec::parse)]
    pub indexes: Vec<IndexSpec>,

    /// After the initial sync, print the keys whose index NAME has VALUE (repeatable), as one JSON
    /// line per query: {"type": "QUERY", "index": NAME, "value": VALUE, "keys": [...]}.
    #[arg(long = "query", value_name = "NAME=VALUE", value_parser = QuerySpec::parse)]
    pub queries: Vec<QuerySpec>,

    /// How to get the initial state: auto (a streaming list where the source supports it,
    /// Kubernetes; else list + watch), stream (ask for a streaming list), list (paged list then
    /// watch). A streaming list that receives nothing for --initial-events-stall falls back to a
    /// paged list.
    #[arg(long, value_name = "MODE", value_enum, default_value = "auto")]
    pub initial_list: InitialListArg,

    /// Drop a streaming list that received nothing for this long, and list in pages instead.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub initial_events_stall: Duration,

    /// Objects per list page.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,

    /// Re-deliver the mirror to its stores this often (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub resync: Option<Duration>,

    /// Change objects before they are stored (repeatable).
    #[arg(long = "transform", value_name = "TRANSFORM", value_enum)]
    pub transforms: Vec<TransformArg>,

    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Give up (exit 1) after this many consecutive failed requests; default: retry forever.
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,

    /// The longest wait between retries.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub max_backoff: Duration,

    /// HTTP sources: JSON pointer to the array of items in a response (default: the response is the array).
    #[arg(long, value_name = "JSONPOINTER", value_parser = parse_pointer)]
    pub items: Option<String>,

    /// HTTP sources: JSON pointer to an item's key inside the item.
    #[arg(long, value_name = "JSONPOINTER", value_parser = parse_pointer)]
    pub key: Option<String>,

    /// HTTP sources: the response header that carries the collection's index (version); the
    /// endpoint is then watched with blocking queries (`?index=<last index>&wait=60s`). Without
    /// it, the endpoint is polled once a second with If-None-Match on its ETag.
    #[arg(long, value_name = "HEADER")]
    pub index_header: Option<String>,

    /// HTTPS sources: also trust the CA certificates in this PEM file (a private CA); the
    /// system's roots stay trusted and certificates are always verified.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// With --snapshot FILE: start from the snapshot (its items and version) and watch from its
    /// version instead of listing; list only if the source says the version expired. A missing
    /// FILE starts cold. Not with --once.
    #[arg(long, requires = "snapshot", conflicts_with = "once")]
    pub resume: bool,

    /// etcd SOURCEs: mirror into another etcd, etcd://HOST:PORT[,HOST:PORT...]/PREFIX (the
    /// destination prefix replaces the source prefix; values are copied byte for byte). Resumes
    /// from the destination's state key on restart; with --once, lists, writes the differences,
    /// prunes and exits.
    #[arg(long, value_name = "DEST", value_parser = parse_destination,
          conflicts_with_all = ["snapshot", "events", "indexes", "queries", "metrics", "transforms"])]
    pub to: Option<crate::source_spec::EtcdSpec>,

    /// --to: the most operations in one destination transaction (etcd's --max-txn-ops,
    /// default 128); the state record takes one.
    #[arg(long, value_name = "N", default_value_t = 128, requires = "to",
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub max_txn_ops: u32,

    /// --to: the key of the mirror's state record in the destination, outside the destination
    /// prefix. Default: the destination prefix without its trailing `/`, plus `.mirror-state`.
    #[arg(long, value_name = "KEY", requires = "to")]
    pub state_key: Option<String>,

    /// --to: TLS to the destination, trusting the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", requires = "to")]
    pub to_ca_file: Option<PathBuf>,

    /// --to: a client certificate (PEM) for the destination; needs --to-key.
    #[arg(long, value_name = "FILE", requires_all = ["to", "to_key"])]
    pub to_cert: Option<PathBuf>,

    /// --to: the private key (PEM) of --to-cert.
    #[arg(long, value_name = "FILE", requires_all = ["to", "to_cert"])]
    pub to_key: Option<PathBuf>,

    /// --to: authenticate to the destination as this etcd user.
    #[arg(long, value_name = "NAME", requires = "to")]
    pub to_user: Option<String>,

    /// --to: the password of --to-user; default: the INFORMER_TO_PASSWORD environment
    /// variable (which keeps it out of process listings).
    #[arg(long, value_name = "PASSWORD", requires = "to_user")]
    pub to_password: Option<String>,
}

/// Parses `--to etcd://HOST:PORT[,...]/PREFIX`.
pub fn parse_destination(text: &str) -> Result<crate::source_spec::EtcdSpec, String> {
    match SourceSpec::parse(text) {
        Ok(SourceSpec::Etcd(spec)) => Ok(spec),
        Ok(other) => Err(format!(
            "--to takes an etcd://HOST:PORT/PREFIX destination, not a {} URL; e.g. --to etcd://127.0.0.1:2379/backup/",
            other.kind()
        )),
        Err(err) => Err(err.to_string().replace("SOURCE", "destination")),
    }
}

/// The SOURCE argument: the text as given and its parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceArg {
    /// The SOURCE exactly as given (written into snapshots).
    pub text: String,
    /// The parsed form.
    pub spec: SourceSpec,
}

impl SourceArg {
    /// Parses a SOURCE, keeping its text.
    pub fn parse(text: &str) -> Result<Self, crate::source_spec::SpecError> {
        Ok(Self { text: text.to_string(), spec: SourceSpec::parse(text)? })
    }
}

/// An `--initial-list` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitialListArg {
    /// A streaming list where the source supports it, else list + watch.
    Auto,
    /// A streaming list (falls back to a paged list if unsupported or stalled).
    Stream,
    /// A paged list, then a watch.
    List,
}

impl InitialListArg {
    /// The reflector's setting.
    pub fn to_config(self) -> informer_core::InitialList {
        match self {
            Self::Auto => informer_core::InitialList::Auto,
            Self::Stream => informer_core::InitialList::Streaming,
            Self::List => informer_core::InitialList::ListThenWatch,
        }
    }
}

/// A `--transform` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransformArg {
    /// Drop `metadata.managedFields` from Kubernetes objects.
    StripManagedFields,
}

/// `--index NAME=JSONPOINTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name used by `--query`.
    pub name: String,
    /// An RFC 6901 JSON pointer (`""` or starting with `/`).
    pub pointer: String,
}

impl IndexSpec {
    /// Parses `NAME=JSONPOINTER`.
    ///
    /// ```
    /// let spec = informer_cli::args::IndexSpec::parse("node=/spec/nodeName").unwrap();
    /// assert_eq!((spec.name.as_str(), spec.pointer.as_str()), ("node", "/spec/nodeName"));
    /// assert!(informer_cli::args::IndexSpec::parse("node").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((name, pointer)) = s.split_once('=') else {
            return Err(format!("`{s}` has no `=`; expected NAME=JSONPOINTER, e.g. node=/spec/nodeName"));
        };
        check_name(name, "NAME=JSONPOINTER, e.g. node=/spec/nodeName")?;
        let pointer = parse_pointer(pointer)?;
        Ok(Self { name: name.to_string(), pointer })
    }
}

/// `--query NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// An index name given with `--index`.
    pub name: String,
    /// The value to look up.
    pub value: String,
}

impl QuerySpec {
    /// Parses `NAME=VALUE`.
    ///
    /// ```
    /// let q = informer_cli::args::QuerySpec::parse("node=node-1").unwrap();
    /// assert_eq!((q.name.as_str(), q.value.as_str()), ("node", "node-1"));
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((name, value)) = s.split_once('=') else {
            return Err(format!("`{s}` has no `=`; expected NAME=VALUE, e.g. node=node-1"));
        };
        check_name(name, "NAME=VALUE, e.g. node=node-1")?;
        Ok(Self { name: name.to_string(), value: value.to_string() })
    }
}

fn check_name(name: &str, form: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the NAME before `=` is empty; expected {form}"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(format!("index name `{name}` may hold only letters, digits, `-`, `_` and `.`; expected {form}"));
    }
    Ok(())
}

/// Checks an RFC 6901 JSON pointer: empty, or `/`-separated tokens where `~` is `~0` or `~1`.
// Only the syntax check is by hand, for messages that name the flag's mistake; the lookup is
// serde_json's RFC 6901 `Value::pointer`. `jsonptr` would add a dependency for six lines and
// answer with its own, less specific wording.
pub fn parse_pointer(s: &str) -> Result<String, String> {
    if !s.is_empty() && !s.starts_with('/') {
        return Err(format!("JSON pointer `{s}` must start with `/`, e.g. /spec/nodeName"));
    }
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("JSON pointer `{s}`: `~` must be followed by 0 or 1 (`~0` is `~`, `~1` is `/`)"));
        }
    }
    Ok(s.to_string())
}

/// Parses a human duration such as `200ms`, `30s`, `5m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration ({e}); e.g. 200ms, 30s, 5m"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn index_spec_rejects_missing_equals_empty_name_and_relative_pointer() {
        assert!(IndexSpec::parse("node").unwrap_err().contains("NAME=JSONPOINTER"));
        assert!(IndexSpec::parse("=/a").unwrap_err().contains("empty"));
        assert!(IndexSpec::parse("node=spec/nodeName").unwrap_err().contains("must start with `/`"));
        assert!(IndexSpec::parse("node=/a~2").unwrap_err().contains("~0"));
        assert_eq!(IndexSpec::parse("all=").unwrap().pointer, "");
    }

    #[test]
    fn mirror_arguments_parse_with_defaults() {
        let cli = Cli::try_parse_from(["informer", "mirror", "memory://demo"]).unwrap();
        let Command::Mirror(args) = cli.command;
        assert_eq!(args.snapshot_interval, Duration::from_millis(200));
        assert!(!args.once && !args.events && args.indexes.is_empty());
    }

    #[test]
    fn several_sources_are_collected_in_order_and_one_is_required() {
        let cli =
            Cli::try_parse_from(["informer", "mirror", "memory://demo?seed=1", "etcd://127.0.0.1:2379/a/"]).unwrap();
        let Command::Mirror(args) = cli.command;
        let texts: Vec<&str> = args.sources.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["memory://demo?seed=1", "etcd://127.0.0.1:2379/a/"]);
        let err = Cli::try_parse_from(["informer", "mirror", "--once"]).unwrap_err();
        assert!(err.to_string().contains("<SOURCE>"), "{err}");
    }

    #[test]
    fn repeatable_options_collect_every_value() {
        let cli = Cli::try_parse_from([
            "informer",
            "mirror",
            "memory://demo",
            "--index",
            "node=/node",
            "--index",
            "app=/labels/app",
            "--query",
            "node=node-01",
            "--transform",
            "strip-managed-fields",
            "--resync",
            "5m",
        ])
        .unwrap();
        let Command::Mirror(args) = cli.command;
        assert_eq!(args.indexes.len(), 2);
        assert_eq!(args.queries[0].value, "node-01");
        assert_eq!(args.transforms, [TransformArg::StripManagedFields]);
        assert_eq!(args.resync, Some(Duration::from_secs(300)));
    }
}

//! # informer-cli
//!
//! The `informer` command: `informer mirror SOURCE [options]` keeps a local, always-current
//! mirror of a remote collection (an etcd prefix, a Kubernetes resource, an HTTP long-poll
//! endpoint, or the embedded `memory://demo`) and shows it (`--once`, `--events`, `--query`)
//! or keeps a JSON file equal to it (`--snapshot`).
//!
//! The binary is a thin shell over this library, which tests and fuzz targets use directly:
//!
//! * [`source_spec`]: `SOURCE` strings → [`SourceSpec`](source_spec::SourceSpec) (pure, never panics);
//! * [`args`]: the clap command line;
//! * [`mirror`]: [`run_mirror`](mirror::run_mirror), the one code path every backend shares
//!   (reflector → store stack → snapshot writer, metrics server, progress);
//! * [`sources`]: one adapter per backend; [`snapshot`], [`metrics`], [`output`], [`progress`].

pub mod args;
pub mod command;
pub mod metrics;
pub mod mirror;
pub mod output;
pub mod progress;
pub mod snapshot;
pub mod source_spec;
pub mod sources;

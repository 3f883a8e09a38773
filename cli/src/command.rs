//! From parsed arguments to an exit code: logging, the runtime, and the error → exit code map.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use informer_core::{BackoffConfig, ReflectorConfig};

use crate::args::{Cli, Command, LogFormat, MirrorArgs};
use crate::mirror::{MirrorError, MirrorOptions};
use crate::output::OutputWriter;

/// Runs the command line `cli` and returns the process exit code (0, 1 or 2).
pub fn run(cli: Cli) -> ExitCode {
    init_tracing(cli.log_format);
    let Command::Mirror(args) = cli.command;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            to_stderr(format_args!("error: cannot start the async runtime: {err}"));
            return ExitCode::from(1);
        }
    };
    let writer = OutputWriter::stdout();
    let output = writer.output();
    let options = mirror_options(&args);
    let result = runtime.block_on(crate::sources::run(&args, &options, &output));
    drop(output);
    // Background tasks (metrics connections, the churn loop) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let flushed = writer.finish();
    match (result, flushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Ok(()), Err(err)) => {
            // A closed stdout (e.g. `| head`) is not worth a failure exit.
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                ExitCode::SUCCESS
            } else {
                to_stderr(format_args!("error: cannot write to stdout: {err}"));
                ExitCode::from(1)
            }
        }
        (Err(err), _) => report(&err),
    }
}

fn report(err: &MirrorError) -> ExitCode {
    to_stderr(format_args!("error: {err}"));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        to_stderr(format_args!("  caused by: {cause}"));
        source = cause.source();
    }
    ExitCode::from(err.exit_code())
}

/// One line on stderr. Unlike `eprintln!`, a closed stderr is no panic (exit code 101): the
/// documented exit code still says what happened.
fn to_stderr(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The run options of `args`.
pub fn mirror_options(args: &MirrorArgs) -> MirrorOptions {
    let backoff = BackoffConfig::default().with_max(args.max_backoff).with_max_retries(args.max_retries);
    let mut reflector = ReflectorConfig::default()
        .with_backoff(backoff)
        .with_resync_period(args.resync)
        .with_initial_list(args.initial_list.to_config())
        .with_initial_events_stall(args.initial_events_stall);
    if args.page_size.is_some() {
        reflector = reflector.with_page_size(args.page_size);
    }
    MirrorOptions {
        source: args.sources.first().map(|s| s.text.clone()).unwrap_or_default(),
        once: args.once,
        snapshot: args.snapshot.clone(),
        snapshot_interval: args.snapshot_interval,
        events: args.events,
        indexes: args.indexes.clone(),
        queries: args.queries.clone(),
        metrics: args.metrics,
        reflector,
        resume: args.resume,
    }
}

/// Logs to stderr, filtered by `RUST_LOG`; by default `info`, or `warn` when stderr is a
/// terminal (the progress display says what info logs would). `json` writes one object per
/// line with the current span (the reflector's `list` / `watch`) and its parents.
fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let default = if std::io::stderr().is_terminal() { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
    };
}

//! The `informer` binary; see the `informer_cli` library for everything it does.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    informer_cli::command::run(informer_cli::args::Cli::parse())
}

//! The initial-sync progress display: an `indicatif` spinner on stderr with the objects and
//! pages listed so far, shown only when stderr is a terminal (logs are used otherwise).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::mirror::ListProgress;

/// A running spinner, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub struct SyncProgress {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SyncProgress {
    /// True when a spinner would be shown (stderr is a terminal).
    pub fn enabled() -> bool {
        std::io::stderr().is_terminal()
    }

    /// Starts the spinner for `source` if stderr is a terminal; it reads `counts` 10 times a second.
    pub fn start(source: &str, counts: Arc<ListProgress>) -> Self {
        Self::start_many(vec![(source.to_string(), counts)])
    }

    /// [`start`](Self::start) for several SOURCEs, each with its counts, on one line.
    pub fn start_many(sources: Vec<(String, Arc<ListProgress>)>) -> Self {
        if !Self::enabled() || sources.is_empty() {
            return Self { bar: None, task: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        let names: Vec<&str> = sources.iter().map(|(source, _)| source.as_str()).collect();
        bar.set_message(format!("listing {}", names.join(", ")));
        let ticker = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                let each: Vec<String> = sources
                    .iter()
                    .map(|(source, counts)| {
                        format!("{source}: {} objects in {} pages", counts.objects(), counts.pages())
                    })
                    .collect();
                ticker.set_message(format!("listing {}", each.join("; ")));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { bar: Some(bar), task: Some(task) }
    }

    /// Stops the spinner, leaving `message` on its line.
    pub fn finish(mut self, message: &str) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_with_message(message.to_string());
        }
    }
}

impl Drop for SyncProgress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

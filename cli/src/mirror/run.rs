//! The run loop of `informer mirror`: sync, answer queries, keep the snapshot current, stop
//! cleanly on SIGINT/SIGTERM.

use std::io::Write;

use informer_core::{
    CancellationToken, ListerWatcher, ReflectorError, ReflectorHandle, SyncFailure, SyncFailureKind, SyncState, Version,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

use super::source::{Entry, Running};
use super::{MirrorError, MirrorOptions, MirrorSource, ONCE_PERMANENT_ATTEMPTS, ObjectAdapter};
use crate::metrics;
use crate::output::Output;
use crate::progress::SyncProgress;
use crate::snapshot::{self, Layout};

/// SIGINT and SIGTERM, listened to from the start so a signal during the initial sync counts.
pub struct Shutdown {
    term: Signal,
    int: Signal,
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM.
    pub fn new() -> Result<Self, MirrorError> {
        let listen = |kind| signal(kind).map_err(|e| MirrorError::Runtime(format!("cannot listen for signals: {e}")));
        Ok(Self { term: listen(SignalKind::terminate())?, int: listen(SignalKind::interrupt())? })
    }

    /// Waits for a signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Mirrors `source` as the options say, until `--once` is done, a signal arrives, or the
/// reflector gives up. `output` receives every stdout line (events, queries, a `--once`
/// snapshot without `--snapshot`). [`run_mirrors`] with one SOURCE, `options.source`.
///
/// ```
/// use informer_cli::mirror::{MirrorOptions, run_mirror};
/// use informer_cli::output::OutputWriter;
/// use informer_memory::MemorySource;
/// use informer_memory::demo::{DemoPod, populate};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let source = MemorySource::<DemoPod>::new();
/// populate(&source, 10, 1);
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("mirror.json");
/// let options = MirrorOptions { once: true, snapshot: Some(path.clone()), ..MirrorOptions::new("memory://demo") };
/// let writer = OutputWriter::new(std::io::sink());
/// let output = writer.output();
/// run_mirror(source, informer_cli::sources::memory::adapter(), &options, &output).await.unwrap();
/// let snapshot: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
/// assert_eq!(snapshot["items"].as_object().unwrap().len(), 10);
/// assert_eq!(snapshot["version"], "10");
/// # drop(output); writer.finish().unwrap();
/// # }
/// ```
pub async fn run_mirror<L: ListerWatcher>(
    source: L,
    adapter: ObjectAdapter<L::Object>,
    options: &MirrorOptions,
    output: &Output,
) -> Result<(), MirrorError> {
    run_mirrors(vec![MirrorSource::new(options.source.clone(), source, adapter)], options, output).await
}

/// Mirrors every one of `sources`, each by its own reflector into its own store, in one
/// process: one signal handler, one metrics endpoint, one progress display, one snapshot.
///
/// * With several SOURCEs, event and query lines carry a `source` field, each reflector's
///   metrics are labelled with its SOURCE as given, and the snapshot is a version 2 one (an
///   entry per SOURCE, see [`crate::snapshot`]); with one, everything is as it always was.
/// * The run is synced when every SOURCE is; `--once` then writes the snapshot and exits.
/// * The first reflector that gives up stops them all (the error names its source), after
///   the final snapshot.
///
/// ```
/// use informer_cli::mirror::{MirrorOptions, MirrorSource, run_mirrors};
/// use informer_cli::output::OutputWriter;
/// use informer_cli::sources::memory::adapter;
/// use informer_memory::MemorySource;
/// use informer_memory::demo::{DemoPod, populate};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, b) = (MemorySource::<DemoPod>::new(), MemorySource::<DemoPod>::new());
/// populate(&a, 3, 1);
/// populate(&b, 5, 2);
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("mirror.json");
/// let options = MirrorOptions { once: true, snapshot: Some(path.clone()), ..MirrorOptions::new("") };
/// let sources = vec![MirrorSource::new("memory://a", a, adapter()), MirrorSource::new("memory://b", b, adapter())];
/// let writer = OutputWriter::new(std::io::sink());
/// let output = writer.output();
/// run_mirrors(sources, &options, &output).await.unwrap();
/// let snapshot: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
/// assert_eq!(snapshot["format"], 2);
/// assert_eq!(snapshot["sources"][1]["source"], "memory://b");
/// assert_eq!(snapshot["sources"][1]["items"].as_object().unwrap().len(), 5);
/// # drop(output); writer.finish().unwrap();
/// # }
/// ```
pub async fn run_mirrors(
    mut sources: Vec<MirrorSource>,
    options: &MirrorOptions,
    output: &Output,
) -> Result<(), MirrorError> {
    let mut shutdown = Shutdown::new()?;
    if sources.is_empty() {
        return Err(MirrorError::Usage("no SOURCE to mirror".to_string()));
    }
    let several = sources.len() > 1;
    if options.resume {
        load_resume(&mut sources, options)?;
    }
    // The recorder first: each reflector registers its series when it is built.
    start_metrics(options)?;
    let mut mirrors = Vec::with_capacity(sources.len());
    for source in sources {
        mirrors.push(source.start(options, output, several)?);
    }
    let running: Vec<&dyn Running> = mirrors.iter().map(|m| m.running.as_ref()).collect();
    let handles: Vec<ReflectorHandle> = running.iter().map(|m| m.handle().clone()).collect();
    // The snapshot file holds the resumed state: no need to write it again until something changed.
    let resumed: Vec<Option<Version>> = running.iter().map(|m| m.resumed_version()).collect();

    let cancel = CancellationToken::new();
    let mut tasks: Vec<Option<ReflectorTask>> = Vec::with_capacity(mirrors.len());
    for mirror in &mut mirrors {
        if let Some(run) = mirror.running.take_run() {
            tasks.push(Some(tokio::spawn(run(cancel.clone()))));
        }
    }
    let mirrors: Vec<&dyn Running> = mirrors.iter().map(|m| m.running.as_ref()).collect();
    let progress = SyncProgress::start_many(mirrors.iter().map(|m| (m.text().to_string(), m.counts())).collect());
    let _state_logs: Vec<AbortOnDrop> =
        handles.iter().map(|h| AbortOnDrop(Some(tokio::spawn(log_sync_state(h.clone()))))).collect();

    let all_synced = async {
        for handle in &handles {
            if !handle.wait_synced().await {
                return false;
            }
        }
        true
    };
    tokio::select! {
        synced = all_synced => {
            if !synced {
                drop(progress);
                cancel.cancel();
                return finish_reflectors(join_all(&mut tasks).await);
            }
        }
        failure = any_permanent_failure(&handles), if options.once => {
            drop(progress);
            cancel.cancel();
            finish_reflectors(join_all(&mut tasks).await)?;
            return Err(MirrorError::NotSynced(failure));
        }
        signal = shutdown.recv() => {
            info!(signal, "stopping before the initial sync finished; no snapshot written");
            drop(progress);
            cancel.cancel();
            return finish_reflectors(join_all(&mut tasks).await);
        }
    }
    let synced: Vec<String> = mirrors
        .iter()
        .map(|m| {
            let version = m.handle().last_synced_version();
            let text = format!("{} objects at version {}", m.len(), version.as_deref().unwrap_or(""));
            if several { format!("{}: {text}", m.text()) } else { text }
        })
        .collect();
    progress.finish(&format!("synced {}", synced.join("; ")));
    for mirror in &mirrors {
        info!(source = mirror.handle().source_name(), objects = mirror.len(), "initial sync done");
    }

    for mirror in &mirrors {
        mirror.answer_queries(options, output, several)?;
    }

    if options.once {
        let result = write_snapshot(&mirrors, Target::of(options, output)).await;
        cancel.cancel();
        finish_reflectors(join_all(&mut tasks).await)?;
        return result;
    }

    let writer_cancel = CancellationToken::new();
    let writer = async {
        if let Some(path) = options.snapshot.clone() {
            let written = snapshot_loop(&mirrors, options.snapshot_interval, path, resumed, writer_cancel.clone());
            // A failed write stops the writer, not the mirror.
            if let Err(err) = written.await {
                warn!(error = %err, "snapshot writer failed");
            }
        }
    };
    tokio::pin!(writer);
    let mut writer_done = options.snapshot.is_none();
    let outcome = loop {
        tokio::select! {
            (_, result) = first_finished(&mut tasks) => break Some(result),
            signal = shutdown.recv() => {
                info!(signal, "stopping; writing the final snapshot");
                break None;
            }
            () = &mut writer, if !writer_done => writer_done = true,
        }
    };
    // Let a write under way finish: the final one below uses the same temporary file.
    writer_cancel.cancel();
    if !writer_done {
        writer.await;
    }
    cancel.cancel();
    let mut results: Vec<_> = outcome.into_iter().collect();
    results.extend(join_all(&mut tasks).await);
    // Every reflector has stopped: the mirrors and their versions are final and consistent.
    if options.snapshot.is_some() {
        write_snapshot(&mirrors, Target::of(options, output)).await?;
    }
    finish_reflectors(results)
}

/// A spawned reflector.
type ReflectorTask = tokio::task::JoinHandle<Result<(), ReflectorError>>;
type TaskResult = Result<Result<(), ReflectorError>, tokio::task::JoinError>;

/// Resolves when one of the tasks not awaited yet finishes (its slot is emptied); never if none
/// is left.
async fn first_finished(tasks: &mut [Option<ReflectorTask>]) -> (usize, TaskResult) {
    std::future::poll_fn(|cx| {
        for (i, slot) in tasks.iter_mut().enumerate() {
            if let Some(task) = slot
                && let std::task::Poll::Ready(result) = std::pin::Pin::new(task).poll(cx)
            {
                *slot = None;
                return std::task::Poll::Ready((i, result));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Waits for every task not awaited yet.
async fn join_all(tasks: &mut [Option<ReflectorTask>]) -> Vec<TaskResult> {
    let mut results = Vec::new();
    for slot in tasks {
        if let Some(task) = slot.take() {
            results.push(task.await);
        }
    }
    results
}

/// Reads the `--snapshot` file for `--resume` into each SOURCE (its items and version); a SOURCE
/// whose entry has no version starts with a list, and so does every SOURCE if the file does not
/// exist yet. A snapshot of other SOURCEs than the command line's is an error naming them.
fn load_resume(sources: &mut [MirrorSource], options: &MirrorOptions) -> Result<(), MirrorError> {
    let Some(path) = &options.snapshot else { return Ok(()) };
    if let Some(source) = sources.iter().find(|s| !s.can_resume()) {
        return Err(MirrorError::Usage(format!(
            "--resume: objects of {} cannot be read back from a snapshot",
            source.text()
        )));
    }
    let texts: Vec<String> = sources.iter().map(|s| s.text().to_string()).collect();
    let listed = || texts.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ");
    let mut seen: Vec<String> = Vec::new();
    let check_source = |source: &str| {
        if !texts.iter().any(|t| t == source) {
            return Err(match texts.as_slice() {
                [one] => {
                    format!("snapshot {} mirrors {source:?}, not {one:?}; remove it or drop --resume", path.display())
                }
                _ => format!(
                    "snapshot {} mirrors {source:?}, which is not one of the SOURCEs {}; remove it or drop --resume",
                    path.display(),
                    listed()
                ),
            });
        }
        if seen.iter().any(|s| s == source) {
            return Err(format!("snapshot {} holds {source:?} twice; remove it or drop --resume", path.display()));
        }
        seen.push(source.to_string());
        Ok(())
    };
    // Streamed: only the objects are held, never the whole file's JSON tree.
    let item = |source: &str, key: &str, json: &str| match sources.iter_mut().find(|s| s.text() == source) {
        Some(target) => target.resume_item(key, json),
        None => Err("an item outside a known SOURCE's entry".to_string()),
    };
    let read = snapshot::read_sources(path, check_source, item);
    let Some(entries) = read.map_err(|e| MirrorError::Usage(format!("--resume: {e}")))? else {
        info!(path = %path.display(), "no snapshot yet; starting with a list");
        return Ok(());
    };
    let missing: Vec<&String> = texts.iter().filter(|t| !entries.iter().any(|e| &e.source == *t)).collect();
    if !missing.is_empty() {
        let found: Vec<String> = entries.iter().map(|e| format!("{:?}", e.source)).collect();
        let missing: Vec<String> = missing.iter().map(|t| format!("{t:?}")).collect();
        return Err(MirrorError::Usage(format!(
            "--resume: snapshot {} has no entry for {} (it mirrors {}); remove it or drop --resume",
            path.display(),
            missing.join(", "),
            if found.is_empty() { "nothing".to_string() } else { found.join(", ") }
        )));
    }
    for entry in entries {
        if entry.version.is_none() {
            info!(path = %path.display(), source = entry.source, "the snapshot has no version; starting with a list");
        }
        if let Some(source) = sources.iter_mut().find(|s| s.text() == entry.source) {
            source.resume_at(entry.version);
        }
    }
    Ok(())
}

/// Resolves once any reflector failed [`ONCE_PERMANENT_ATTEMPTS`] times in a row for a
/// permanent reason (a `--once` run then gives up).
async fn any_permanent_failure(handles: &[ReflectorHandle]) -> SyncFailure {
    let waits = handles.iter().map(|h| Box::pin(permanent_failure(h)));
    futures::future::select_all(waits).await.0
}

/// Resolves once the reflector failed [`ONCE_PERMANENT_ATTEMPTS`] times in a row for a
/// permanent reason (a `--once` run then gives up).
async fn permanent_failure(handle: &ReflectorHandle) -> SyncFailure {
    let mut states = handle.subscribe_sync_state();
    loop {
        if let Some(failure) = states.borrow_and_update().failure()
            && failure.is_permanent()
            && failure.attempts >= ONCE_PERMANENT_ATTEMPTS
        {
            return failure.clone();
        }
        if states.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Logs each change of the sync state's phase or reason: why the mirror is not synced, and
/// when it is again. (Each failed attempt is logged by the reflector itself.)
async fn log_sync_state(handle: ReflectorHandle) {
    let mut states = handle.subscribe_sync_state();
    let mut last: Option<(std::mem::Discriminant<SyncState>, Option<SyncFailureKind>)> = None;
    loop {
        let state = states.borrow_and_update().clone();
        let now = (std::mem::discriminant(&state), state.failure().map(|f| f.kind));
        if last.is_some_and(|l| l != now) || (last.is_none() && state.failure().is_some()) {
            match &state {
                SyncState::Failing(failure) => warn!(
                    source = handle.source_name(),
                    reason = %failure.kind,
                    permanent = failure.is_permanent(),
                    error = %failure.message,
                    "not synced: {}",
                    failure.kind
                ),
                other => info!(source = handle.source_name(), state = %other, "sync state changed"),
            }
        }
        last = Some(now);
        if states.changed().await.is_err() {
            return;
        }
    }
}

/// Aborts a background task (the sync-state logger) when the run ends.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// The first error of the reflectors' results, if any.
fn finish_reflectors(results: Vec<TaskResult>) -> Result<(), MirrorError> {
    for result in results {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(MirrorError::GaveUp(err)),
            Err(err) => return Err(MirrorError::Runtime(format!("the reflector task failed: {err}"))),
        }
    }
    Ok(())
}

fn start_metrics(options: &MirrorOptions) -> Result<(), MirrorError> {
    let Some(addr) = options.metrics else { return Ok(()) };
    metrics::install(addr).map_err(|e| MirrorError::Usage(format!("--metrics {addr}: {e}")))?;
    info!(%addr, "serving metrics at /metrics");
    Ok(())
}

/// Where a snapshot goes.
enum Target {
    File(std::path::PathBuf),
    Stdout(Output),
}

impl Target {
    fn of(options: &MirrorOptions, output: &Output) -> Self {
        match &options.snapshot {
            Some(path) => Self::File(path.clone()),
            None => Self::Stdout(output.clone()),
        }
    }
}

/// Renders the mirrors (each one's version read before its items; see [`crate::snapshot`])
/// and writes them to the snapshot file or stdout: a version 1 snapshot for one SOURCE, a
/// version 2 one for several.
async fn write_snapshot(mirrors: &[&dyn Running], target: Target) -> Result<(), MirrorError> {
    let mut entries: Vec<Entry> = mirrors.iter().map(|m| m.capture()).collect();
    let write = move |out: &mut dyn Write, layout: Layout| -> std::io::Result<()> {
        if entries.len() == 1
            && let Some(entry) = entries.pop()
        {
            return entry(out, layout, false);
        }
        snapshot::write_v2(
            out,
            layout,
            entries.into_iter().map(|entry| move |out: &mut dyn Write, layout| entry(out, layout, true)),
        )
    };
    let task = tokio::task::spawn_blocking(move || match target {
        // Streamed into the file: the snapshot is never a second copy of the mirror in memory.
        Target::File(path) => {
            snapshot::write_atomic_with(&path, |out| write(out, Layout::Lines))?;
            tracing::debug!(path = %path.display(), "snapshot written");
            Ok(())
        }
        Target::Stdout(output) => {
            let mut bytes = Vec::new();
            write(&mut bytes, Layout::Compact).map_err(|e| MirrorError::Runtime(format!("snapshot: {e}")))?;
            output.line(String::from_utf8_lossy(bytes.trim_ascii_end()).into_owned());
            Ok(())
        }
    });
    task.await.map_err(|e| MirrorError::Runtime(format!("snapshot task failed: {e}")))?
}

/// Writes the snapshot after the initial sync, then after changes of any SOURCE, at most once
/// per `interval`, until cancelled (the caller writes the final one). Mirrors resumed from the
/// file skip the first write while each still stands at the version it resumed from.
async fn snapshot_loop(
    mirrors: &[&dyn Running],
    interval: std::time::Duration,
    path: std::path::PathBuf,
    resumed: Vec<Option<Version>>,
    cancel: CancellationToken,
) -> Result<(), MirrorError> {
    let mut resumed = Some(resumed);
    loop {
        let seen: Vec<u64> = mirrors.iter().map(|m| m.change_count()).collect();
        let unchanged = resumed.take().is_some_and(|resumed| {
            mirrors.iter().zip(&resumed).all(|(m, v)| v.is_some() && m.handle().last_synced_version() == *v)
        });
        if !unchanged {
            write_snapshot(mirrors, Target::File(path.clone())).await?;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        let changes = mirrors.iter().zip(&seen).map(|(m, seen)| m.changed_since(*seen));
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = futures::future::select_all(changes) => {}
        }
    }
}

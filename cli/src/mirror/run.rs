//! The run loop of `informer mirror`: sync, answer queries, keep the snapshot current, stop
//! cleanly on SIGINT/SIGTERM.

use std::sync::Arc;

use informer_core::{
    CancellationToken, ListerWatcher, Reflector, ReflectorError, ReflectorHandle, SyncFailure, SyncFailureKind,
    SyncState,
};
use serde_json::json;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

use super::{
    CountingSource, JsonIndex, ListProgress, MirrorError, MirrorOptions, MirrorStore, ONCE_PERMANENT_ATTEMPTS,
    ObjectAdapter,
};
use crate::metrics;
use crate::output::Output;
use crate::progress::SyncProgress;
use crate::snapshot;

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
/// snapshot without `--snapshot`).
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
    let mut shutdown = Shutdown::new()?;
    let counts = Arc::new(ListProgress::default());
    let index =
        (!options.indexes.is_empty()).then(|| Arc::new(JsonIndex::new(adapter.clone(), options.indexes.clone())));
    let forward = index.as_ref().map(|i| i.store());
    let resumed = if options.resume { load_resume(&adapter, options)? } else { None };
    let store = Arc::new(MirrorStore::new(adapter, forward, options.events.then(|| output.clone())));
    // The recorder first: the reflector registers its series when it is built.
    start_metrics(options, &source.describe(), &store)?;
    let mut reflector =
        Reflector::new(CountingSource::new(source, Arc::clone(&counts)), Arc::clone(&store), options.reflector.clone());
    // The snapshot file holds the resumed state: no need to write it again until something changed.
    let resumed_version = resumed.as_ref().map(|(_, version)| version.clone());
    if let Some((items, version)) = resumed {
        info!(objects = items.len(), %version, "resuming from the snapshot; watching without a list");
        reflector = reflector
            .resume_with(items, version)
            .map_err(|e| MirrorError::Usage(format!("--resume: the snapshot's items were refused: {e}")))?;
    }
    let handle = reflector.handle();
    store.set_event_versions(Arc::clone(&counts));

    let cancel = CancellationToken::new();
    let mut reflector_task = tokio::spawn(reflector.run(cancel.clone()));
    let progress = SyncProgress::start(handle.source_name(), Arc::clone(&counts));

    let _state_log = AbortOnDrop(Some(tokio::spawn(log_sync_state(handle.clone()))));

    tokio::select! {
        synced = handle.wait_synced() => {
            if !synced {
                return finish_reflector(reflector_task.await);
            }
        }
        failure = permanent_failure(&handle), if options.once => {
            drop(progress);
            cancel.cancel();
            finish_reflector(reflector_task.await)?;
            return Err(MirrorError::NotSynced(failure));
        }
        signal = shutdown.recv() => {
            info!(signal, "stopping before the initial sync finished; no snapshot written");
            drop(progress);
            cancel.cancel();
            return finish_reflector(reflector_task.await);
        }
    }
    progress.finish(&format!(
        "synced {} objects at version {}",
        store.len(),
        handle.last_synced_version().as_deref().unwrap_or("")
    ));
    info!(source = handle.source_name(), objects = store.len(), "initial sync done");

    if let Some(index) = &index {
        answer_queries(index, options, output)?;
    }

    if options.once {
        let result = write_snapshot(&store, &handle, &options.source, Target::of(options, output)).await;
        cancel.cancel();
        finish_reflector(reflector_task.await)?;
        return result;
    }

    let writer_cancel = CancellationToken::new();
    let writer = options.snapshot.clone().map(|path| {
        tokio::spawn(snapshot_loop(
            Arc::clone(&store),
            handle.clone(),
            options.source.clone(),
            options.snapshot_interval,
            path,
            resumed_version,
            writer_cancel.clone(),
        ))
    });
    let outcome = tokio::select! {
        result = &mut reflector_task => Some(result),
        signal = shutdown.recv() => {
            info!(signal, "stopping; writing the final snapshot");
            None
        }
    };
    cancel.cancel();
    let reflector_result = match outcome {
        Some(result) => result,
        None => reflector_task.await,
    };
    writer_cancel.cancel();
    if let Some(writer) = writer {
        match writer.await {
            Ok(Err(err)) => warn!(error = %err, "snapshot writer failed"),
            Err(err) => warn!(error = %err, "snapshot writer stopped"),
            Ok(Ok(())) => {}
        }
    }
    // The reflector has stopped: the mirror and its version are final and consistent.
    if options.snapshot.is_some() {
        write_snapshot(&store, &handle, &options.source, Target::of(options, output)).await?;
    }
    finish_reflector(reflector_result)
}

/// A snapshot's objects and version, to resume from.
type Resumed<T> = (Vec<Arc<T>>, informer_core::Version);

/// The items and version of the `--snapshot` file for `--resume`; `None` (start cold) if the
/// file does not exist yet or has no version.
fn load_resume<T>(adapter: &ObjectAdapter<T>, options: &MirrorOptions) -> Result<Option<Resumed<T>>, MirrorError> {
    let Some(path) = &options.snapshot else { return Ok(None) };
    let Some(from_json) = adapter.reader() else {
        return Err(MirrorError::Usage(format!(
            "--resume: objects of {} cannot be read back from a snapshot",
            options.source
        )));
    };
    let check_source = |source: &str| match source == options.source {
        true => Ok(()),
        false => Err(format!(
            "snapshot {} mirrors {source:?}, not {:?}; remove it or drop --resume",
            path.display(),
            options.source
        )),
    };
    // Streamed: only the objects are held, never the whole file's JSON tree.
    let read = snapshot::read(path, check_source, |key, json| from_json(key, json).map(Arc::new));
    let Some(read) = read.map_err(|e| MirrorError::Usage(format!("--resume: {e}")))? else {
        info!(path = %path.display(), "no snapshot yet; starting with a list");
        return Ok(None);
    };
    let Some(version) = read.version else {
        info!(path = %path.display(), "the snapshot has no version; starting with a list");
        return Ok(None);
    };
    Ok(Some((read.items, version)))
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

fn finish_reflector(result: Result<Result<(), ReflectorError>, tokio::task::JoinError>) -> Result<(), MirrorError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(MirrorError::GaveUp(err)),
        Err(err) => Err(MirrorError::Runtime(format!("the reflector task failed: {err}"))),
    }
}

fn start_metrics<T: Send + Sync + 'static>(
    options: &MirrorOptions,
    name: &str,
    store: &MirrorStore<T>,
) -> Result<(), MirrorError> {
    let Some(addr) = options.metrics else { return Ok(()) };
    metrics::install(addr).map_err(|e| MirrorError::Usage(format!("--metrics {addr}: {e}")))?;
    info!(%addr, "serving metrics at /metrics");
    store.record_objects(name);
    Ok(())
}

fn answer_queries<T: Send + Sync + 'static>(
    index: &JsonIndex<T>,
    options: &MirrorOptions,
    output: &Output,
) -> Result<(), MirrorError> {
    for query in &options.queries {
        let keys = index
            .by_index(&query.name, &query.value)
            .map_err(|e| MirrorError::Usage(format!("--query {}={}: {e}", query.name, query.value)))?;
        let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        output.line(json!({"type": "QUERY", "index": query.name, "value": query.value, "keys": keys}).to_string());
    }
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

/// Renders the mirror (version read before the items; see [`crate::snapshot`]) and writes it
/// to the snapshot file or stdout.
async fn write_snapshot<T: Send + Sync + 'static>(
    store: &Arc<MirrorStore<T>>,
    handle: &ReflectorHandle,
    source: &str,
    target: Target,
) -> Result<(), MirrorError> {
    let version = handle.last_synced_version();
    let items = store.sorted();
    let store = Arc::clone(store);
    let source = source.to_string();
    let task = tokio::task::spawn_blocking(move || {
        let adapter = store.adapter();
        match target {
            // Streamed into the file: the snapshot is never a second copy of the mirror in memory.
            Target::File(path) => {
                snapshot::write_atomic_with(&path, |out| {
                    let layout = snapshot::Layout::Lines;
                    snapshot::write_to(out, layout, &source, version.as_ref(), &items, |out, o| {
                        adapter.write_json(out, o)
                    })
                })?;
                tracing::debug!(path = %path.display(), objects = items.len(), "snapshot written");
                Ok(())
            }
            Target::Stdout(output) => {
                let mut bytes = Vec::new();
                let layout = snapshot::Layout::Compact;
                snapshot::write_to(&mut bytes, layout, &source, version.as_ref(), &items, |out, o| {
                    adapter.write_json(out, o)
                })
                .map_err(|e| MirrorError::Runtime(format!("snapshot: {e}")))?;
                output.line(String::from_utf8_lossy(bytes.trim_ascii_end()).into_owned());
                Ok(())
            }
        }
    });
    task.await.map_err(|e| MirrorError::Runtime(format!("snapshot task failed: {e}")))?
}

/// Writes the snapshot after the initial sync, then after changes, at most once per
/// `snapshot_interval`, until cancelled (the caller writes the final one). A mirror resumed from
/// the file at `resumed` skips the first write while it still stands at that version.
async fn snapshot_loop<T: Send + Sync + 'static>(
    store: Arc<MirrorStore<T>>,
    handle: ReflectorHandle,
    source: String,
    interval: std::time::Duration,
    path: std::path::PathBuf,
    mut resumed: Option<informer_core::Version>,
    cancel: CancellationToken,
) -> Result<(), MirrorError> {
    loop {
        let seen = store.change_count();
        let unchanged = resumed.take().is_some_and(|v| handle.last_synced_version().as_ref() == Some(&v));
        if !unchanged {
            write_snapshot(&store, &handle, &source, Target::File(path.clone())).await?;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = store.changed_since(seen) => {}
        }
    }
}

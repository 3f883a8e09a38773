//! [`MirrorSource`]: one SOURCE of a run, its object type hidden, so that one run can mirror
//! SOURCEs of different backends side by side.
//!
//! A backend builds a `MirrorSource` from its [`ListerWatcher`] and [`ObjectAdapter`];
//! [`run_mirrors`](super::run_mirrors) reads the snapshot's items back into it (`--resume`),
//! then starts it: a reflector over a [`MirrorStore`] of its own, a [`ListProgress`], indexes.

use std::io::Write;
use std::sync::Arc;

use futures::future::BoxFuture;
use informer_core::{CancellationToken, ListerWatcher, Reflector, ReflectorError, ReflectorHandle, Version};
use parking_lot::Mutex;
use serde_json::json;
use tracing::info;

use super::{CountingSource, JsonIndex, ListProgress, MirrorError, MirrorOptions, MirrorStore, ObjectAdapter};
use crate::output::Output;
use crate::snapshot::{self, Layout};

/// One SOURCE to mirror: its text as given, its source and adapter (type erased), and what must
/// live as long as it is mirrored (the demo's churn loop).
///
/// ```
/// use informer_cli::mirror::MirrorSource;
/// use informer_memory::MemorySource;
/// use informer_memory::demo::DemoPod;
/// let source = MirrorSource::new("memory://demo", MemorySource::<DemoPod>::new(), informer_cli::sources::memory::adapter());
/// assert_eq!(source.text(), "memory://demo");
/// ```
pub struct MirrorSource {
    text: String,
    pending: Box<dyn Pending>,
    guard: Option<Box<dyn Send>>,
}

impl std::fmt::Debug for MirrorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorSource").field("text", &self.text).finish()
    }
}

impl MirrorSource {
    /// The SOURCE `text` (as given on the command line: it names the source in snapshots and
    /// event lines), mirrored from `source` with `adapter`.
    pub fn new<L: ListerWatcher>(text: impl Into<String>, source: L, adapter: ObjectAdapter<L::Object>) -> Self {
        let pending = Typed { source, adapter, resume_items: Vec::new(), resume_version: None };
        Self { text: text.into(), pending: Box::new(pending), guard: None }
    }

    /// Keeps `guard` alive until the run ends (builder style), e.g. a drop guard that stops a
    /// background task feeding the source.
    #[must_use]
    pub fn with_guard(mut self, guard: impl Send + 'static) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// The SOURCE as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub(super) fn can_resume(&self) -> bool {
        self.pending.can_resume()
    }

    pub(super) fn resume_item(&mut self, key: &str, json: &str) -> Result<(), String> {
        self.pending.resume_item(key, json)
    }

    /// Resume from the items read so far at `version`; `None` drops them (start with a list).
    pub(super) fn resume_at(&mut self, version: Option<Version>) {
        self.pending.resume_at(version);
    }

    /// Builds its store and reflector (not running yet).
    pub(super) fn start(self, options: &MirrorOptions, output: &Output, several: bool) -> Result<Mirror, MirrorError> {
        let running = self.pending.start(&self.text, options, output, several)?;
        Ok(Mirror { running, _guard: self.guard })
    }
}

/// A started SOURCE and its guard.
pub(super) struct Mirror {
    pub(super) running: Box<dyn Running>,
    _guard: Option<Box<dyn Send>>,
}

/// A reflector's `run`, erased.
pub(super) type RunFn = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, Result<(), ReflectorError>> + Send>;

/// One SOURCE's part of a snapshot, taken at one moment: writes itself as a version 1 snapshot
/// (`false`) or as an entry of a version 2 one (`true`).
pub(super) type Entry = Box<dyn FnOnce(&mut dyn Write, Layout, bool) -> std::io::Result<()> + Send>;

trait Pending: Send {
    fn can_resume(&self) -> bool;
    fn resume_item(&mut self, key: &str, json: &str) -> Result<(), String>;
    fn resume_at(&mut self, version: Option<Version>);
    fn start(
        self: Box<Self>,
        text: &str,
        options: &MirrorOptions,
        output: &Output,
        several: bool,
    ) -> Result<Box<dyn Running>, MirrorError>;
}

/// What the run loop needs of a started SOURCE, whatever its object type.
pub(super) trait Running: Send + Sync {
    fn text(&self) -> &str;
    fn handle(&self) -> &ReflectorHandle;
    fn counts(&self) -> Arc<ListProgress>;
    fn len(&self) -> usize;
    fn change_count(&self) -> u64;
    fn changed_since(&self, seen: u64) -> BoxFuture<'_, ()>;
    /// Prints the `--query` answers (with the SOURCE when there are several).
    fn answer_queries(&self, options: &MirrorOptions, output: &Output, several: bool) -> Result<(), MirrorError>;
    /// The mirror now: its version read before its items (see [`crate::snapshot`]).
    fn capture(&self) -> Entry;
    fn take_run(&mut self) -> Option<RunFn>;
    /// The version it resumed from, if it did.
    fn resumed_version(&self) -> Option<Version>;
}

struct Typed<L: ListerWatcher> {
    source: L,
    adapter: ObjectAdapter<L::Object>,
    resume_items: Vec<Arc<L::Object>>,
    resume_version: Option<Version>,
}

impl<L: ListerWatcher> Pending for Typed<L> {
    fn can_resume(&self) -> bool {
        self.adapter.reader().is_some()
    }

    fn resume_item(&mut self, key: &str, json: &str) -> Result<(), String> {
        let from_json = self.adapter.reader().ok_or("objects of this SOURCE cannot be read back")?;
        self.resume_items.push(Arc::new(from_json(key, json)?));
        Ok(())
    }

    fn resume_at(&mut self, version: Option<Version>) {
        if version.is_none() {
            self.resume_items.clear();
        }
        self.resume_version = version;
    }

    fn start(
        self: Box<Self>,
        text: &str,
        options: &MirrorOptions,
        output: &Output,
        several: bool,
    ) -> Result<Box<dyn Running>, MirrorError> {
        let Typed { source, adapter, resume_items, resume_version } = *self;
        let counts = Arc::new(ListProgress::default());
        let index =
            (!options.indexes.is_empty()).then(|| Arc::new(JsonIndex::new(adapter.clone(), options.indexes.clone())));
        let forward = index.as_ref().map(|i| i.store());
        let mut store = MirrorStore::new(adapter, forward, options.events.then(|| output.clone()));
        let mut config = options.reflector.clone();
        if several {
            // Each SOURCE's event lines and metric series are told apart by the SOURCE as given
            // (two demo sources both describe themselves as `memory://demo`).
            store = store.with_source_label(text);
            config = config.with_name(text);
        }
        let store = Arc::new(store);
        if options.metrics.is_some() {
            store.record_objects(&config.name.clone().unwrap_or_else(|| source.describe()));
        }
        let mut reflector =
            Reflector::new(CountingSource::new(source, Arc::clone(&counts)), Arc::clone(&store), config);
        if let Some(version) = resume_version.clone() {
            info!(source = text, objects = resume_items.len(), %version, "resuming from the snapshot; watching without a list");
            reflector = reflector.resume_with(resume_items, version).map_err(|e| {
                MirrorError::Usage(format!("--resume: the snapshot's items of {text} were refused: {e}"))
            })?;
        }
        store.set_event_versions(Arc::clone(&counts));
        let handle = reflector.handle();
        let run: RunFn = Box::new(move |cancel| Box::pin(reflector.run(cancel)));
        Ok(Box::new(Started {
            text: text.to_string(),
            store,
            index,
            handle,
            counts,
            run: Mutex::new(Some(run)),
            resume_version,
        }))
    }
}

struct Started<T> {
    text: String,
    store: Arc<MirrorStore<T>>,
    index: Option<Arc<JsonIndex<T>>>,
    handle: ReflectorHandle,
    counts: Arc<ListProgress>,
    /// Taken once; behind a lock because the reflector it holds need not be `Sync`.
    run: Mutex<Option<RunFn>>,
    resume_version: Option<Version>,
}

impl<T: Send + Sync + 'static> Running for Started<T> {
    fn text(&self) -> &str {
        &self.text
    }

    fn handle(&self) -> &ReflectorHandle {
        &self.handle
    }

    fn counts(&self) -> Arc<ListProgress> {
        Arc::clone(&self.counts)
    }

    fn len(&self) -> usize {
        self.store.len()
    }

    fn change_count(&self) -> u64 {
        self.store.change_count()
    }

    fn changed_since(&self, seen: u64) -> BoxFuture<'_, ()> {
        Box::pin(self.store.changed_since(seen))
    }

    fn answer_queries(&self, options: &MirrorOptions, output: &Output, several: bool) -> Result<(), MirrorError> {
        let Some(index) = &self.index else { return Ok(()) };
        for query in &options.queries {
            let keys = index
                .by_index(&query.name, &query.value)
                .map_err(|e| MirrorError::Usage(format!("--query {}={}: {e}", query.name, query.value)))?;
            let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            let mut line = json!({"type": "QUERY", "index": query.name, "value": query.value, "keys": keys});
            if several {
                line["source"] = json!(self.text);
            }
            output.line(line.to_string());
        }
        Ok(())
    }

    fn capture(&self) -> Entry {
        let version = self.handle.last_synced_version();
        let items = self.store.sorted();
        let store = Arc::clone(&self.store);
        let source = self.text.clone();
        Box::new(move |out: &mut dyn Write, layout, entry_of_several| {
            let adapter = store.adapter();
            if entry_of_several {
                snapshot::write_entry_v2(out, layout, &source, version.as_ref(), &items, |out, o| {
                    adapter.write_json(out, o)
                })
            } else {
                snapshot::write_to(out, layout, &source, version.as_ref(), &items, |out, o| adapter.write_json(out, o))
            }
        })
    }

    fn take_run(&mut self) -> Option<RunFn> {
        self.run.get_mut().take()
    }

    fn resumed_version(&self) -> Option<Version> {
        self.resume_version.clone()
    }
}

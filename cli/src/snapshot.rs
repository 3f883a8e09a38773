//! The `--snapshot` file: the whole mirror as one JSON object, written atomically.
//!
//! # Format
//!
//! **Version 1**, one SOURCE (what `informer mirror SOURCE` writes, unchanged since the first
//! release, and what every version reads):
//!
//! ```json
//! {"source":"etcd://127.0.0.1:2379/app/","version":"42","items":{
//! "/app/a":{...},
//! "/app/b":{...}
//! }}
//! ```
//!
//! **Version 2**, several SOURCEs (`informer mirror SRC1 SRC2 ...`): a `format` number, then
//! one entry per SOURCE, in command-line order, each a version 1 object (its SOURCE, its
//! version, its items):
//!
//! ```json
//! {"format":2,"sources":[
//! {"source":"etcd://127.0.0.1:2379/app/","version":"42","items":{
//! "/app/a":{...}
//! }},
//! {"source":"etcd://127.0.0.1:2379/config/","version":"42","items":{
//! }}
//! ]}
//! ```
//!
//! A snapshot without `format` is version 1. A run with one SOURCE keeps writing version 1, so
//! its files stay byte for byte what they were (and older binaries resume from them);
//! [`read_sources`] reads both versions, [`read`] one-SOURCE snapshots of either.
//!
//! Keys are sorted, one item a line (compact JSON), which lets [`read`] find items with a line
//! search; any other layout of the same JSON reads too, more slowly. `version` is the newest version the mirror had applied when the snapshot
//! was taken (read *before* the items, so the items are never older than the version: a
//! reader that resumes from `version` may see a change twice but never misses one). In version
//! 2 each SOURCE has its own version: each resumes from its own.
//!
//! Writes go to a temporary file in the same directory, are flushed to disk, and then renamed
//! over the target, so a reader sees either the old or the new snapshot, never a partial one.
//! The file is created with mode 0600 (owner only): a mirror of secrets or credentials must not
//! become readable by everyone through the usual umask, which is how etcd writes its snapshots.
//!
//! `--resume` reads a snapshot back with [`read_sources`], item by item: each SOURCE's mirror
//! starts from its entry's items and watches from its entry's version.

mod read;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use informer_core::{ObjectKey, Version};
use serde_json::Value;

pub use read::{Read, read, read_sources};

/// The `format` of snapshots with several SOURCEs (see [Format](self#format)); a snapshot
/// without `format` is version 1.
pub const FORMAT_SOURCES: u64 = 2;

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write snapshot {path}: {source}")]
pub struct SnapshotError {
    /// The snapshot file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// How a snapshot's items are laid out: the same JSON either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line (a snapshot printed to stdout among JSON lines).
    Compact,
    /// The header on the first line, then one item a line: what [`read`] reads fastest, and
    /// what snapshot files use.
    Lines,
}

/// Renders a snapshot from items already sorted by key, on one line.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{ObjectKey, Version};
/// let items = vec![(ObjectKey::from("a"), Arc::new(1)), (ObjectKey::from("b"), Arc::new(2))];
/// let bytes = informer_cli::snapshot::render("memory://demo", Some(&Version::from("7")), &items,
///     |n: &i32| serde_json::json!(n));
/// assert_eq!(String::from_utf8(bytes).unwrap(),
///     "{\"source\":\"memory://demo\",\"version\":\"7\",\"items\":{\"a\":1,\"b\":2}}\n");
/// ```
pub fn render<T>(
    source: &str,
    version: Option<&Version>,
    items: &[(ObjectKey, Arc<T>)],
    to_json: impl Fn(&T) -> Value,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + items.len() * 128);
    // Writing into a Vec cannot fail: serde_json only fails on I/O or non-string map keys.
    let _ = write_to(&mut out, Layout::Compact, source, version, items, |out, object| {
        serde_json::to_writer(out, &to_json(object)).map_err(std::io::Error::from)
    });
    out
}

/// Writes a snapshot of items already sorted by key to `out`, each item's JSON written by
/// `write_item` (straight from the bytes an object keeps, where it keeps them), so a snapshot
/// of 100 000 objects is never held in memory a second time.
///
/// ```
/// use std::io::Write;
/// use std::sync::Arc;
/// use informer_core::ObjectKey;
/// let items = vec![(ObjectKey::from("a"), Arc::new(br#"{"x":1}"#.to_vec()))];
/// let mut out = Vec::new();
/// let layout = informer_cli::snapshot::Layout::Lines;
/// informer_cli::snapshot::write_to(&mut out, layout, "memory://demo", None, &items, |w, raw: &Vec<u8>| w.write_all(raw))
///     .unwrap();
/// assert_eq!(out, b"{\"source\":\"memory://demo\",\"version\":null,\"items\":{\n\"a\":{\"x\":1}\n}}\n");
/// ```
pub fn write_to<T, W: Write + ?Sized>(
    out: &mut W,
    layout: Layout,
    source: &str,
    version: Option<&Version>,
    items: &[(ObjectKey, Arc<T>)],
    write_item: impl Fn(&mut W, &T) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_entry(out, layout, false, source, version, items, write_item)?;
    out.write_all(b"\n")
}

/// Writes one SOURCE's entry of a version 2 snapshot (no newline after it): the object
/// [`write_to`] writes, with a line break after `"items":{` even when there is no item, so a
/// reader always finds the entry's end on a line of its own.
///
/// ```
/// use std::io::Write;
/// use std::sync::Arc;
/// use informer_core::ObjectKey;
/// let mut out = Vec::new();
/// let layout = informer_cli::snapshot::Layout::Lines;
/// let none: &[(ObjectKey, Arc<Vec<u8>>)] = &[];
/// informer_cli::snapshot::write_entry_v2(&mut out, layout, "memory://demo", None, none, |w, raw| w.write_all(raw))
///     .unwrap();
/// assert_eq!(out, b"{\"source\":\"memory://demo\",\"version\":null,\"items\":{\n}}");
/// ```
pub fn write_entry_v2<T, W: Write + ?Sized>(
    out: &mut W,
    layout: Layout,
    source: &str,
    version: Option<&Version>,
    items: &[(ObjectKey, Arc<T>)],
    write_item: impl Fn(&mut W, &T) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_entry(out, layout, true, source, version, items, write_item)
}

/// Writes a version 2 snapshot: the header, then each entry written by one of `entries` (with
/// [`write_entry_v2`]), then the end.
///
/// ```
/// use std::io::Write;
/// use informer_cli::snapshot::{Layout, write_entry_v2, write_v2};
/// let entry = |source: &'static str| move |out: &mut dyn Write, layout: Layout| {
///     let items = [(informer_core::ObjectKey::from("k"), std::sync::Arc::new(1))];
///     write_entry_v2(out, layout, source, None, &items, |w, n: &i32| write!(w, "{n}"))
/// };
/// let mut out = Vec::new();
/// write_v2(&mut out, Layout::Compact, [entry("a"), entry("b")]).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), concat!(
///     r#"{"format":2,"sources":[{"source":"a","version":null,"items":{"k":1}},"#,
///     r#"{"source":"b","version":null,"items":{"k":1}}]}"#, "\n"));
/// ```
pub fn write_v2<F>(out: &mut dyn Write, layout: Layout, entries: impl IntoIterator<Item = F>) -> std::io::Result<()>
where
    F: FnOnce(&mut dyn Write, Layout) -> std::io::Result<()>,
{
    let lines = layout == Layout::Lines;
    write!(out, "{{\"format\":{FORMAT_SOURCES},\"sources\":[")?;
    let mut any = false;
    for (i, entry) in entries.into_iter().enumerate() {
        out.write_all(match (i > 0, lines) {
            (true, true) => b",\n",
            (false, true) => b"\n",
            (true, false) => b",",
            (false, false) => b"",
        })?;
        entry(out, layout)?;
        any = true;
    }
    out.write_all(if lines && any { b"\n]}\n" } else { b"]}\n" })
}

/// One entry (`{"source":…,"version":…,"items":{…}}`), without a newline after it.
/// `always_break` puts the line break after `"items":{` in [`Layout::Lines`] even when there is
/// no item (version 2); version 1 writes an empty mirror as `"items":{}}`.
fn write_entry<T, W: Write + ?Sized>(
    out: &mut W,
    layout: Layout,
    always_break: bool,
    source: &str,
    version: Option<&Version>,
    items: &[(ObjectKey, Arc<T>)],
    write_item: impl Fn(&mut W, &T) -> std::io::Result<()>,
) -> std::io::Result<()> {
    out.write_all(b"{\"source\":")?;
    serde_json::to_writer(&mut *out, source)?;
    out.write_all(b",\"version\":")?;
    serde_json::to_writer(&mut *out, &version.map(Version::as_str))?;
    out.write_all(b",\"items\":{")?;
    // One item a line (the item's JSON is compact: it has no newline), so a reader finds each
    // item with a line search instead of a byte-at-a-time parse of the whole file.
    let lines = layout == Layout::Lines;
    let breaks = lines && (always_break || !items.is_empty());
    if breaks {
        out.write_all(b"\n")?;
    }
    for (i, (key, object)) in items.iter().enumerate() {
        if i > 0 {
            out.write_all(if lines { b",\n" } else { b"," })?;
        }
        serde_json::to_writer(&mut *out, key.as_str())?;
        out.write_all(b":")?;
        write_item(out, object)?;
    }
    out.write_all(if lines && !items.is_empty() { b"\n}}" } else { b"}}" })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, renamed over `path`.
///
/// A `path` that exists and is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) is
/// written in place instead: renaming over it would replace the device with a plain file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// [`write_atomic`], with the content written by `fill` through a buffer rather than held in
/// memory first.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), SnapshotError> {
    let err = |source| SnapshotError { path: path.to_path_buf(), source };
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        if meta.is_dir() {
            return Err(err(std::io::Error::other("is a directory")));
        }
        let written = std::fs::OpenOptions::new().write(true).open(path).and_then(|file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            fill(&mut out)?;
            out.flush()
        });
        return written.map_err(err);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "snapshot".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut out)?;
        let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// A snapshot read back for `--resume`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The SOURCE it was taken from.
    pub source: String,
    /// Its version (`None` if it was written before any version was known).
    pub version: Option<Version>,
    /// The items, by key, in their JSON form.
    pub items: serde_json::Map<String, Value>,
}

/// Reads the snapshot at `path`; `Ok(None)` if there is no such file. The error names the file
/// and what is wrong with it.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.json");
/// assert_eq!(informer_cli::snapshot::load(&path).unwrap(), None);
/// std::fs::write(&path, r#"{"source":"memory://demo","version":"7","items":{"a":1}}"#).unwrap();
/// let loaded = informer_cli::snapshot::load(&path).unwrap().unwrap();
/// assert_eq!((loaded.version.as_deref(), loaded.items.len()), (Some("7"), 1));
/// ```
pub fn load(path: &Path) -> Result<Option<Loaded>, String> {
    let item = |key: &str, json: &str| Ok((key.to_string(), serde_json::from_str(json).map_err(|e| e.to_string())?));
    let Some(read) = read(path, |_| Ok(()), item)? else { return Ok(None) };
    Ok(Some(Loaded { source: read.source, version: read.version, items: read.items.into_iter().collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        write_atomic(&path, b"one").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // Replacing a file made world-readable by someone else makes it private again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn load_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"source\": 1}").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.contains("bad.json") && err.contains("source"), "{err}");
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path).unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("snap.json")]);
    }

    #[test]
    fn atomic_write_names_the_file_when_the_directory_is_missing() {
        let err = write_atomic(Path::new("/nonexistent-informer-dir/snap.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-informer-dir/snap.json"), "{err}");
    }

    #[test]
    fn special_files_are_written_in_place_not_replaced() {
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null must stay a device");
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(dir.path(), b"x").unwrap_err().to_string().contains("is a directory"));
    }

    #[test]
    fn render_escapes_keys_and_writes_null_without_version() {
        let items = vec![(ObjectKey::from("a\"b"), Arc::new("x".to_string()))];
        let text = String::from_utf8(render("s", None, &items, |s: &String| Value::from(s.as_str()))).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["version"], Value::Null);
        assert_eq!(parsed["items"]["a\"b"], "x");
    }
}

//! The `--snapshot` file: the whole mirror as one JSON object, written atomically.
//!
//! ```json
//! {"source": "etcd://127.0.0.1:2379/app/", "version": "42", "items": {"/app/a": {...}, "/app/b": {...}}}
//! ```
//!
//! Keys are sorted. `version` is the newest version the mirror had applied when the snapshot
//! was taken (read *before* the items, so the items are never older than the version: a
//! reader that resumes from `version` may see a change twice but never misses one).
//!
//! Writes go to a temporary file in the same directory, are flushed to disk, and then renamed
//! over the target, so a reader sees either the old or the new snapshot, never a partial one.
//! The file is created with mode 0600 (owner only): a mirror of secrets or credentials must not
//! become readable by everyone through the usual umask, which is how etcd writes its snapshots.
//!
//! `--resume` reads a snapshot back with [`read`], item by item: the mirror starts from its
//! items and watches from its version.

mod read;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use informer_core::{ObjectKey, Version};
use serde_json::Value;

pub use read::{Read, read};

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

/// Renders a snapshot from items already sorted by key.
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
    // Writing JSON into a Vec cannot fail: serde_json only fails on I/O or non-string map keys.
    let _ = write_json(&mut out, source, version, items, to_json);
    out
}

fn write_json<T>(
    out: &mut Vec<u8>,
    source: &str,
    version: Option<&Version>,
    items: &[(ObjectKey, Arc<T>)],
    to_json: impl Fn(&T) -> Value,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"source\":");
    serde_json::to_writer(&mut *out, source)?;
    out.extend_from_slice(b",\"version\":");
    serde_json::to_writer(&mut *out, &version.map(Version::as_str))?;
    out.extend_from_slice(b",\"items\":{");
    for (i, (key, object)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key.as_str())?;
        out.push(b':');
        serde_json::to_writer(&mut *out, &to_json(object))?;
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, renamed over `path`.
///
/// A `path` that exists and is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) is
/// written in place instead: renaming over it would replace the device with a plain file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    let err = |source| SnapshotError { path: path.to_path_buf(), source };
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        if meta.is_dir() {
            return Err(err(std::io::Error::other("is a directory")));
        }
        return std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(bytes)).map_err(err);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "snapshot".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
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

//! Reading a snapshot back, item by item.
//!
//! A snapshot of 100 000 pods is hundreds of megabytes of JSON. Parsing it into one
//! `serde_json::Value` first holds the text's tree (several times the file's size) and the
//! objects made from it at once; [`read`] instead streams the file and hands each item's JSON to
//! the caller as soon as it is parsed, so only the objects stay.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use informer_core::Version;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A snapshot read by [`read`]: its SOURCE, version and the objects made from its items.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The SOURCE it was taken from.
    pub source: String,
    /// Its version (`None` if it was written before any version was known).
    pub version: Option<Version>,
    /// The objects, in the file's order (sorted by key).
    pub items: Vec<T>,
}

/// Reads the snapshot at `path` item by item; `Ok(None)` if there is no such file.
///
/// `check_source` sees the SOURCE before any item is read (the writer puts it first) and may
/// refuse it with a message, returned as it is. `item` makes an object of each item's key and
/// JSON text (as it stands in the file: parsed once, to find where it ends); its error is
/// returned naming the file and the key. Other errors name the file and
/// what is wrong with it.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.json");
/// std::fs::write(&path, r#"{"source":"memory://demo","version":"7","items":{"a":1,"b":2}}"#).unwrap();
/// let read = informer_cli::snapshot::read(&path, |_| Ok(()), |key, json| Ok((key.to_string(), json.len())))
///     .unwrap()
///     .unwrap();
/// assert_eq!((read.source.as_str(), read.version.as_deref(), read.items.len()), ("memory://demo", Some("7"), 2));
/// ```
pub fn read<T>(
    path: &Path,
    check_source: impl FnOnce(&str) -> Result<(), String>,
    mut item: impl FnMut(&str, &str) -> Result<T, String>,
) -> Result<Option<Read<T>>, String> {
    let open = || match std::fs::File::open(path) {
        Ok(file) => Ok(Some(BufReader::with_capacity(1 << 20, file))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("cannot read snapshot {}: {err}", path.display())),
    };
    let Some(mut file) = open()? else { return Ok(None) };
    // The layout the writer uses: the header on the first line, then one item a line.
    let mut header = String::new();
    file.read_line(&mut header).map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
    if let Some(header) = header.strip_suffix("\"items\":{\n") {
        return read_lines(path, header, file, check_source, item).map(Some);
    }
    // Any other layout: the streaming parser (serde_json reads it byte by byte).
    let Some(file) = open()? else { return Ok(None) };
    let mut failure = None;
    let visitor = SnapshotVisitor { check_source: Some(check_source), item: &mut item, failure: &mut failure, path };
    let mut deserializer = serde_json::Deserializer::from_reader(file);
    let parsed = deserializer.deserialize_map(visitor).and_then(|fields| deserializer.end().map(|()| fields));
    let (source, version, items) = match parsed {
        Ok(fields) => fields,
        Err(_) if failure.is_some() => return Err(failure.unwrap_or_default()),
        Err(e) if e.is_io() => return Err(format!("cannot read snapshot {}: {e}", path.display())),
        Err(e) => return Err(format!("snapshot {} is not a snapshot (invalid JSON: {e})", path.display())),
    };
    let (source, version) = source_and_version(path, source, version)?;
    let items = items.ok_or_else(|| format!("snapshot {} is not a snapshot: no \"items\" object", path.display()))?;
    Ok(Some(Read { source, version, items }))
}

/// The source and version of a header line `{"source":…,"version":…,` (its `"items":{` cut off).
#[derive(serde::Deserialize)]
struct Header {
    source: Option<Value>,
    version: Option<Value>,
}

/// The source and version, checked as the streaming parser checks them.
fn source_and_version(
    path: &Path,
    source: Option<Value>,
    version: Option<Value>,
) -> Result<(String, Option<Version>), String> {
    let bad = |what: &str| format!("snapshot {} is not a snapshot: {what}", path.display());
    let source = match source {
        Some(Value::String(source)) => source,
        _ => return Err(bad("no \"source\" string")),
    };
    let version = match version {
        Some(Value::String(v)) if !v.is_empty() => Some(Version::from(v)),
        Some(Value::Null) | None => None,
        _ => return Err(bad("\"version\" is neither a string nor null")),
    };
    Ok((source, version))
}

/// Reads the writer's layout: after the header line, one `"key":json` item a line (with a
/// trailing comma but on the last), then `}}`.
fn read_lines<T>(
    path: &Path,
    header: &str,
    mut file: impl BufRead,
    check_source: impl FnOnce(&str) -> Result<(), String>,
    mut item: impl FnMut(&str, &str) -> Result<T, String>,
) -> Result<Read<T>, String> {
    let invalid = |e: &dyn fmt::Display| format!("snapshot {} is not a snapshot (invalid JSON: {e})", path.display());
    let Header { source, version } =
        serde_json::from_str(&format!("{header}\"items\":{{}}}}")).map_err(|e| invalid(&e))?;
    let (source, version) = source_and_version(path, source, version)?;
    check_source(&source)?;
    let mut items = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if file.read_line(&mut line).map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))? == 0 {
            return Err(invalid(&"the file ends inside \"items\""));
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        if text == "}}" {
            break;
        }
        let entry = text.strip_suffix(',').unwrap_or(text);
        // The key is a JSON string; the rest after its colon is the item's JSON text.
        let mut keys = serde_json::Deserializer::from_str(entry).into_iter::<String>();
        let key = match keys.next() {
            Some(Ok(key)) => key,
            Some(Err(e)) => return Err(invalid(&e)),
            None => return Err(invalid(&"an empty line inside \"items\"")),
        };
        let json = entry[keys.byte_offset()..]
            .strip_prefix(':')
            .ok_or_else(|| invalid(&format!("no ':' after item {key:?}")))?;
        let object =
            item(&key, json).map_err(|reason| format!("snapshot {}: item {key:?}: {reason}", path.display()))?;
        items.push(object);
    }
    // Nothing but whitespace may follow.
    line.clear();
    while file.read_line(&mut line).map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))? > 0 {
        if !line.trim().is_empty() {
            return Err(invalid(&"trailing characters after the snapshot"));
        }
        line.clear();
    }
    Ok(Read { source, version, items })
}

/// The top-level object: `source`, `version`, `items` (streamed), anything else skipped.
struct SnapshotVisitor<'a, C, F> {
    check_source: Option<C>,
    item: &'a mut F,
    /// Set when a callback refused something: the message to return instead of serde's.
    failure: &'a mut Option<String>,
    path: &'a Path,
}

impl<'de, T, C, F> Visitor<'de> for SnapshotVisitor<'_, C, F>
where
    C: FnOnce(&str) -> Result<(), String>,
    F: FnMut(&str, &str) -> Result<T, String>,
{
    type Value = (Option<Value>, Option<Value>, Option<Vec<T>>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut source, mut version, mut items) = (None, None, None);
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "source" => {
                    let value: Value = map.next_value()?;
                    if let (Value::String(text), Some(check)) = (&value, self.check_source.take())
                        && let Err(message) = check(text)
                    {
                        *self.failure = Some(message);
                        return Err(de::Error::custom("source refused"));
                    }
                    source = Some(value);
                }
                "version" => version = Some(map.next_value()?),
                "items" => {
                    let seed = ItemsSeed { item: &mut *self.item, failure: &mut *self.failure, path: self.path };
                    items = Some(map.next_value_seed(seed)?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((source, version, items))
    }
}

/// The `items` object, one entry at a time.
struct ItemsSeed<'a, F> {
    item: &'a mut F,
    failure: &'a mut Option<String>,
    path: &'a Path,
}

impl<'de, T, F> DeserializeSeed<'de> for ItemsSeed<'_, F>
where
    F: FnMut(&str, &str) -> Result<T, String>,
{
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T, F> Visitor<'de> for ItemsSeed<'_, F>
where
    F: FnMut(&str, &str) -> Result<T, String>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of items by key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<String>()? {
            let json: Box<RawValue> = map.next_value()?;
            match (self.item)(&key, json.get()) {
                Ok(object) => out.push(object),
                Err(reason) => {
                    *self.failure = Some(format!("snapshot {}: item {key:?}: {reason}", self.path.display()));
                    return Err(de::Error::custom("item refused"));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn keys(path: &Path) -> Result<Option<Read<String>>, String> {
        read(path, |_| Ok(()), |key, _| Ok(key.to_string()))
    }

    #[test]
    fn items_are_handed_over_in_file_order_with_source_and_version() {
        let (_dir, path) = write(r#"{"source":"s","version":"9","extra":[1],"items":{"a":{"x":1},"b":2}}"#);
        let read = keys(&path).unwrap().unwrap();
        assert_eq!(
            read,
            Read { source: "s".into(), version: Some(Version::from("9")), items: vec!["a".into(), "b".into()] }
        );
    }

    #[test]
    fn a_refused_source_stops_before_any_item_is_read() {
        let (_dir, path) = write(r#"{"source":"other","version":"9","items":{"a":1}}"#);
        let mut items_read = 0;
        let err = read(
            &path,
            |s| Err(format!("mirrors {s:?}")),
            |_, _| {
                items_read += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!((err.as_str(), items_read), ("mirrors \"other\"", 0));
    }

    #[test]
    fn a_refused_item_is_named_with_the_file() {
        let (_dir, path) = write(r#"{"source":"s","version":"9","items":{"good":1,"bad":2}}"#);
        let err =
            read(&path, |_| Ok(()), |key, _| if key == "bad" { Err("no kind".into()) } else { Ok(()) }).unwrap_err();
        assert!(err.contains("snap.json") && err.contains("item \"bad\": no kind"), "{err}");
    }

    #[test]
    fn malformed_files_are_named_with_the_problem() {
        for (text, problem) in [
            ("not json", "invalid JSON"),
            (r#"{"source":1,"items":{}}"#, "no \"source\" string"),
            (r#"{"source":"s","version":3,"items":{}}"#, "neither a string nor null"),
            (r#"{"source":"s","version":"1"}"#, "no \"items\" object"),
            (r#"{"source":"s","version":"1","items":{}} trailing"#, "invalid JSON"),
            (r#"{"source":"s","version":"1","items":{"a":"#, "invalid JSON"),
        ] {
            let (_dir, path) = write(text);
            let err = keys(&path).unwrap_err();
            assert!(err.contains("snap.json") && err.contains(problem), "{text}: {err}");
        }
    }

    #[test]
    fn a_missing_file_is_no_snapshot_and_a_null_version_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(keys(&dir.path().join("none.json")).unwrap(), None);
        let (_dir, path) = write(r#"{"source":"s","version":null,"items":{}}"#);
        assert_eq!(keys(&path).unwrap().unwrap().version, None);
    }

    #[test]
    fn the_writers_layout_reads_back_line_by_line_with_each_items_text() {
        use std::io::Write;
        use std::sync::Arc;
        let items: Vec<(informer_core::ObjectKey, Arc<String>)> = vec![
            ("a".into(), Arc::new(r#"{"x":[1,2]}"#.to_string())),
            ("b\"q".into(), Arc::new(r#""text, with: punctuation""#.to_string())),
        ];
        let mut bytes = Vec::new();
        crate::snapshot::write_to(
            &mut bytes,
            crate::snapshot::Layout::Lines,
            "s",
            Some(&Version::from("9")),
            &items,
            |w, raw: &String| w.write_all(raw.as_bytes()),
        )
        .unwrap();
        let (_dir, path) = write(std::str::from_utf8(&bytes).unwrap());
        let read = read(&path, |_| Ok(()), |key, json| Ok((key.to_string(), json.to_string()))).unwrap().unwrap();
        assert_eq!((read.source.as_str(), read.version.as_deref()), ("s", Some("9")));
        assert_eq!(
            read.items,
            vec![
                ("a".to_string(), r#"{"x":[1,2]}"#.to_string()),
                ("b\"q".to_string(), r#""text, with: punctuation""#.to_string()),
            ]
        );
        // The empty mirror too.
        let mut bytes = Vec::new();
        crate::snapshot::write_to(
            &mut bytes,
            crate::snapshot::Layout::Lines,
            "s",
            None,
            &[] as &[(informer_core::ObjectKey, Arc<String>)],
            |w, raw| w.write_all(raw.as_bytes()),
        )
        .unwrap();
        let (_dir, path) = write(std::str::from_utf8(&bytes).unwrap());
        assert_eq!(keys(&path).unwrap().unwrap().items, Vec::<String>::new());
    }

    #[test]
    fn a_damaged_file_in_the_writers_layout_is_named_with_the_problem() {
        let header = "{\"source\":\"s\",\"version\":\"1\",\"items\":{\n";
        for (body, problem) in [
            ("\"a\":1,\n\"b\":2,\n", "ends inside \"items\""),
            ("a:1\n}}\n", "invalid JSON"),
            ("\"a\"1\n}}\n", "no ':' after item \"a\""),
            ("\"a\":1\n}}\nmore\n", "trailing characters"),
        ] {
            let (_dir, path) = write(&format!("{header}{body}"));
            let err = keys(&path).unwrap_err();
            assert!(err.contains("snap.json") && err.contains(problem), "{body:?}: {err}");
        }
        let (_dir, path) = write("{\"source\":3,\"version\":\"1\",\"items\":{\n}}\n");
        assert!(keys(&path).unwrap_err().contains("no \"source\" string"));
        let (_dir, path) = write(&format!("{header}\"good\":1,\n\"bad\":2\n}}}}\n"));
        let err =
            read(&path, |_| Ok(()), |key, _| if key == "bad" { Err("no kind".into()) } else { Ok(()) }).unwrap_err();
        assert!(err.contains("snap.json") && err.contains("item \"bad\": no kind"), "{err}");
        let err = read(&path, |s| Err(format!("mirrors {s:?}")), |_, _| Ok(())).unwrap_err();
        assert_eq!(err, "mirrors \"s\"");
    }
}

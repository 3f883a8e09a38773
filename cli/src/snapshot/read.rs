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
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::FORMAT_SOURCES;

/// One SOURCE's part of a snapshot read by [`read`] or [`read_sources`]: its SOURCE, version
/// and the objects made from its items.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The SOURCE it was taken from.
    pub source: String,
    /// Its version (`None` if it was written before any version was known).
    pub version: Option<Version>,
    /// The objects, in the file's order (sorted by key).
    pub items: Vec<T>,
}

/// Reads the one-SOURCE snapshot at `path` item by item; `Ok(None)` if there is no such file.
/// Both formats read (see [`crate::snapshot`]); a version 2 snapshot of several SOURCEs is an
/// error that names them.
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
    let mut check_source = Some(check_source);
    let check = |source: &str| check_source.take().map_or(Ok(()), |check| check(source));
    let Some(mut entries) = read_sources(path, check, |_, key, json| item(key, json))? else { return Ok(None) };
    if entries.len() != 1 {
        let sources: Vec<&str> = entries.iter().map(|e| e.source.as_str()).collect();
        return Err(format!(
            "snapshot {} holds {} SOURCEs ({}), not one",
            path.display(),
            entries.len(),
            sources.join(", ")
        ));
    }
    Ok(entries.pop())
}

/// Reads the snapshot at `path`, of either format, item by item: one [`Read`] per SOURCE, in
/// the file's order (a version 1 snapshot has one); `Ok(None)` if there is no such file.
///
/// `check_source` sees each entry's SOURCE before any of its items is read and may refuse it
/// with a message, returned as it is. `item` gets the entry's SOURCE, the item's key and its
/// JSON text; its error is returned naming the file, the SOURCE and the key. (In a file not
/// laid out as the writer does, an item that comes before its entry's `source` gets `""`.)
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.json");
/// std::fs::write(&path, r#"{"format":2,"sources":[{"source":"a","version":"7","items":{"k":1}},
///     {"source":"b","version":null,"items":{}}]}"#).unwrap();
/// let read = informer_cli::snapshot::read_sources(&path, |_| Ok(()), |source, key, _| Ok(format!("{source} {key}")))
///     .unwrap()
///     .unwrap();
/// assert_eq!(read.len(), 2);
/// assert_eq!((read[0].source.as_str(), read[0].version.as_deref(), read[0].items[0].as_str()), ("a", Some("7"), "a k"));
/// assert!(read[1].items.is_empty() && read[1].version.is_none());
/// ```
pub fn read_sources<T>(
    path: &Path,
    mut check_source: impl FnMut(&str) -> Result<(), String>,
    mut item: impl FnMut(&str, &str, &str) -> Result<T, String>,
) -> Result<Option<Vec<Read<T>>>, String> {
    let open = || match std::fs::File::open(path) {
        Ok(file) => Ok(Some(BufReader::with_capacity(1 << 20, file))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("cannot read snapshot {}: {err}", path.display())),
    };
    let Some(mut file) = open()? else { return Ok(None) };
    // The layouts the writer uses: the header on the first line, then one item a line.
    let mut header = String::new();
    file.read_line(&mut header).map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
    let mut lines = Lines { path, file, line: String::new() };
    if let Some(header) = header.strip_suffix("\"items\":{\n") {
        let entry = lines.entry(header, &mut check_source, &mut item)?;
        if entry.1 {
            return Err(invalid(path, &"a `,` after the only entry of a version 1 snapshot"));
        }
        lines.end()?;
        return Ok(Some(vec![entry.0]));
    }
    if header == format!("{{\"format\":{FORMAT_SOURCES},\"sources\":[\n") {
        let mut entries = Vec::new();
        loop {
            let Some(header) = lines.next_line()?.map(str::to_owned) else {
                return Err(invalid(path, &"the file ends inside \"sources\""));
            };
            let Some(header) = header.strip_suffix("\"items\":{") else {
                let which = entries.len();
                return Err(invalid(path, &format!("entry {which} of \"sources\" does not start a line of its own")));
            };
            let (entry, more) = lines.entry(header, &mut check_source, &mut item)?;
            entries.push(entry);
            if !more {
                break;
            }
        }
        if lines.next_line()? != Some("]}") {
            return Err(invalid(path, &"no `]}` after the last entry of \"sources\""));
        }
        lines.end()?;
        return Ok(Some(entries));
    }
    // Any other layout: the streaming parser (serde_json reads it byte by byte).
    let Some(file) = open()? else { return Ok(None) };
    let mut failure = None;
    let visitor = SnapshotVisitor { check_source: &mut check_source, item: &mut item, failure: &mut failure, path };
    let mut deserializer = serde_json::Deserializer::from_reader(file);
    let parsed = deserializer.deserialize_map(visitor).and_then(|fields| deserializer.end().map(|()| fields));
    let top = match parsed {
        Ok(fields) => fields,
        Err(_) if failure.is_some() => return Err(failure.unwrap_or_default()),
        Err(e) if e.is_io() => return Err(format!("cannot read snapshot {}: {e}", path.display())),
        Err(e) => return Err(format!("snapshot {} is not a snapshot (invalid JSON: {e})", path.display())),
    };
    let bad = |what: &str| format!("snapshot {} is not a snapshot: {what}", path.display());
    match top.format {
        None | Some(Value::Null) if top.sources.is_none() => Ok(Some(vec![top.entry.finish(path)?])),
        None | Some(Value::Null) => Err(bad("\"sources\" without \"format\"")),
        Some(Value::Number(n)) if n.as_u64() == Some(FORMAT_SOURCES) => {
            if top.entry.source.is_some() || top.entry.items.is_some() {
                return Err(bad("a version 2 snapshot with \"source\" or \"items\" outside \"sources\""));
            }
            let entries = top.sources.ok_or_else(|| bad("no \"sources\" array"))?;
            entries.into_iter().map(|entry| entry.finish(path)).collect::<Result<Vec<_>, _>>().map(Some)
        }
        Some(other) => Err(format!(
            "snapshot {} has format {other}, which this informer does not know (it reads 1 and {FORMAT_SOURCES}); \
             remove it or drop --resume",
            path.display()
        )),
    }
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

/// The writer's layout, read a line at a time.
struct Lines<'a, R> {
    path: &'a Path,
    file: R,
    line: String,
}

/// The message of a file that is not valid snapshot JSON.
fn invalid(path: &Path, e: &dyn fmt::Display) -> String {
    format!("snapshot {} is not a snapshot (invalid JSON: {e})", path.display())
}

impl<R: BufRead> Lines<'_, R> {
    fn invalid(&self, e: &dyn fmt::Display) -> String {
        invalid(self.path, e)
    }

    /// The next line without its newline; `None` at the end of the file.
    fn next_line(&mut self) -> Result<Option<&str>, String> {
        self.line.clear();
        let n = self.file.read_line(&mut self.line);
        if n.map_err(|e| format!("cannot read snapshot {}: {e}", self.path.display()))? == 0 {
            return Ok(None);
        }
        Ok(Some(self.line.strip_suffix('\n').unwrap_or(&self.line)))
    }

    /// One entry, after its header line `{"source":…,"version":…,` (its `"items":{` cut off):
    /// one `"key":json` item a line (with a trailing comma but on the last), then `}}`, or
    /// `}},` when another entry follows (the `bool`).
    fn entry<T>(
        &mut self,
        header: &str,
        check_source: &mut impl FnMut(&str) -> Result<(), String>,
        item: &mut impl FnMut(&str, &str, &str) -> Result<T, String>,
    ) -> Result<(Read<T>, bool), String> {
        let Header { source, version } =
            serde_json::from_str(&format!("{header}\"items\":{{}}}}")).map_err(|e| self.invalid(&e))?;
        let (source, version) = source_and_version(self.path, source, version)?;
        check_source(&source)?;
        let path = self.path;
        let mut items = Vec::new();
        loop {
            let Some(text) = self.next_line()? else {
                return Err(self.invalid(&"the file ends inside \"items\""));
            };
            let more = match text {
                "}}" => false,
                "}}," => true,
                _ => {
                    let entry = text.strip_suffix(',').unwrap_or(text);
                    let object = parse_item(path, &source, entry, item)?;
                    items.push(object);
                    continue;
                }
            };
            return Ok((Read { source, version, items }, more));
        }
    }

    /// Nothing but whitespace may follow.
    fn end(&mut self) -> Result<(), String> {
        while let Some(line) = self.next_line()? {
            if !line.trim().is_empty() {
                return Err(self.invalid(&"trailing characters after the snapshot"));
            }
        }
        Ok(())
    }
}

/// One `"key":json` item line of `source`'s entry.
fn parse_item<T>(
    path: &Path,
    source: &str,
    entry: &str,
    item: &mut impl FnMut(&str, &str, &str) -> Result<T, String>,
) -> Result<T, String> {
    let invalid = |e: &dyn fmt::Display| invalid(path, e);
    // The key is a JSON string; the rest after its colon is the item's JSON text.
    let mut keys = serde_json::Deserializer::from_str(entry).into_iter::<String>();
    let key = match keys.next() {
        Some(Ok(key)) => key,
        Some(Err(e)) => return Err(invalid(&e)),
        None => return Err(invalid(&"an empty line inside \"items\"")),
    };
    let json =
        entry[keys.byte_offset()..].strip_prefix(':').ok_or_else(|| invalid(&format!("no ':' after item {key:?}")))?;
    item(source, &key, json).map_err(|reason| item_error(path, source, &key, &reason))
}

fn item_error(path: &Path, source: &str, key: &str, reason: &str) -> String {
    format!("snapshot {}: {source}: item {key:?}: {reason}", path.display())
}

/// One entry as the streaming parser found it.
struct Entry<T> {
    source: Option<Value>,
    version: Option<Value>,
    items: Option<Vec<T>>,
}

impl<T> Entry<T> {
    fn finish(self, path: &Path) -> Result<Read<T>, String> {
        let (source, version) = source_and_version(path, self.source, self.version)?;
        let items =
            self.items.ok_or_else(|| format!("snapshot {} is not a snapshot: no \"items\" object", path.display()))?;
        Ok(Read { source, version, items })
    }
}

/// The top-level object: a version 1 entry's fields, or `format` and `sources`.
struct Top<T> {
    format: Option<Value>,
    sources: Option<Vec<Entry<T>>>,
    entry: Entry<T>,
}

/// The callbacks and the failure slot the streaming parser's visitors share.
struct SnapshotVisitor<'a, C, F> {
    check_source: &'a mut C,
    item: &'a mut F,
    /// Set when a callback refused something: the message to return instead of serde's.
    failure: &'a mut Option<String>,
    path: &'a Path,
}

impl<C, F> SnapshotVisitor<'_, C, F> {
    fn reborrow(&mut self) -> SnapshotVisitor<'_, C, F> {
        SnapshotVisitor {
            check_source: &mut *self.check_source,
            item: &mut *self.item,
            failure: &mut *self.failure,
            path: self.path,
        }
    }
}

impl<C, F> SnapshotVisitor<'_, C, F> {
    /// One field of an entry (`source`, `version`, `items`); `false` if `field` is not one.
    fn entry_field<'de, T, A>(&mut self, field: &str, entry: &mut Entry<T>, map: &mut A) -> Result<bool, A::Error>
    where
        C: FnMut(&str) -> Result<(), String>,
        F: FnMut(&str, &str, &str) -> Result<T, String>,
        A: MapAccess<'de>,
    {
        match field {
            "source" => {
                let value: Value = map.next_value()?;
                if let Value::String(text) = &value
                    && let Err(message) = (self.check_source)(text)
                {
                    *self.failure = Some(message);
                    return Err(de::Error::custom("source refused"));
                }
                entry.source = Some(value);
            }
            "version" => entry.version = Some(map.next_value()?),
            "items" => {
                let source = match &entry.source {
                    Some(Value::String(source)) => source.clone(),
                    _ => String::new(),
                };
                let seed = ItemsSeed { visitor: self.reborrow(), source };
                entry.items = Some(map.next_value_seed(seed)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de, T, C, F> Visitor<'de> for SnapshotVisitor<'_, C, F>
where
    C: FnMut(&str) -> Result<(), String>,
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Top<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = Top { format: None, sources: None, entry: Entry { source: None, version: None, items: None } };
        while let Some(field) = map.next_key::<String>()? {
            if self.entry_field(&field, &mut top.entry, &mut map)? {
                continue;
            }
            match field.as_str() {
                "format" => top.format = Some(map.next_value()?),
                "sources" => top.sources = Some(map.next_value_seed(EntriesSeed { visitor: self.reborrow() })?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

/// The `sources` array of a version 2 snapshot.
struct EntriesSeed<'a, C, F> {
    visitor: SnapshotVisitor<'a, C, F>,
}

impl<'de, T, C, F> DeserializeSeed<'de> for EntriesSeed<'_, C, F>
where
    C: FnMut(&str) -> Result<(), String>,
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Vec<Entry<T>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T, C, F> Visitor<'de> for EntriesSeed<'_, C, F>
where
    C: FnMut(&str) -> Result<(), String>,
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Vec<Entry<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of snapshot entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element_seed(EntrySeed { visitor: self.visitor.reborrow() })? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// One entry of `sources`.
struct EntrySeed<'a, C, F> {
    visitor: SnapshotVisitor<'a, C, F>,
}

impl<'de, T, C, F> DeserializeSeed<'de> for EntrySeed<'_, C, F>
where
    C: FnMut(&str) -> Result<(), String>,
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Entry<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T, C, F> Visitor<'de> for EntrySeed<'_, C, F>
where
    C: FnMut(&str) -> Result<(), String>,
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Entry<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot entry object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entry = Entry { source: None, version: None, items: None };
        while let Some(field) = map.next_key::<String>()? {
            if !self.visitor.entry_field(&field, &mut entry, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(entry)
    }
}

/// The `items` object of one entry, one item at a time.
struct ItemsSeed<'a, C, F> {
    visitor: SnapshotVisitor<'a, C, F>,
    source: String,
}

impl<'de, T, C, F> DeserializeSeed<'de> for ItemsSeed<'_, C, F>
where
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T, C, F> Visitor<'de> for ItemsSeed<'_, C, F>
where
    F: FnMut(&str, &str, &str) -> Result<T, String>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of items by key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<String>()? {
            let json: Box<RawValue> = map.next_value()?;
            match (self.visitor.item)(&self.source, &key, json.get()) {
                Ok(object) => out.push(object),
                Err(reason) => {
                    *self.visitor.failure = Some(item_error(self.visitor.path, &self.source, &key, &reason));
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

    fn sources(path: &Path) -> Result<Option<Vec<Read<String>>>, String> {
        read_sources(path, |_| Ok(()), |source, key, json| Ok(format!("{source} {key} {json}")))
    }

    /// One entry of [`v2`]: its SOURCE, version and (key, JSON) items.
    type TestEntry<'a> = (&'static str, Option<&'a str>, Vec<(&'a str, &'a str)>);

    /// A version 2 snapshot of `entries` in `layout`.
    fn v2(layout: crate::snapshot::Layout, entries: &[TestEntry<'_>]) -> String {
        use std::io::Write;
        use std::sync::Arc;
        let mut out = Vec::new();
        let writers = entries.iter().map(|(source, version, items)| {
            let items: Vec<(informer_core::ObjectKey, Arc<String>)> =
                items.iter().map(|(k, v)| ((*k).into(), Arc::new(v.to_string()))).collect();
            let version = version.map(Version::from);
            move |out: &mut dyn Write, layout| {
                crate::snapshot::write_entry_v2(out, layout, source, version.as_ref(), &items, |w, raw: &String| {
                    w.write_all(raw.as_bytes())
                })
            }
        });
        crate::snapshot::write_v2(&mut out, layout, writers).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_version_2_snapshot_reads_back_entry_by_entry_in_either_layout() {
        use crate::snapshot::Layout;
        let entries = [
            ("etcd://a/", Some("7"), vec![("/a/1", r#"{"v":1}"#), ("/a/2", "2")]),
            ("memory://demo", None, vec![]),
            ("etcd://b/", Some("9"), vec![("/b/1", r#""x,}}""#)]),
        ];
        for layout in [Layout::Lines, Layout::Compact] {
            let text = v2(layout, &entries);
            let (_dir, path) = write(&text);
            let read = sources(&path).unwrap().unwrap();
            let got: Vec<(&str, Option<&str>, Vec<String>)> =
                read.iter().map(|r| (r.source.as_str(), r.version.as_deref(), r.items.clone())).collect();
            assert_eq!(
                got,
                [
                    ("etcd://a/", Some("7"), vec![r#"etcd://a/ /a/1 {"v":1}"#.to_string(), "etcd://a/ /a/2 2".into()]),
                    ("memory://demo", None, vec![]),
                    ("etcd://b/", Some("9"), vec![r#"etcd://b/ /b/1 "x,}}""#.to_string()]),
                ],
                "{layout:?}: {text}"
            );
        }
        // The writer's layout: a header line, an entry's header, its items, one a line.
        assert!(v2(Layout::Lines, &entries).starts_with("{\"format\":2,\"sources\":[\n{\"source\":\"etcd://a/\""));
    }

    #[test]
    fn a_version_1_snapshot_is_one_entry_and_read_refuses_several() {
        let (_dir, path) = write(r#"{"source":"s","version":"9","items":{"a":1}}"#);
        let read = sources(&path).unwrap().unwrap();
        assert_eq!((read.len(), read[0].source.as_str(), read[0].items[0].as_str()), (1, "s", "s a 1"));
        let text = v2(crate::snapshot::Layout::Lines, &[("a", None, vec![]), ("b", None, vec![])]);
        let (_dir, path) = write(&text);
        let err = keys(&path).unwrap_err();
        assert!(err.contains("snap.json") && err.contains("2 SOURCEs (a, b)"), "{err}");
        // One entry in version 2 reads as a one-SOURCE snapshot.
        let (_dir, path) = write(&v2(crate::snapshot::Layout::Lines, &[("a", Some("3"), vec![("k", "1")])]));
        assert_eq!(keys(&path).unwrap().unwrap().items, ["k"]);
    }

    #[test]
    fn each_entrys_source_is_checked_before_its_items_and_named_in_item_errors() {
        let text = v2(crate::snapshot::Layout::Lines, &[("a", None, vec![("k", "1")]), ("b", None, vec![("k", "2")])]);
        let (_dir, path) = write(&text);
        let mut checked = Vec::new();
        let mut items = 0;
        let err = read_sources(
            &path,
            |s| {
                checked.push(s.to_string());
                if s == "b" { Err("b is not wanted".into()) } else { Ok(()) }
            },
            |_, _, _| {
                items += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!((err.as_str(), checked, items), ("b is not wanted", vec!["a".to_string(), "b".into()], 1));
        let err =
            read_sources(&path, |_| Ok(()), |s, _, _| if s == "b" { Err("bad".into()) } else { Ok(()) }).unwrap_err();
        assert!(err.contains("snap.json: b: item \"k\": bad"), "{err}");
    }

    #[test]
    fn damaged_or_unknown_version_2_files_are_named_with_the_problem() {
        let header = "{\"format\":2,\"sources\":[\n";
        for (text, problem) in [
            (header.to_string(), "ends inside \"sources\""),
            (format!("{header}{{\"source\":\"a\",\"version\":null,\"items\":{{\n\"k\":1\n"), "ends inside \"items\""),
            (format!("{header}{{\"source\":\"a\",\"version\":null,\"items\":{{\n}}}}\n"), "no `]}`"),
            (format!("{header}[]\n"), "does not start a line of its own"),
            (
                format!("{header}{{\"source\":\"a\",\"version\":null,\"items\":{{\n}}}}\n]}}\nmore"),
                "trailing characters",
            ),
            (r#"{"format":3,"sources":[]}"#.to_string(), "format 3"),
            (r#"{"sources":[]}"#.to_string(), "\"sources\" without \"format\""),
            (r#"{"format":2}"#.to_string(), "no \"sources\" array"),
            (r#"{"format":2,"sources":[{"version":"1","items":{}}]}"#.to_string(), "no \"source\" string"),
        ] {
            let (_dir, path) = write(&text);
            let err = sources(&path).unwrap_err();
            assert!(err.contains("snap.json") && err.contains(problem), "{text:?}: {err}");
        }
    }
}

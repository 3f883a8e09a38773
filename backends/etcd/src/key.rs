//! etcd keys as strings, and the key range a source mirrors.
//!
//! etcd keys are arbitrary bytes, but a store keys its objects by [`ObjectKey`], a string. This
//! module maps one to the other **losslessly**:
//!
//! * valid UTF-8 is kept as it is, except that a backslash is doubled (`\` → `\\`);
//! * every byte that is not part of valid UTF-8 is written as `\xNN` (two lower-case hex digits).
//!
//! So the common case (`/registry/pods/default/web-0`) is the key itself, and two different
//! byte keys never map to the same string. [`key_to_bytes`] is the inverse. The raw bytes are also
//! kept on every [`EtcdKeyValue`](crate::EtcdKeyValue).

use std::fmt;

use informer_core::ObjectKey;

/// Writes an etcd key as a string, losslessly: valid UTF-8 is kept except that a backslash is
/// doubled, and every byte that is not valid UTF-8 becomes `\xNN`. Keys without backslashes and
/// with valid UTF-8 (nearly all) are unchanged; two different keys never give the same string.
///
/// ```
/// use informer_etcd::{key_to_bytes, key_to_string};
/// assert_eq!(key_to_string(b"/app/a"), "/app/a");
/// assert_eq!(key_to_string(b"/app/\xff"), "/app/\\xff");
/// assert_eq!(key_to_string(b"a\\b"), "a\\\\b");
/// assert_eq!(key_to_bytes("/app/\\xff").unwrap(), b"/app/\xff");
/// ```
pub fn key_to_string(raw: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(raw)
        && !s.contains('\\')
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// The [`ObjectKey`] of an etcd key: [`key_to_string`] in an `ObjectKey`.
pub fn object_key(raw: &[u8]) -> ObjectKey {
    match std::str::from_utf8(raw) {
        Ok(s) if !s.contains('\\') => ObjectKey::new(s),
        _ => ObjectKey::from(key_to_string(raw)),
    }
}

/// A string that is not the output of [`key_to_string`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} is not an escaped etcd key: {reason}")]
pub struct KeyFormatError {
    /// The string that was given.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The raw etcd key of a string made by [`key_to_string`].
///
/// ```
/// assert!(informer_etcd::key_to_bytes("bad\\q").is_err());
/// ```
pub fn key_to_bytes(key: &str) -> Result<Vec<u8>, KeyFormatError> {
    let err = |reason| KeyFormatError { key: key.to_owned(), reason };
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = bytes.get(i + 2..i + 4).ok_or_else(|| err("`\\x` needs two hex digits"))?;
                let hex = std::str::from_utf8(hex).map_err(|_| err("`\\x` needs two hex digits"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| err("`\\x` needs two hex digits"))?);
                i += 4;
            }
            _ => return Err(err("a backslash must be followed by `\\` or `x`")),
        }
    }
    Ok(out)
}

/// The keys a source mirrors: every key with a prefix, or the half-open range `[start, end)`.
///
/// ```
/// use informer_etcd::KeyRange;
/// let r = KeyRange::prefix("/app/");
/// assert_eq!(r.start(), b"/app/");
/// assert_eq!(r.end(), b"/app0");
/// assert!(r.contains(b"/app/x"));
/// assert!(!r.contains(b"/apps"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRange {
    start: Vec<u8>,
    end: Vec<u8>,
    prefix: bool,
}

impl KeyRange {
    /// Every key that starts with `prefix`. An empty prefix is the whole key space.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let start: Vec<u8> = prefix.into();
        if start.is_empty() {
            return Self { start: vec![0], end: vec![0], prefix: true };
        }
        let end = prefix_end(&start);
        Self { start, end, prefix: true }
    }

    /// The keys in `[start, end)`. An `end` of `"\0"` (one zero byte) means "no upper bound",
    /// as in etcd's API.
    pub fn range(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        Self { start: start.into(), end: end.into(), prefix: false }
    }

    /// The first key of the range (inclusive).
    pub fn start(&self) -> &[u8] {
        &self.start
    }

    /// The end of the range (exclusive); `"\0"` is "no upper bound".
    pub fn end(&self) -> &[u8] {
        &self.end
    }

    /// True if `key` is inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && (self.end == [0] || key < self.end.as_slice())
    }
}

impl fmt::Debug for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix && self.start == [0] {
            write!(f, "all keys")
        } else if self.prefix {
            write!(f, "prefix {:?}", key_to_string(&self.start))
        } else if self.end == [0] {
            write!(f, "keys from {:?}", key_to_string(&self.start))
        } else {
            write!(f, "range [{:?}, {:?})", key_to_string(&self.start), key_to_string(&self.end))
        }
    }
}

/// The smallest key greater than every key with `prefix` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All bytes were 0xff: no key is greater, so the range is open-ended.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_keys_without_backslash_are_kept_verbatim() {
        assert_eq!(key_to_string("/ä/b".as_bytes()), "/ä/b");
        assert_eq!(object_key(b"/a/b"), "/a/b");
    }

    #[test]
    fn escaping_is_lossless_and_injective() {
        let keys: [&[u8]; 7] = [b"a\\xff", b"a\xff", b"\\", b"\\\\x", b"\xc3", b"\xc3\xa4", b"x\x00y"];
        let strings: Vec<String> = keys.iter().map(|k| key_to_string(k)).collect();
        for (k, s) in keys.iter().zip(&strings) {
            assert_eq!(key_to_bytes(s).unwrap(), *k, "{s}");
            assert_eq!(object_key(k), s.as_str());
        }
        let mut unique = strings.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), strings.len());
    }

    #[test]
    fn malformed_escapes_are_rejected_with_the_key() {
        for bad in ["\\", "\\x1", "\\xzz", "\\n"] {
            let err = key_to_bytes(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/a"), b"/b");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(KeyRange::prefix("").start(), [0]);
        assert!(KeyRange::prefix("").contains(b"anything"));
        assert!(KeyRange::range("b", "\0").contains(b"zz"));
        assert!(!KeyRange::range("b", "d").contains(b"d"));
    }
}

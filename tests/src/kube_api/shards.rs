//! Server-side sharding (KEP-5866, feature gate `ShardedListAndWatch`): the `shardSelector`
//! parameter of lists and watches.
//!
//! `shardRange(object.metadata.uid, '0x…', '0x…') || …`: an object matches when the FNV-1a 64
//! hash of the field's string value is in one of the ranges (start inclusive, end exclusive).
//! Fields: `object.metadata.uid` and `object.metadata.namespace`, the same in every range.
//! Bounds: `0x` and 16 lowercase hex digits, or `0x10000000000000000` (2^64); the start must
//! be below the end. Overlapping ranges are accepted, as by the real server. Lists echo the
//! selector, rewritten as the server writes it, in `metadata.shardInfo.selector`. An empty
//! parameter means no selector.
//!
//! The grammar is a small subset of CEL, parsed here by hand; messages follow the real
//! parser's where it has its own (field, bounds, order), and say what was expected otherwise.

use informer_core::shard::fnv1a64;

use super::db::Stored;
use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Uid,
    Namespace,
}

impl Field {
    fn path(self) -> &'static str {
        match self {
            Field::Uid => "object.metadata.uid",
            Field::Namespace => "object.metadata.namespace",
        }
    }
}

/// A parsed `shardSelector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardFilter {
    field: Field,
    /// `[start, end)` pairs, as given.
    ranges: Vec<(u128, u128, String, String)>,
}

impl ShardFilter {
    /// Parses the parameter; `None` when it is absent or empty. Errors are the real server's
    /// answer to an invalid selector.
    pub(crate) fn parse(text: Option<&str>) -> Result<Option<Self>, ApiError> {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(None);
        }
        Parser { text, pos: 0 }.selector().map(Some).map_err(|e| ApiError::invalid_shard_selector(&e))
    }

    /// True if the object's field hashes into one of the ranges.
    pub(crate) fn matches(&self, stored: &Stored) -> bool {
        let value = match self.field {
            Field::Uid => stored.uid.as_str(),
            Field::Namespace => stored.fields.get("metadata.namespace").map_or("", String::as_str),
        };
        let hash = u128::from(fnv1a64(value.as_bytes()));
        self.ranges.iter().any(|(start, end, _, _)| *start <= hash && hash < *end)
    }

    /// The selector as the real server writes it back in `shardInfo`.
    pub(crate) fn echo(&self) -> String {
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .map(|(_, _, start, end)| format!("shardRange({}, '{start}', '{end}')", self.field.path()))
            .collect();
        ranges.join(" || ")
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) { Ok(()) } else { Err(format!("expected {token:?} at {:?}", self.rest())) }
    }

    fn ident(&mut self) -> Result<&str, String> {
        self.skip_space();
        let len = self.rest().find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(self.rest().len());
        if len == 0 {
            return Err(format!("expected a name at {:?}", self.rest()));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.text[start..self.pos])
    }

    fn selector(&mut self) -> Result<ShardFilter, String> {
        let mut ranges = Vec::new();
        let mut field = None;
        loop {
            let (f, start, end) = self.shard_range()?;
            match field {
                None => field = Some(f),
                Some(first) if first != f => {
                    return Err(format!(
                        "all shard ranges must use the same field, got {:?} and {:?}",
                        first.path(),
                        f.path()
                    ));
                }
                _ => {}
            }
            ranges.push((start, end));
            self.skip_space();
            if self.rest().is_empty() {
                break;
            }
            self.expect("||")?;
        }
        let field = field.ok_or("empty shard selector")?;
        Ok(ShardFilter { field, ranges: ranges.into_iter().map(|((s, start), (e, end))| (s, e, start, end)).collect() })
    }

    fn shard_range(&mut self) -> Result<(Field, Bound, Bound), String> {
        let function = self.ident()?.to_string();
        if function != "shardRange" {
            return Err(format!("unsupported function {function:?}; only shardRange() and || are allowed"));
        }
        self.expect("(")?;
        let mut path = self.ident()?.to_string();
        while self.eat(".") {
            path.push('.');
            path.push_str(self.ident()?);
        }
        let field = match path.as_str() {
            "object.metadata.uid" => Field::Uid,
            "object.metadata.namespace" => Field::Namespace,
            _ => {
                return Err(format!(
                    "unsupported field path {path:?}; supported: object.metadata.uid, object.metadata.namespace"
                ));
            }
        };
        self.expect(",")?;
        let start = self.hex("hexStart")?;
        self.expect(",")?;
        let end = self.hex("hexEnd")?;
        self.expect(")")?;
        if start.0 >= end.0 {
            return Err(format!("shard range start {} must be less than end {}", start.1, end.1));
        }
        Ok((field, start, end))
    }

    /// A quoted hex bound: its value and its text.
    fn hex(&mut self, name: &str) -> Result<Bound, String> {
        self.skip_space();
        let quote = self.rest().chars().next().filter(|c| *c == '\'' || *c == '"');
        let Some(quote) = quote else {
            return Err(format!("{name} must be a string literal (e.g. '0xff')"));
        };
        let body_start = self.pos + 1;
        let len = self.text[body_start..].find(quote).ok_or_else(|| format!("{name}: unterminated string"))?;
        let s = self.text[body_start..body_start + len].to_string();
        self.pos = body_start + len + 1;
        let hex = s.strip_prefix("0x").ok_or_else(|| format!("{name} must have '0x' prefix, got {s:?}"))?;
        if hex.is_empty() {
            return Err(format!("{name}: hex value is required after '0x'"));
        }
        if hex.len() > 17 {
            return Err(format!("{name}: hex value too long ({} chars, max 17): {hex:?}", hex.len()));
        }
        if let Some(c) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(format!("{name}: invalid hex character {:?} in {s:?}", c.to_string()));
        }
        if hex.len() == 17 && s != "0x10000000000000000" {
            return Err(format!("{name}: 17-digit hex value must be '0x10000000000000000' (2^64), got {s:?}"));
        }
        if hex.len() < 16 {
            let padded = format!("0x{hex:0>16}");
            return Err(format!(
                "{name} must be a 0x-prefixed 16-digit hex value, got {s:?} (did you mean {padded:?}?)"
            ));
        }
        let value = u128::from_str_radix(hex, 16).map_err(|e| format!("{name}: {e}"))?;
        Ok((value, s))
    }
}

type Bound = (u128, String);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ShardFilter, String> {
        ShardFilter::parse(Some(text)).map(|f| f.expect("a selector")).map_err(|e| e.message)
    }

    #[test]
    fn parses_ranges_joined_by_or_and_echoes_them_canonically() {
        let f = parse(
            "shardRange(object.metadata.uid,'0x0000000000000000','0x4000000000000000')||  \
             shardRange( object.metadata.uid , \"0xc000000000000000\", '0x10000000000000000')",
        )
        .unwrap();
        assert_eq!(
            f.echo(),
            "shardRange(object.metadata.uid, '0x0000000000000000', '0x4000000000000000') || \
             shardRange(object.metadata.uid, '0xc000000000000000', '0x10000000000000000')"
        );
        assert_eq!(ShardFilter::parse(Some("")).unwrap(), None);
        assert_eq!(ShardFilter::parse(None).unwrap(), None);
    }

    #[test]
    fn refuses_bad_selectors_naming_what_is_wrong() {
        for (text, needle) in [
            ("shardRange(object.metadata.uid, '0x8000000000000000', '0x8000000000000000')", "must be less than end"),
            ("shardRange(object.metadata.name, '0x0000000000000000', '0x8000000000000000')", "unsupported field path"),
            ("shardRange(object.metadata.uid, '0x0', '0x8000000000000000')", "did you mean \"0x0000000000000000\"?"),
            ("shardRange(object.metadata.uid, '0x000000000000000G', '0x8000000000000000')", "invalid hex character"),
            ("shardRange(object.metadata.uid, '0x0000000000000000', '0x20000000000000000')", "17-digit"),
            ("labels(x)", "unsupported function"),
            (
                "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000') || \
                 shardRange(object.metadata.namespace, '0x8000000000000000', '0x10000000000000000')",
                "same field",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.starts_with("invalid shard selector: "), "{err}");
        }
    }
}

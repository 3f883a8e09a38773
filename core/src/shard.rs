//! Shards: which part of a collection one mirror keeps.
//!
//! An object belongs to a shard by a 64-bit hash of something that never changes for the
//! object's life: its key, or (Kubernetes) its `metadata.uid` or namespace. The hash space
//! `[0, 2^64)` is cut into [`ShardRange`]s; a [`ShardSelector`] is a non-empty union of
//! non-overlapping ranges, the unit a process is given to mirror.
//!
//! Two hashes, one per way of sharding:
//!
//! * [`fnv1a64`], FNV-1a 64 over the bytes of a value, is the hash Kubernetes' server-side
//!   sharding (KEP-5866, `shardSelector`) applies to `metadata.uid` or `metadata.namespace`.
//!   Use it to reproduce a server-side shard on the client.
//! * [`key_hash`] is the hash client-side sharding applies to keys ([`ShardRange::contains_key`],
//!   [`ShardSelector::contains_key`], [`Sharded::by_key`](crate::Sharded::by_key)): FNV-1a 64,
//!   then a 64-bit finalizer that spreads every input bit over the whole word. Ranges cut the
//!   space by its top bits, and FNV-1a alone barely moves them for keys that differ only in
//!   their last characters: `shop/web-0` to `shop/web-359` all fall in the first of three
//!   equal ranges under FNV-1a, and split 140/125/95 under `key_hash`. Random UIDs, what
//!   Kubernetes hashes, spread evenly under either.
//!
//! Bounds are written as Kubernetes writes them: `0x` and 16 lowercase hex digits, and the
//! end of the space, 2^64, as `0x10000000000000000`. A range prints as `START-END`
//! (`0x0000000000000000-0x8000000000000000`, also a valid Kubernetes object name, e.g. of a
//! Lease), a selector as its ranges joined by `,`.
//!
//! ```
//! use informer_core::shard::{ShardRange, ShardSelector, fnv1a64, key_hash};
//! let halves = ShardRange::FULL.split(2).unwrap();
//! assert_eq!(halves[0].to_string(), "0x0000000000000000-0x8000000000000000");
//! let first = ShardSelector::from(halves[0]);
//! let second = ShardSelector::from(halves[1]);
//! let key = b"default/web-0";
//! assert_ne!(first.contains_key(key), second.contains_key(key));
//! assert_eq!(fnv1a64(key), 0x2019a4a4401b52d6); // Kubernetes' hash
//! assert_eq!(key_hash(key), 0xd03b50f94f5d0a7e); // the key hash: FNV-1a, then mixed
//! ```

use std::fmt;
use std::str::FromStr;

/// 2^64: the exclusive end of the hash space.
const SPACE_END: u128 = 1 << 64;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`: the shard hash.
///
/// Kubernetes hashes the UTF-8 bytes of the field's string value (`metadata.uid` or
/// `metadata.namespace`) the same way.
///
/// ```
/// use informer_core::shard::fnv1a64;
/// assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
/// assert_eq!(fnv1a64(b"abc"), 0xe71fa2190541574b);
/// ```
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The hash client-side sharding gives a key: [`fnv1a64`], then the 64-bit finalizer of
/// MurmurHash3 (`fmix64`), a bijection that makes each input bit flip about half of the output
/// bits. Without it, keys that differ only at the end land in the same range (see the
/// [module docs](self)).
///
/// ```
/// use informer_core::shard::{fnv1a64, key_hash};
/// assert_eq!(key_hash(b"abc"), 0x33ebaf9927cbc5bd);
/// assert_ne!(key_hash(b"abc"), fnv1a64(b"abc"));
/// ```
pub const fn key_hash(key: &[u8]) -> u64 {
    let mut h = fnv1a64(key);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// What was wrong with a shard range or selector. Every variant names the range or text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// A range whose start is not below its end holds no hash.
    #[error("empty shard range {start}-{end}: the start must be below the end")]
    EmptyRange {
        /// The start as written (`0x…`).
        start: String,
        /// The end as written (`0x…`).
        end: String,
    },
    /// Two ranges of one selector share hashes.
    #[error("shard ranges {first} and {second} overlap")]
    Overlap {
        /// The range that starts first.
        first: ShardRange,
        /// The range that starts inside `first`.
        second: ShardRange,
    },
    /// A selector needs at least one range.
    #[error("a shard selector needs at least one range")]
    NoRanges,
    /// A range cannot be split into `parts` non-empty ranges.
    #[error("cannot split shard range {range} into {parts} parts: {reason}")]
    Split {
        /// The range to split.
        range: ShardRange,
        /// The number of parts asked for.
        parts: u64,
        /// Why not.
        reason: &'static str,
    },
    /// A bound, range or selector could not be parsed.
    #[error("invalid shard {what} {text:?}: {reason}")]
    Parse {
        /// `bound`, `range` or `selector`.
        what: &'static str,
        /// The text given.
        text: String,
        /// What was wrong.
        reason: String,
    },
}

/// Formats a bound as Kubernetes does: `0x` and 16 lowercase hex digits, or
/// `0x10000000000000000` for 2^64.
fn bound_hex(bound: u128) -> String {
    format!("0x{bound:016x}")
}

/// Parses a bound written as [`bound_hex`] writes it; nothing else is accepted, so a range
/// has exactly one spelling (the API server compares bounds as strings).
fn parse_bound(text: &str) -> Result<u128, ShardError> {
    let fail = |reason: String| ShardError::Parse { what: "bound", text: text.to_string(), reason };
    let digits = text.strip_prefix("0x").ok_or_else(|| fail("must start with 0x".into()))?;
    if let Some(bad) = digits.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(fail(format!("{bad:?} is not a lowercase hex digit")));
    }
    match digits.len() {
        16 => u128::from_str_radix(digits, 16).map_err(|e| fail(e.to_string())),
        17 if digits == "10000000000000000" => Ok(SPACE_END),
        17 => Err(fail("the only 17-digit bound is 0x10000000000000000 (2^64)".into())),
        n => Err(fail(format!("needs 16 hex digits, has {n}"))),
    }
}

/// A contiguous part of the hash space: `start` inclusive to `end` exclusive, never empty.
///
/// `end` is a `u128` so that the end of the space, 2^64, is a value like any other; a
/// `ShardRange` can only be built with `start < end <= 2^64`.
///
/// ```
/// use informer_core::shard::ShardRange;
/// let low = ShardRange::new(0, 1 << 63).unwrap();
/// assert!(low.contains(0x7fff_ffff_ffff_ffff) && !low.contains(1 << 63));
/// assert_eq!(low, "0x0000000000000000-0x8000000000000000".parse().unwrap());
/// assert!(ShardRange::new(5, 5).unwrap_err().to_string().contains("0x0000000000000005"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardRange {
    start: u64,
    end: u128,
}

impl ShardRange {
    /// The whole hash space, `[0, 2^64)`.
    ///
    /// ```
    /// use informer_core::shard::ShardRange;
    /// assert!(ShardRange::FULL.contains(u64::MAX));
    /// assert_eq!(ShardRange::FULL.to_string(), "0x0000000000000000-0x10000000000000000");
    /// ```
    pub const FULL: ShardRange = ShardRange { start: 0, end: SPACE_END };

    /// The range `[start, end)`; an error names it if it is empty or ends past 2^64.
    ///
    /// ```
    /// use informer_core::shard::ShardRange;
    /// let top = ShardRange::new(1 << 63, 1 << 64).unwrap();
    /// assert!(top.contains(u64::MAX));
    /// assert!(ShardRange::new(0, (1 << 64) + 1).is_err());
    /// ```
    pub fn new(start: u64, end: u128) -> Result<Self, ShardError> {
        if u128::from(start) >= end {
            return Err(ShardError::EmptyRange { start: bound_hex(start.into()), end: bound_hex(end) });
        }
        if end > SPACE_END {
            return Err(ShardError::Parse {
                what: "range",
                text: format!("{}-{}", bound_hex(start.into()), bound_hex(end)),
                reason: "the end is past 0x10000000000000000 (2^64)".into(),
            });
        }
        Ok(Self { start, end })
    }

    /// The first hash in the range.
    ///
    /// ```
    /// assert_eq!(informer_core::shard::ShardRange::FULL.start(), 0);
    /// ```
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The first hash past the range (at most 2^64).
    ///
    /// ```
    /// assert_eq!(informer_core::shard::ShardRange::FULL.end(), 1 << 64);
    /// ```
    pub fn end(&self) -> u128 {
        self.end
    }

    /// The start as Kubernetes writes it: `0x` and 16 lowercase hex digits.
    ///
    /// ```
    /// let r = informer_core::shard::ShardRange::new(255, 1 << 64).unwrap();
    /// assert_eq!(r.start_hex(), "0x00000000000000ff");
    /// ```
    pub fn start_hex(&self) -> String {
        bound_hex(self.start.into())
    }

    /// The end as Kubernetes writes it: 16 digits, or `0x10000000000000000` for 2^64.
    ///
    /// ```
    /// assert_eq!(informer_core::shard::ShardRange::FULL.end_hex(), "0x10000000000000000");
    /// ```
    pub fn end_hex(&self) -> String {
        bound_hex(self.end)
    }

    /// True if `hash` is in the range.
    ///
    /// ```
    /// let r = informer_core::shard::ShardRange::new(10, 20).unwrap();
    /// assert!(r.contains(10) && r.contains(19) && !r.contains(20));
    /// ```
    pub fn contains(&self, hash: u64) -> bool {
        hash >= self.start && u128::from(hash) < self.end
    }

    /// True if the hash of `key` ([`key_hash`]) is in the range.
    ///
    /// ```
    /// use informer_core::shard::ShardRange;
    /// assert!(ShardRange::FULL.contains_key(b"anything"));
    /// ```
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.contains(key_hash(key))
    }

    /// True if the two ranges share a hash.
    ///
    /// ```
    /// use informer_core::shard::ShardRange;
    /// let halves = ShardRange::FULL.split(2).unwrap();
    /// assert!(!halves[0].overlaps(&halves[1]));
    /// assert!(halves[0].overlaps(&ShardRange::FULL));
    /// ```
    pub fn overlaps(&self, other: &ShardRange) -> bool {
        u128::from(self.start) < other.end && u128::from(other.start) < self.end
    }

    /// Cuts the range into `parts` contiguous ranges of equal width (the first ones one wider
    /// when the width does not divide), in order, covering it exactly. `ShardRange::FULL.split(n)`
    /// gives the n shards of a collection.
    ///
    /// An error for `parts == 0`, or for more parts than the range has hashes.
    ///
    /// ```
    /// use informer_core::shard::ShardRange;
    /// let quarters = ShardRange::FULL.split(4).unwrap();
    /// assert_eq!(quarters[1].to_string(), "0x4000000000000000-0x8000000000000000");
    /// assert_eq!(quarters[3].end_hex(), "0x10000000000000000");
    /// assert!(ShardRange::FULL.split(0).is_err());
    /// ```
    pub fn split(&self, parts: u64) -> Result<Vec<ShardRange>, ShardError> {
        let width = self.end - u128::from(self.start);
        let fail = |reason| Err(ShardError::Split { range: *self, parts, reason });
        if parts == 0 {
            return fail("the number of parts must be at least 1");
        }
        if u128::from(parts) > width {
            return fail("more parts than hashes in the range");
        }
        let parts_wide = u128::from(parts);
        let (base, extra) = (width / parts_wide, width % parts_wide);
        let mut ranges = Vec::with_capacity(usize::try_from(parts).unwrap_or(0));
        let mut start = u128::from(self.start);
        for i in 0..parts_wide {
            let end = start + base + u128::from(i < extra);
            // start < end <= self.end <= 2^64, so start fits a u64.
            ranges.push(ShardRange { start: start as u64, end });
            start = end;
        }
        Ok(ranges)
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start_hex(), self.end_hex())
    }
}

impl fmt::Debug for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShardRange({self})")
    }
}

impl FromStr for ShardRange {
    type Err = ShardError;

    /// Parses `START-END`, each bound `0x` and 16 lowercase hex digits (or
    /// `0x10000000000000000` for the end).
    fn from_str(text: &str) -> Result<Self, ShardError> {
        let (start, end) = text.trim().split_once('-').ok_or_else(|| ShardError::Parse {
            what: "range",
            text: text.to_string(),
            reason: "expected START-END, e.g. 0x0000000000000000-0x8000000000000000".into(),
        })?;
        let (start, end) = (parse_bound(start)?, parse_bound(end)?);
        let start = u64::try_from(start)
            .map_err(|_| ShardError::EmptyRange { start: bound_hex(start), end: bound_hex(end) })?;
        Self::new(start, end)
    }
}

impl serde::Serialize for ShardRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ShardRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A shard: a non-empty union of non-overlapping [`ShardRange`]s, kept sorted by start.
///
/// Ranges that touch (one ends where the next starts) are allowed and kept apart, so a
/// selector prints the ranges it was given.
///
/// ```
/// use informer_core::shard::{ShardRange, ShardSelector};
/// let q = ShardRange::FULL.split(4).unwrap();
/// let outer = ShardSelector::new([q[3], q[0]]).unwrap();
/// assert_eq!(outer.ranges(), &[q[0], q[3]]);
/// assert!(outer.contains(0) && outer.contains(u64::MAX) && !outer.contains(1 << 63));
/// let err = ShardSelector::new([q[0], ShardRange::FULL]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "shard ranges 0x0000000000000000-0x4000000000000000 and 0x0000000000000000-0x10000000000000000 overlap"
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShardSelector {
    ranges: Vec<ShardRange>,
}

impl ShardSelector {
    /// The union of `ranges`; an error if there is none or two overlap (naming both).
    ///
    /// ```
    /// use informer_core::shard::{ShardError, ShardSelector};
    /// assert_eq!(ShardSelector::new([]).unwrap_err(), ShardError::NoRanges);
    /// ```
    pub fn new(ranges: impl IntoIterator<Item = ShardRange>) -> Result<Self, ShardError> {
        let mut ranges: Vec<ShardRange> = ranges.into_iter().collect();
        if ranges.is_empty() {
            return Err(ShardError::NoRanges);
        }
        ranges.sort();
        if let Some(pair) = ranges.windows(2).find(|pair| pair[0].overlaps(&pair[1])) {
            return Err(ShardError::Overlap { first: pair[0], second: pair[1] });
        }
        Ok(Self { ranges })
    }

    /// The selector of the whole hash space (every object).
    ///
    /// ```
    /// assert!(informer_core::shard::ShardSelector::full().contains(42));
    /// ```
    pub fn full() -> Self {
        Self::from(ShardRange::FULL)
    }

    /// The ranges, sorted by start.
    ///
    /// ```
    /// use informer_core::shard::{ShardRange, ShardSelector};
    /// assert_eq!(ShardSelector::full().ranges(), &[ShardRange::FULL]);
    /// ```
    pub fn ranges(&self) -> &[ShardRange] {
        &self.ranges
    }

    /// True if `hash` is in one of the ranges.
    ///
    /// ```
    /// use informer_core::shard::{ShardRange, ShardSelector};
    /// let s = ShardSelector::from(ShardRange::new(0, 10).unwrap());
    /// assert!(s.contains(9) && !s.contains(10));
    /// ```
    pub fn contains(&self, hash: u64) -> bool {
        // Sorted and disjoint: the only candidate is the last range starting at or before `hash`.
        let after = self.ranges.partition_point(|r| r.start <= hash);
        after > 0 && self.ranges[after - 1].contains(hash)
    }

    /// True if the hash of `key` ([`key_hash`]) is in one of the ranges.
    ///
    /// ```
    /// use informer_core::shard::{ShardRange, ShardSelector};
    /// let halves = ShardRange::FULL.split(2).unwrap();
    /// // The key hash of "default/web-0" is 0xd03b50f94f5d0a7e: the upper half.
    /// assert!(ShardSelector::from(halves[1]).contains_key(b"default/web-0"));
    /// ```
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.contains(key_hash(key))
    }
}

impl From<ShardRange> for ShardSelector {
    fn from(range: ShardRange) -> Self {
        Self { ranges: vec![range] }
    }
}

impl fmt::Display for ShardSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(range, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShardSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShardSelector({self})")
    }
}

impl FromStr for ShardSelector {
    type Err = ShardError;

    /// Parses ranges joined by `,` (as [`Display`](fmt::Display) writes them).
    fn from_str(text: &str) -> Result<Self, ShardError> {
        if text.trim().is_empty() {
            return Err(ShardError::NoRanges);
        }
        let ranges = text.split(',').map(str::parse).collect::<Result<Vec<ShardRange>, _>>()?;
        Self::new(ranges)
    }
}

impl serde::Serialize for ShardSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ShardSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed by Go's `k8s.io/apimachinery@v0.37.2/pkg/sharding.HashField` (with `0x` added).
    const GO_VECTORS: &[(&str, u64)] = &[
        ("", 0xcbf29ce484222325),
        ("a", 0xaf63dc4c8601ec8c),
        ("abc", 0xe71fa2190541574b),
        ("default", 0xebada5168620c5fe),
        ("kube-system", 0xdf65c7bc1d82b35e),
        ("default/web-0", 0x2019a4a4401b52d6),
        ("00000000-0000-4000-8000-000000000001", 0xd90752fc7c28d6a2),
        ("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 0x93754b7248a00eb9),
        ("test-uid-12345", 0xd4c53b72f9287c28),
    ];

    #[test]
    fn fnv1a64_matches_the_kubernetes_hash() {
        for (input, want) in GO_VECTORS {
            assert_eq!(fnv1a64(input.as_bytes()), *want, "hash of {input:?}");
            assert_eq!(format!("0x{:016x}", fnv1a64(input.as_bytes())), format!("0x{want:016x}"));
        }
    }

    #[test]
    fn key_hash_spreads_keys_that_differ_only_at_the_end_evenly() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("shop/web-{i}")).collect();
        let quarters = ShardRange::FULL.split(4).unwrap();
        let count =
            |hash: fn(&[u8]) -> u64, q: &ShardRange| keys.iter().filter(|k| q.contains(hash(k.as_bytes()))).count();
        for q in &quarters {
            let n = count(key_hash, q);
            assert!((2300..=2700).contains(&n), "{q}: {n} of 10 000 keys");
        }
        // What the finalizer is for: under FNV-1a alone the fullest quarter holds more than
        // twice the emptiest (3760 and 1510 keys).
        let raw: Vec<usize> = quarters.iter().map(|q| count(fnv1a64, q)).collect();
        let (min, max) = (raw.iter().min().unwrap(), raw.iter().max().unwrap());
        assert!(*max > 2 * *min, "raw FNV-1a quarters: {raw:?}");
    }

    #[test]
    fn split_covers_the_range_exactly_with_contiguous_equal_parts() {
        for parts in [1u64, 2, 3, 4, 7, 16, 1000] {
            let ranges = ShardRange::FULL.split(parts).unwrap();
            assert_eq!(ranges.len() as u64, parts);
            assert_eq!(ranges[0].start(), 0);
            assert_eq!(ranges.last().unwrap().end(), SPACE_END);
            for pair in ranges.windows(2) {
                assert_eq!(u128::from(pair[1].start()), pair[0].end(), "contiguous");
            }
            let widths: Vec<u128> = ranges.iter().map(|r| r.end() - u128::from(r.start())).collect();
            let (min, max) = (widths.iter().min().unwrap(), widths.iter().max().unwrap());
            assert!(max - min <= 1, "{parts} parts: widths differ by at most one");
            ShardSelector::new(ranges).expect("the parts of a split never overlap");
        }
        let thirds = ShardRange::FULL.split(3).unwrap();
        assert_eq!(thirds[0].to_string(), "0x0000000000000000-0x5555555555555556");
        assert_eq!(thirds[2].to_string(), "0xaaaaaaaaaaaaaaab-0x10000000000000000");
    }

    #[test]
    fn split_refuses_zero_parts_and_more_parts_than_hashes() {
        let err = ShardRange::FULL.split(0).unwrap_err();
        assert!(err.to_string().contains("into 0 parts"), "{err}");
        let small = ShardRange::new(10, 13).unwrap();
        assert_eq!(small.split(3).unwrap().len(), 3);
        let err = small.split(4).unwrap_err();
        assert!(err.to_string().contains("0x000000000000000a-0x000000000000000d"), "{err}");
    }

    #[test]
    fn every_hash_is_in_exactly_one_part() {
        let parts = ShardRange::FULL.split(5).unwrap();
        let selectors: Vec<ShardSelector> = parts.iter().copied().map(ShardSelector::from).collect();
        let mut rng = 0x1234_5678_u64;
        let mut samples = vec![0, u64::MAX, 1 << 63, (1 << 63) - 1];
        samples.extend(parts.iter().map(|p| p.start()));
        for _ in 0..10_000 {
            rng = fnv1a64(&rng.to_le_bytes());
            samples.push(rng);
        }
        for hash in samples {
            assert_eq!(selectors.iter().filter(|s| s.contains(hash)).count(), 1, "hash {hash:#x}");
        }
    }

    #[test]
    fn empty_ranges_are_errors_that_name_the_range() {
        let err = ShardRange::new(1 << 63, 1 << 63).unwrap_err();
        assert_eq!(
            err.to_string(),
            "empty shard range 0x8000000000000000-0x8000000000000000: the start must be below the end"
        );
        let err = "0x9000000000000000-0x8000000000000000".parse::<ShardRange>().unwrap_err();
        assert!(matches!(err, ShardError::EmptyRange { .. }));
        assert!(err.to_string().contains("0x9000000000000000-0x8000000000000000"), "{err}");
        let err = "0x10000000000000000-0x10000000000000000".parse::<ShardRange>().unwrap_err();
        assert!(matches!(err, ShardError::EmptyRange { .. }), "{err}");
    }

    #[test]
    fn overlapping_ranges_are_errors_that_name_both() {
        let a = ShardRange::new(0, 100).unwrap();
        let b = ShardRange::new(99, 200).unwrap();
        let err = ShardSelector::new([b, a]).unwrap_err();
        assert_eq!(err, ShardError::Overlap { first: a, second: b });
        assert!(err.to_string().contains(&a.to_string()) && err.to_string().contains(&b.to_string()));
        let touching = ShardRange::new(100, 200).unwrap();
        assert_eq!(ShardSelector::new([touching, a]).unwrap().ranges(), &[a, touching]);
        assert!(ShardSelector::new([a, a]).is_err(), "a range overlaps itself");
    }

    #[test]
    fn ranges_and_selectors_round_trip_through_text_and_serde() {
        for text in [
            "0x0000000000000000-0x10000000000000000",
            "0x0000000000000000-0x4000000000000000,0xc000000000000000-0x10000000000000000",
            "0x00000000000000ff-0x0000000000000100",
        ] {
            let selector: ShardSelector = text.parse().unwrap();
            assert_eq!(selector.to_string(), text);
            let json = serde_json::to_string(&selector).unwrap();
            assert_eq!(serde_json::from_str::<ShardSelector>(&json).unwrap(), selector);
        }
        let range: ShardRange = serde_json::from_str("\"0x8000000000000000-0x10000000000000000\"").unwrap();
        assert_eq!(range, ShardRange::FULL.split(2).unwrap()[1]);
    }

    #[test]
    fn bad_text_is_an_error_naming_it() {
        for (text, needle) in [
            ("0x0-0x8000000000000000", "needs 16 hex digits"),
            ("0x000000000000000A-0x8000000000000000", "lowercase hex digit"),
            ("0000000000000000-0x8000000000000000", "must start with 0x"),
            ("0x0000000000000000-0x20000000000000000", "2^64"),
            ("0x0000000000000000", "START-END"),
            ("0x0000000000000000-0x8000000000000000-", "lowercase hex digit"),
        ] {
            let err = text.parse::<ShardRange>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert_eq!("".parse::<ShardSelector>().unwrap_err(), ShardError::NoRanges);
        assert!(serde_json::from_str::<ShardSelector>("\"0x1\"").is_err());
    }

    #[test]
    fn contains_agrees_with_a_linear_scan() {
        let q = ShardRange::FULL.split(8).unwrap();
        let selector = ShardSelector::new([q[1], q[2], q[5], q[7]]).unwrap();
        let mut rng = 7u64;
        for _ in 0..10_000 {
            rng = fnv1a64(&rng.to_le_bytes());
            assert_eq!(selector.contains(rng), selector.ranges().iter().any(|r| r.contains(rng)));
        }
    }
}

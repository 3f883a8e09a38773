//! The continue token of a paged list.
//!
//! A list of an etcd range is a sequence of range reads at one revision. The token carries
//! what the next read needs: that revision and the first key of the next page (the last key
//! of this page plus a zero byte, the smallest key after it). Format, all ASCII:
//!
//! ```text
//! etcd1:<revision in decimal>:<next key in lower-case hex>
//! ```
//!
//! e.g. `etcd1:42:2f6170702f6200` is "revision 42, from key `/app/b\0`". Tokens are opaque to
//! callers; a token that does not parse is a [`Permanent`](informer_core::ErrorKind::Permanent)
//! error (it can never succeed), and a token whose revision was compacted meanwhile is
//! [`Expired`](informer_core::ErrorKind::Expired), so the reflector lists again from the start.

use std::fmt::Write;

const PREFIX: &str = "etcd1:";

/// A decoded continue token: the list's revision and the next page's first key.
///
/// ```
/// use informer_etcd::continue_token::ContinueToken;
/// let token = ContinueToken { revision: 42, next_key: b"/app/b\0".to_vec() };
/// assert_eq!(token.encode(), "etcd1:42:2f6170702f6200");
/// assert_eq!(ContinueToken::parse(&token.encode()).unwrap(), token);
/// assert!(ContinueToken::parse("42").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    /// The revision every page of the list is read at.
    pub revision: i64,
    /// The first key of the next page.
    pub next_key: Vec<u8>,
}

/// A continue token that is not one this crate made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed continue token {token:?}: {reason} (expected `etcd1:<revision>:<hex key>`)")]
pub struct TokenError {
    /// The token given (cut to 100 characters).
    pub token: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ContinueToken {
    /// The token's string form.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + 20 + 2 * self.next_key.len());
        out.push_str(PREFIX);
        let _ = write!(out, "{}:", self.revision);
        for byte in &self.next_key {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    /// Parses a token made by [`ContinueToken::encode`].
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        let err = |reason| TokenError { token: token.chars().take(100).collect(), reason };
        let rest = token.strip_prefix(PREFIX).ok_or_else(|| err("it does not start with `etcd1:`"))?;
        let (revision, key) = rest.split_once(':').ok_or_else(|| err("it has no key part"))?;
        let revision: i64 = revision.parse().map_err(|_| err("the revision is not a number"))?;
        if revision <= 0 {
            return Err(err("the revision is not positive"));
        }
        if key.is_empty() || key.len() % 2 != 0 || !key.is_ascii() {
            return Err(err("the key is not an even number of hex digits"));
        }
        let next_key = (0..key.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&key[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| err("the key is not hex"))?;
        Ok(Self { revision, next_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_binary_keys() {
        let token = ContinueToken { revision: 7, next_key: vec![0, 0xff, b'a', 0] };
        assert_eq!(ContinueToken::parse(&token.encode()).unwrap(), token);
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        for (token, reason) in [
            ("", "does not start"),
            ("etcd1:12", "no key part"),
            ("etcd1:x:00", "revision is not a number"),
            ("etcd1:0:00", "not positive"),
            ("etcd1:5:0", "even number"),
            ("etcd1:5:zz", "not hex"),
        ] {
            let err = ContinueToken::parse(token).unwrap_err();
            assert!(err.to_string().contains(reason), "{token}: {err}");
        }
    }
}

//! Value codecs: how the bytes of an etcd value become the `V` of an
//! [`EtcdKeyValue<V>`](crate::EtcdKeyValue).
//!
//! Three codecs ship with the crate: [`RawCodec`] (the bytes as they are), [`TextCodec`]
//! (UTF-8 text) and [`JsonCodec<T>`] (JSON into any `DeserializeOwned` type). Implement
//! [`Codec`] for anything else (protobuf, YAML, a custom binary format).
//!
//! A value that fails to decode never stops the mirror by surprise: the source's
//! [`DecodeFailurePolicy`](crate::DecodeFailurePolicy) decides whether it is skipped and counted
//! or reported as a [`Malformed`](informer_core::ErrorKind::Malformed) error naming the key
//! and revision.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

/// Why a codec could not decode a value. The source adds the key and revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl DecodeError {
    /// A decode error with a reason (e.g. the parser's message).
    ///
    /// ```
    /// let err = informer_etcd::DecodeError::new("expected value at line 1 column 1");
    /// assert!(err.to_string().contains("line 1"));
    /// ```
    pub fn new(reason: impl fmt::Display) -> Self {
        Self(reason.to_string())
    }
}

/// Turns the bytes of an etcd value into a typed value.
///
/// `decode` takes the bytes by value so codecs that keep them (like [`RawCodec`]) do not copy.
///
/// ```
/// use informer_etcd::{Codec, DecodeError};
///
/// /// Values are decimal numbers.
/// struct Number;
///
/// impl Codec for Number {
///     type Value = u64;
///     fn decode(&self, bytes: Vec<u8>) -> Result<u64, DecodeError> {
///         let text = std::str::from_utf8(&bytes).map_err(DecodeError::new)?;
///         text.trim().parse().map_err(DecodeError::new)
///     }
///     fn name(&self) -> &'static str { "decimal" }
/// }
///
/// assert_eq!(Number.decode(b"42".to_vec()).unwrap(), 42);
/// assert!(Number.decode(b"x".to_vec()).is_err());
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The decoded value type.
    type Value: Send + Sync + 'static;

    /// Decodes one value.
    fn decode(&self, bytes: Vec<u8>) -> Result<Self::Value, DecodeError>;

    /// A short name of the format for error messages (`JSON`, `UTF-8 text`).
    fn name(&self) -> &'static str;
}

/// The value's bytes, unchanged (`Vec<u8>`). Never fails.
///
/// ```
/// use informer_etcd::{Codec, RawCodec};
/// assert_eq!(RawCodec.decode(vec![0xff, 0]).unwrap(), vec![0xff, 0]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Value = Vec<u8>;

    fn decode(&self, bytes: Vec<u8>) -> Result<Vec<u8>, DecodeError> {
        Ok(bytes)
    }

    fn name(&self) -> &'static str {
        "raw bytes"
    }
}

/// The value as UTF-8 text (`String`); fails on invalid UTF-8.
///
/// ```
/// use informer_etcd::{Codec, TextCodec};
/// assert_eq!(TextCodec.decode(b"hi".to_vec()).unwrap(), "hi");
/// assert!(TextCodec.decode(vec![0xff]).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TextCodec;

impl Codec for TextCodec {
    type Value = String;

    fn decode(&self, bytes: Vec<u8>) -> Result<String, DecodeError> {
        String::from_utf8(bytes).map_err(|e| DecodeError::new(e.utf8_error()))
    }

    fn name(&self) -> &'static str {
        "UTF-8 text"
    }
}

/// The value as JSON, deserialized into `T`.
///
/// ```
/// use informer_etcd::{Codec, JsonCodec};
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Config { replicas: u32 }
/// let codec = JsonCodec::<Config>::new();
/// assert_eq!(codec.decode(br#"{"replicas":3}"#.to_vec()).unwrap(), Config { replicas: 3 });
/// assert!(codec.decode(b"{".to_vec()).is_err());
/// ```
pub struct JsonCodec<T>(PhantomData<fn() -> T>);

impl<T> JsonCodec<T> {
    /// A JSON codec for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for JsonCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonCodec<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for JsonCodec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonCodec<{}>", std::any::type_name::<T>())
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Codec for JsonCodec<T> {
    type Value = T;

    fn decode(&self, bytes: Vec<u8>) -> Result<T, DecodeError> {
        serde_json::from_slice(&bytes).map_err(DecodeError::new)
    }

    fn name(&self) -> &'static str {
        "JSON"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_decode_errors_say_where_the_input_is_wrong() {
        let err = JsonCodec::<serde_json::Value>::new().decode(b"{\"a\":".to_vec()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn text_codec_names_the_invalid_byte_position() {
        let err = TextCodec.decode(b"ab\xff".to_vec()).unwrap_err();
        assert!(err.to_string().contains("index 2"), "{err}");
    }
}

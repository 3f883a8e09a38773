//! etcd values and keys as they arrive from the server, and continue tokens as they come back
//! from callers: the value codecs (`RawCodec`, `TextCodec`, `JsonCodec`) return a value or a
//! typed `DecodeError`; the lossless key form round-trips any key bytes; a continue token
//! round-trips and a bad one is a typed `TokenError`. Nothing panics.
#![no_main]

use informer_etcd::continue_token::ContinueToken;
use informer_etcd::{Codec, JsonCodec, RawCodec, TextCodec, key_to_bytes, key_to_string, object_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_eq!(RawCodec.decode(data.to_vec()).expect("raw never fails"), data);
    match TextCodec.decode(data.to_vec()) {
        Ok(text) => assert_eq!(text.as_bytes(), data),
        Err(error) => assert!(std::str::from_utf8(data).is_err(), "text refused valid UTF-8: {error}"),
    }
    if let Err(error) = JsonCodec::<serde_json::Value>::new().decode(data.to_vec()) {
        let _ = error.to_string();
    }

    // Keys: the string form maps back to the same bytes, and is the object key.
    let text = key_to_string(data);
    assert_eq!(key_to_bytes(&text).expect("an escaped key parses"), data);
    assert_eq!(object_key(data).as_str(), text);

    // Arbitrary strings as keys and tokens: typed errors only.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(bytes) = key_to_bytes(s) {
            let _ = key_to_string(&bytes);
        }
        if let Ok(token) = ContinueToken::parse(s) {
            assert_eq!(ContinueToken::parse(&token.encode()).expect("re-encoded token parses"), token);
        }
    }
    if data.len() >= 8 {
        let revision = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let token = ContinueToken { revision, next_key: data[8..].to_vec() };
        // The crate makes tokens only for a positive revision and a non-empty next key; others
        // must be refused with a typed error, the rest must round-trip.
        match ContinueToken::parse(&token.encode()) {
            Ok(parsed) => assert_eq!(parsed, token),
            Err(error) => assert!(revision <= 0 || token.next_key.is_empty(), "{token:?} does not round-trip: {error}"),
        }
    }
});

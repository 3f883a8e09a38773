//! HTTP long-poll answers: the etcd v2 watch feed decoder (one change per answer, any status,
//! any `X-Etcd-Index`), JSON-pointer item lists and the collection index read from a header,
//! the body or the ETag. Each returns items or a typed `SourceError`, never panics.
#![no_main]

use bytes::Bytes;
use informer_http::presets::etcd_v2_keys;
use informer_http::{Answer, IndexFrom, ItemsFormat, WatchMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First two bytes: status and a header choice; the rest is the body.
    let (head, body) = if data.len() >= 2 { data.split_at(2) } else { (&[200u8, 0][..], data) };
    let status = [200u16, 201, 400, 404, 500, 204, 301, 599][usize::from(head[0] % 8)];
    let mut headers = http::HeaderMap::new();
    let index_values = ["7", "0", "-1", "18446744073709551616", "abc", "", "\"etag-1\"", "W/\"x\""];
    let value = index_values[usize::from(head[1] % 8)];
    if let Ok(v) = value.parse() {
        headers.insert("x-etcd-index", v);
        if let Ok(v) = value.parse() {
            headers.insert("etag", v);
        }
        if let Ok(v) = value.parse() {
            headers.insert("x-consul-index", v);
        }
    }
    let answer = Answer {
        request: "GET http://127.0.0.1:1/v2/keys/app".into(),
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    };

    let config = etcd_v2_keys("http://127.0.0.1:1", "/app").expect("preset config");
    if let WatchMode::EventFeed(feed) = config.watch_mode() {
        match (feed.decode)(&answer) {
            Ok(batch) => {
                let _ = (feed.cursor)(&batch.cursor);
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }

    let pointers = ItemsFormat::pointers("/items", "/key").with_version("/version").with_value("/value");
    let _ = pointers.decode(&answer).map_err(|e| e.to_string());
    let consul = ItemsFormat::pointers("", "/Key").with_version("/ModifyIndex").with_value("/Value");
    let _ = consul.decode(&answer).map_err(|e| e.to_string());
    for index in [IndexFrom::Header("X-Etcd-Index".into()), IndexFrom::Pointer("/index".into()), IndexFrom::ETag] {
        let _ = index.read(&answer).map_err(|e| e.to_string());
    }
    let _ = answer.json().map_err(|e| e.to_string());
});

//! Decoding collection answers: an etcd v2 recursive list (nested directories flattened) and
//! a Consul KV recurse answer (base64 values), 2 000 and 20 000 keys.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use informer_http::{Answer, presets};

fn answer(body: String) -> Answer {
    Answer {
        request: "GET http://127.0.0.1/bench".into(),
        status: 200,
        headers: Default::default(),
        body: Bytes::from(body),
    }
}

fn etcd_body(keys: usize) -> String {
    let dirs: Vec<serde_json::Value> = (0..10)
        .map(|d| {
            let nodes: Vec<_> = (0..keys / 10)
                .map(|i| {
                    serde_json::json!({"key": format!("/app/d{d}/k{i}"), "value": format!("value-{i}"),
                    "modifiedIndex": i + 10, "createdIndex": i + 10})
                })
                .collect();
            serde_json::json!({"key": format!("/app/d{d}"), "dir": true, "nodes": nodes})
        })
        .collect();
    serde_json::json!({"action": "get", "node": {"key": "/app", "dir": true, "nodes": dirs}}).to_string()
}

fn consul_body(keys: usize) -> String {
    let entries: Vec<_> = (0..keys)
        .map(|i| {
            serde_json::json!({"Key": format!("app/k{i}"), "Value": "dmFsdWUtMTIzNDU2Nzg=", "Flags": 0,
            "CreateIndex": i + 10, "ModifyIndex": i + 10, "LockIndex": 0})
        })
        .collect();
    serde_json::Value::Array(entries).to_string()
}

fn decode(c: &mut Criterion) {
    let etcd = presets::etcd_v2_keys("http://127.0.0.1:2379", "/app").unwrap();
    let consul = presets::consul_kv("http://127.0.0.1:8500", "app/").unwrap();
    let mut group = c.benchmark_group("decode_list");
    for keys in [2_000usize, 20_000] {
        group.throughput(Throughput::Elements(keys as u64));
        let body = answer(etcd_body(keys));
        group.bench_with_input(BenchmarkId::new("etcd_v2", keys), &body, |b, a| {
            b.iter(|| black_box(etcd.items_format().decode(a).unwrap()))
        });
        let body = answer(consul_body(keys));
        group.bench_with_input(BenchmarkId::new("consul_kv", keys), &body, |b, a| {
            b.iter(|| black_box(consul.items_format().decode(a).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);

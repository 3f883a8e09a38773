#![allow(missing_docs)] // `criterion_group!` generates an undocumented function.

//! Decode cost of typed pods vs compact raw objects, and a full list of 1 000 realistic pods
//! through the local API server (HTTP and JSON included).
//!
//! `cargo bench -p informer-kube --bench decode`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use informer_core::{ListOptions, ListerWatcher};
use informer_kube::kube::api::ApiResource;
use informer_kube::{KubeSource, RawObject, RawOptions};
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use k8s_openapi::api::core::v1::Pod;

fn decode(c: &mut Criterion) {
    let pod = serde_json::to_vec(&PodGenerator::new(1).pod(0)).expect("pod serializes");
    let mut group = c.benchmark_group("decode_one_pod");
    group.throughput(Throughput::Bytes(pod.len() as u64));
    group.bench_function("typed", |b| b.iter(|| serde_json::from_slice::<Pod>(black_box(&pod)).expect("decodes")));
    let keep = RawOptions::default();
    group.bench_function("raw", |b| b.iter(|| RawObject::from_json(black_box(&pod), &keep).expect("ingests")));
    let strip = RawOptions::default().strip_managed_fields(true).extract("spec.nodeName");
    group.bench_function("raw_strip_managed_fields", |b| {
        b.iter(|| RawObject::from_json(black_box(&pod), &strip).expect("ingests"))
    });
    group.finish();
}

fn list(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (server, client) = runtime.block_on(async {
        let server = KubeApiServer::start().await.expect("server");
        server.create_pods(&PodGenerator::new(2), 0..1_000).expect("created");
        let client =
            informer_kube::kube::Client::try_from(informer_kube::kube::Config::new(server.url().parse().expect("url")))
                .expect("client");
        (server, client)
    });
    let mut group = c.benchmark_group("list_1000_pods");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000));
    let typed = KubeSource::<Pod>::all(client.clone());
    group.bench_function(BenchmarkId::new("typed", 1_000), |b| {
        b.to_async(&runtime)
            .iter(|| async { typed.list(&ListOptions::first_page(None)).await.expect("lists").items.len() })
    });
    let raw = KubeSource::raw(
        client.clone(),
        &ApiResource::erase::<Pod>(&()),
        None,
        RawOptions::default().strip_managed_fields(true),
    );
    group.bench_function(BenchmarkId::new("raw_strip", 1_000), |b| {
        b.to_async(&runtime)
            .iter(|| async { raw.list(&ListOptions::first_page(None)).await.expect("lists").items.len() })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, decode, list);
criterion_main!(benches);

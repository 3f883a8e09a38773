//! Memory of an initial sync of 100 000 realistic pods, informer vs `kube-runtime`'s
//! reflector, each side in a fresh child process syncing from one local API server (real
//! HTTP) held by the parent:
//!
//! * peak resident memory of the child (`VmHWM` of /proc/self/status at the end);
//! * heap bytes and allocations live in the child after the sync, per cached pod (a counting
//!   global allocator, `stats_alloc`: requested bytes, without the allocator's own overhead),
//!   next to the pod's compact JSON size with and without managedFields.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p informer-kube --bench memory
//! ```
//! (`-- <filter>` runs only the sides whose name contains the filter.)

mod support;

use std::alloc::System;
use std::process::Command;
use std::time::Duration;

use informer_core::KeyFn;
use informer_kube::{RawObject, key_fn};
use informer_stores::Cache;
use informer_tests::kube_api::pods::strip_managed_fields;
use k8s_openapi::api::core::v1::Pod;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The sides measured: (name, library, representation, strip managedFields).
const SIDES: [(&str, &str, bool); 6] = [
    ("kube_runtime/typed", "typed", false),
    ("kube_runtime/typed_strip", "typed", true),
    ("informer/typed", "typed", false),
    ("informer/typed_strip", "typed", true),
    ("informer/raw", "raw", false),
    ("informer/raw_strip", "raw", true),
];

/// Heap bytes and allocations live now.
fn live() -> (i64, i64) {
    let s = GLOBAL.stats();
    // A realloc is already counted in bytes_allocated / bytes_deallocated (bytes_reallocated is
    // their net change, not an extra amount).
    let bytes = s.bytes_allocated as i64 - s.bytes_deallocated as i64;
    (bytes, s.allocations as i64 - s.deallocations as i64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let side = args.get(i + 1).expect("--child <side> <url>");
        let url = args.get(i + 2).expect("--child <side> <url>");
        child(side, url);
        return;
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with("--")).cloned().unwrap_or_default();
    parent(&filter);
}

fn parent(filter: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = runtime.block_on(loaded_server(PODS, 10));
    let (with, without) = json_sizes(&server);
    println!(
        "compact JSON per pod (mean of 1 000 served pods): {with:.0} B with managedFields, {without:.0} B without"
    );
    println!();
    println!(
        "| side | sync s | peak RSS MiB | RSS after MiB | heap B/pod | allocs/pod | heap / JSON (same stripping) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let exe = std::env::current_exe().expect("own executable");
    for (name, _, strip) in SIDES.iter().filter(|(n, _, _)| n.contains(filter)) {
        let output = Command::new(&exe).args(["--child", name, &server.url()]).output().expect("child process runs");
        let text = String::from_utf8_lossy(&output.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            panic!("child {name} failed: {}\n{}", text, String::from_utf8_lossy(&output.stderr));
        };
        let v: Vec<f64> = line.split(' ').map(|x| x.parse().expect("number")).collect();
        let (secs, hwm_kb, rss_kb, heap_bytes, allocs) = (v[0], v[1], v[2], v[3], v[4]);
        let json = if *strip { without } else { with };
        let per_pod = heap_bytes / PODS as f64;
        println!(
            "| {name} | {secs:.2} | {:.0} | {:.0} | {per_pod:.0} | {:.1} | {:.2} |",
            hwm_kb / 1024.0,
            rss_kb / 1024.0,
            allocs / PODS as f64,
            per_pod / json
        );
    }
    drop(server);
}

/// Mean compact JSON size of served pods, with and without managedFields.
fn json_sizes(server: &informer_tests::kube_api::KubeApiServer) -> (f64, f64) {
    let generator = informer_tests::kube_api::PodGenerator::new(SEED);
    let (mut with, mut without) = (0usize, 0usize);
    let samples = 1_000;
    for i in (0..PODS).step_by(PODS / samples) {
        let generated = generator.pod(i);
        let meta = &generated["metadata"];
        let name = meta["name"].as_str().expect("name");
        let mut pod = server.get("Pod", meta["namespace"].as_str(), name).expect("pod served");
        with += serde_json::to_vec(&pod).expect("serializes").len();
        strip_managed_fields(&mut pod);
        without += serde_json::to_vec(&pod).expect("serializes").len();
    }
    (with as f64 / samples as f64, without as f64 / samples as f64)
}

fn child(side: &str, url: &str) {
    let (_, repr, strip) = *SIDES.iter().find(|(n, _, _)| *n == side).expect("known side");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // kube clients spawn their buffer task on the current runtime.
    let _entered = runtime.enter();
    let client = client(url);
    let (base_bytes, base_allocs) = live();
    // Each arm keeps its store alive until the numbers are taken.
    let (took, bytes, allocs, rss) = runtime.block_on(async {
        let measure = |took: Duration| {
            let (b, a) = live();
            (took, b - base_bytes, a - base_allocs, rss_kb().0)
        };
        if side.starts_with("kube_runtime") {
            let (side, took) = KubeRuntimeSide::start(client, None, strip).await;
            let store = side.stop().await;
            assert_eq!(store.len(), PODS);
            let m = measure(took);
            drop(store);
            m
        } else if repr == "typed" {
            let (side, took) = InformerSide::start(typed_source(client, strip), Cache::new(key_fn::<Pod>())).await;
            let store = side.stop().await;
            assert_eq!(store.len(), PODS);
            let m = measure(took);
            drop(store);
            m
        } else {
            let (side, took) =
                InformerSide::start(raw_source(client, strip), Cache::new(KeyFn::<RawObject>::keyed())).await;
            let store = side.stop().await;
            assert_eq!(store.len(), PODS);
            let m = measure(took);
            drop(store);
            m
        }
    });
    let (_, hwm) = rss_kb();
    println!("RESULT {} {hwm} {rss} {bytes} {allocs}", took.as_secs_f64());
}

//! An initial sync of 100 000 realistic pods: informer, `kube-runtime`'s reflector and
//! client-go's `SharedIndexInformer` (the Go peer in `tests/peers/client-go`, index on
//! `spec.nodeName`), each side in a fresh child process syncing from one local API server (real
//! HTTP, JSON) held by the parent, one side after the other, several runs:
//!
//! * time until the store holds every pod (client-go: until `HasSynced`);
//! * peak resident memory of the child (`VmHWM` of /proc/self/status at the end);
//! * heap per cached pod, next to the pod's compact JSON size with and without managedFields:
//!   for the Rust sides the bytes live after the sync (a counting global allocator,
//!   `stats_alloc`: requested bytes, without the allocator's own overhead); for client-go Go's
//!   `HeapInuse` after a GC (spans in use, so a little above the bytes requested).
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p informer-kube --bench memory
//! ```
//! (`-- <filter>` runs only the sides whose name contains the filter; `INFORMER_BENCH_RUNS`
//! runs, default 3; `INFORMER_BENCH_PODS` pods, default 100 000.) The client-go peer is built
//! with the machine's Go into `~/.cache/informer/peers` (Go's build cache makes a rebuild of an
//! unchanged peer a relink); without Go its sides are skipped with a note. The local API server
//! serves JSON only, so client-go's protobuf configuration is not measured here; WatchList is
//! measured off and on (`KUBE_FEATURE_WatchListClient`).

mod support;

use std::alloc::System;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use informer_core::KeyFn;
use informer_kube::{RawObject, key_fn};
use informer_stores::Cache;
use informer_tests::kube_api::pods::strip_managed_fields;
use informer_tests::stats::median_min_max;
use k8s_openapi::api::core::v1::Pod;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// client-go's sides: (name, WatchList, strip managedFields).
const CLIENT_GO: [(&str, bool, bool); 3] = [
    ("client_go/json", false, false),
    ("client_go/json_strip", false, true),
    ("client_go/json_watchlist_strip", true, true),
];

/// The Rust sides measured: (name, representation, strip managedFields).
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

/// One child's figures.
struct Figures {
    secs: f64,
    hwm_kib: f64,
    heap_bytes: f64,
}

fn parent(filter: &str) {
    let runs: usize = std::env::var("INFORMER_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = runtime.block_on(loaded_server(pods(), 10));
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    let peer = client_go_peer();
    let (with, without) = json_sizes(&server);
    println!(
        "compact JSON per pod (mean of 1 000 served pods): {with:.0} B with managedFields, {without:.0} B without"
    );
    println!();
    println!(
        "| side | sync s, median of {runs} (min–max) | peak RSS MiB | heap B/pod | heap / JSON (same stripping) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    let exe = std::env::current_exe().expect("own executable");
    let mut sides: Vec<(&str, bool)> = SIDES.iter().map(|(n, _, strip)| (*n, *strip)).collect();
    sides.extend(CLIENT_GO.iter().map(|(n, _, strip)| (*n, *strip)));
    for (name, strip) in sides.into_iter().filter(|(n, _)| n.contains(filter)) {
        let mut figures = Vec::new();
        for _ in 0..runs {
            let run = if name.starts_with("client_go") {
                let Some(peer) = &peer else { break };
                client_go_child(peer, name, &kubeconfig)
            } else {
                rust_child(&exe, name, &server.url())
            };
            figures.push(run);
        }
        if figures.is_empty() {
            println!("| {name} | (no Go to build the peer) | | | |");
            continue;
        }
        let (secs, secs_min, secs_max) = median_min_max(&figures.iter().map(|f| f.secs).collect::<Vec<_>>());
        let (hwm, _, _) = median_min_max(&figures.iter().map(|f| f.hwm_kib).collect::<Vec<_>>());
        let (heap, _, _) = median_min_max(&figures.iter().map(|f| f.heap_bytes).collect::<Vec<_>>());
        let json = if strip { without } else { with };
        let per_pod = heap / pods() as f64;
        println!(
            "| {name} | {secs:.2} ({secs_min:.2}–{secs_max:.2}) | {:.0} | {per_pod:.0} | {:.2} |",
            hwm / 1024.0,
            per_pod / json
        );
    }
    drop(server);
}

/// The pods synced: 100 000, or `INFORMER_BENCH_PODS`.
fn pods() -> usize {
    std::env::var("INFORMER_BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(PODS)
}

fn rust_child(exe: &Path, name: &str, url: &str) -> Figures {
    let output = Command::new(exe)
        .args(["--child", name, url])
        .env("INFORMER_BENCH_PODS", pods().to_string())
        .output()
        .expect("child process runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!("child {name} failed: {}\n{}", text, String::from_utf8_lossy(&output.stderr));
    };
    let v: Vec<f64> = line.split(' ').map(|x| x.parse().expect("number")).collect();
    Figures { secs: v[0], hwm_kib: v[1], heap_bytes: v[3] }
}

fn client_go_child(peer: &Path, name: &str, kubeconfig: &Path) -> Figures {
    let (_, watch_list, strip) = *CLIENT_GO.iter().find(|(n, _, _)| *n == name).expect("known side");
    let mut command = Command::new(peer);
    command.arg("-kubeconfig").arg(kubeconfig).env("KUBE_FEATURE_WatchListClient", watch_list.to_string());
    if strip {
        command.arg("-strip-managed-fields");
    }
    let output = command.output().expect("client-go peer runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("peer {name} failed: {text}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(result["objects"].as_u64(), Some(pods() as u64), "{name}: {result}");
    let number = |field: &str| result[field].as_f64().unwrap_or_else(|| panic!("{name}: no {field} in {result}"));
    Figures { secs: number("sync_seconds"), hwm_kib: number("peak_rss_kib"), heap_bytes: number("heap_inuse_bytes") }
}

/// Mean compact JSON size of served pods, with and without managedFields.
fn json_sizes(server: &informer_tests::kube_api::KubeApiServer) -> (f64, f64) {
    let generator = informer_tests::kube_api::PodGenerator::new(SEED);
    let (mut with, mut without) = (0usize, 0usize);
    let samples = 1_000;
    for i in (0..pods()).step_by((pods() / samples).max(1)) {
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
            assert_eq!(store.len(), pods());
            let m = measure(took);
            drop(store);
            m
        } else if repr == "typed" {
            let (side, took) = InformerSide::start(typed_source(client, strip), Cache::new(key_fn::<Pod>())).await;
            let store = side.stop().await;
            assert_eq!(store.len(), pods());
            let m = measure(took);
            drop(store);
            m
        } else {
            let (side, took) =
                InformerSide::start(raw_source(client, strip), Cache::new(KeyFn::<RawObject>::keyed())).await;
            let store = side.stop().await;
            assert_eq!(store.len(), pods());
            let m = measure(took);
            drop(store);
            m
        }
    });
    let (_, hwm) = rss_kb();
    println!("RESULT {} {hwm} {rss} {bytes} {allocs}", took.as_secs_f64());
}

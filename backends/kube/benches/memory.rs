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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use informer_core::KeyFn;
use informer_kube::{RawObject, key_fn};
use informer_stores::Cache;
use informer_tests::control_plane::{ControlPlane, ControlPlaneOptions, User, client_from_kubeconfig, pod_manifest};
use informer_tests::kube_api::pods::strip_managed_fields;
use informer_tests::stats::median_min_max;
use k8s_openapi::api::core::v1::Pod;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// client-go's sides: (name, WatchList, strip managedFields, protobuf). The protobuf sides run
/// only against the real kube-apiserver (the local API server speaks JSON only).
const CLIENT_GO: [(&str, bool, bool, bool); 5] = [
    ("client_go/json", false, false, false),
    ("client_go/json_strip", false, true, false),
    ("client_go/json_watchlist_strip", true, true, false),
    ("client_go/proto_strip", false, true, true),
    ("client_go/proto_watchlist_strip", true, true, true),
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
    // `-- a,b` runs the sides whose name contains a or b.
    let filters: Vec<String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .flat_map(|a| a.split(','))
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    parent(&filters);
}

/// One child's figures.
struct Figures {
    secs: f64,
    hwm_kib: f64,
    heap_bytes: f64,
}

/// The server the sides sync from, held by the parent.
enum Target {
    /// The local API server (real HTTP, JSON) with the pods loaded straight into its store,
    /// and a kubeconfig for it (for client-go) in a temporary directory.
    Local { server: informer_tests::kube_api::KubeApiServer, dir: tempfile::TempDir },
    /// The real kube-apiserver 1.37 and etcd 3.7 (`INFORMER_BENCH_SERVER=real`), the pods
    /// created through the API in one namespace; the children read a kubeconfig.
    Real { control_plane: Box<ControlPlane>, kubeconfig: PathBuf, namespace: String },
}

impl Target {
    fn start(runtime: &tokio::runtime::Runtime, pods: usize) -> Self {
        if std::env::var("INFORMER_BENCH_SERVER").as_deref() != Ok("real") {
            let server = runtime.block_on(loaded_server(pods, 10));
            let dir = tempfile::tempdir().expect("temp dir");
            server.write_kubeconfig(&dir.path().join("kubeconfig")).expect("kubeconfig written");
            return Target::Local { server, dir };
        }
        let control_plane = ControlPlane::start_with(ControlPlaneOptions::default()).expect("control plane starts");
        let kubeconfig = control_plane.kubeconfig(User::Admin).expect("kubeconfig written");
        let namespace = runtime.block_on(create_pods(&control_plane, pods));
        Target::Real { control_plane: Box::new(control_plane), kubeconfig, namespace }
    }

    fn is_real(&self) -> bool {
        matches!(self, Target::Real { .. })
    }

    /// What a child is given: the local server's URL or the real server's kubeconfig path.
    fn address(&self) -> String {
        match self {
            Target::Local { server, .. } => server.url(),
            Target::Real { kubeconfig, .. } => kubeconfig.display().to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Local { .. } => "the local API server (JSON)".into(),
            Target::Real { namespace, control_plane, .. } => format!(
                "the real kube-apiserver 1.37 with etcd 3.7 (namespace {namespace}, apiserver RSS {} MiB after the load)",
                control_plane.apiserver_rss_kib().unwrap_or(0) / 1024
            ),
        }
    }
}

/// Creates `count` generated pods through the real apiserver (64 requests in flight) in a new
/// namespace and returns the namespace.
async fn create_pods(control_plane: &ControlPlane, count: usize) -> String {
    use futures::StreamExt;
    let started = std::time::Instant::now();
    let client = control_plane.client(User::Admin).await.expect("admin client");
    let namespace = control_plane.create_namespace(&client, "bench").await.expect("namespace created");
    let generator = informer_tests::kube_api::PodGenerator::new(SEED);
    let path = format!("/api/v1/namespaces/{namespace}/pods");
    let created = futures::stream::iter(0..count)
        .map(|i| {
            let body = serde_json::to_vec(&pod_manifest(&generator, i, &namespace)).expect("serializes");
            let request = http::Request::post(path.as_str())
                .header("content-type", "application/json")
                .body(body)
                .expect("request");
            let client = client.clone();
            async move { client.request::<serde_json::Value>(request).await }
        })
        .buffer_unordered(64)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    assert_eq!(created, count, "every pod created");
    eprintln!("created {count} pods through the real apiserver in {:.1?}", started.elapsed());
    namespace
}

/// One side's figures over the runs, for the table and the CSV.
struct Summary {
    secs: (f64, f64, f64),
    hwm_mib: (f64, f64, f64),
    heap_per_pod: f64,
}

fn parent(filters: &[String]) {
    let runs: usize = std::env::var("INFORMER_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let peer = client_go_peer();
    let mut csv = std::env::var_os("INFORMER_BENCH_CSV").map(|path| {
        let new = !Path::new(&path).exists();
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("INFORMER_BENCH_CSV opens");
        if new {
            writeln!(file, "server,pods,side,secs_median,secs_min,secs_max,rss_mib_median,rss_mib_min,rss_mib_max,heap_per_pod,json_per_pod")
                .expect("CSV written");
        }
        file
    });
    let exe = std::env::current_exe().expect("own executable");
    for pods in sizes() {
        let target = Target::start(&runtime, pods);
        let (with, without) = runtime.block_on(json_sizes(&target));
        println!();
        println!("{pods} pods from {}", target.describe());
        println!("compact JSON per pod (mean of served pods): {with:.0} B with managedFields, {without:.0} B without");
        println!();
        println!(
            "| side | sync s, median of {runs} (min–max) | peak RSS MiB (min–max) | heap B/pod | heap / JSON (same stripping) |"
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        let mut sides: Vec<(&str, bool)> = SIDES.iter().map(|(n, _, strip)| (*n, *strip)).collect();
        sides.extend(
            CLIENT_GO.iter().filter(|(_, _, _, proto)| !proto || target.is_real()).map(|(n, _, strip, _)| (*n, *strip)),
        );
        let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
        for (name, strip) in sides.into_iter().filter(|(n, _)| wanted(n)) {
            let mut figures = Vec::new();
            for _ in 0..runs {
                let run = if name.starts_with("client_go") {
                    let Some(peer) = &peer else { break };
                    client_go_child(peer, name, &target, pods)
                } else {
                    rust_child(&exe, name, &target.address(), pods)
                };
                figures.push(run);
            }
            if figures.is_empty() {
                println!("| {name} | (no Go to build the peer) | | | |");
                continue;
            }
            let summary = Summary {
                secs: median_min_max(&figures.iter().map(|f| f.secs).collect::<Vec<_>>()),
                hwm_mib: median_min_max(&figures.iter().map(|f| f.hwm_kib / 1024.0).collect::<Vec<_>>()),
                heap_per_pod: median_min_max(&figures.iter().map(|f| f.heap_bytes).collect::<Vec<_>>()).0 / pods as f64,
            };
            let json = if strip { without } else { with };
            let (secs, secs_min, secs_max) = summary.secs;
            let (hwm, hwm_min, hwm_max) = summary.hwm_mib;
            println!(
                "| {name} | {secs:.2} ({secs_min:.2}–{secs_max:.2}) | {hwm:.0} ({hwm_min:.0}–{hwm_max:.0}) | {:.0} | {:.2} |",
                summary.heap_per_pod,
                summary.heap_per_pod / json
            );
            if let Some(file) = csv.as_mut() {
                let server = if target.is_real() { "real" } else { "local" };
                writeln!(
                    file,
                    "{server},{pods},{name},{secs:.3},{secs_min:.3},{secs_max:.3},{hwm:.1},{hwm_min:.1},{hwm_max:.1},{:.0},{json:.0}",
                    summary.heap_per_pod
                )
                .expect("CSV written");
            }
        }
        drop(target);
    }
}

/// The pod counts measured: `INFORMER_BENCH_SIZES` (comma-separated), else
/// `INFORMER_BENCH_PODS`, else 100 000.
fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("INFORMER_BENCH_SIZES") {
        return list.split(',').map(|n| n.trim().parse().expect("INFORMER_BENCH_SIZES: pod counts")).collect();
    }
    vec![std::env::var("INFORMER_BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(PODS)]
}

fn rust_child(exe: &Path, name: &str, address: &str, pods: usize) -> Figures {
    let output = Command::new(exe)
        .args(["--child", name, address])
        .env("INFORMER_BENCH_PODS", pods.to_string())
        .output()
        .expect("child process runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!("child {name} failed: {}\n{}", text, String::from_utf8_lossy(&output.stderr));
    };
    let v: Vec<f64> = line.split(' ').map(|x| x.parse().expect("number")).collect();
    Figures { secs: v[0], hwm_kib: v[1], heap_bytes: v[3] }
}

fn client_go_child(peer: &Path, name: &str, target: &Target, pods: usize) -> Figures {
    let (_, watch_list, strip, protobuf) = *CLIENT_GO.iter().find(|(n, _, _, _)| *n == name).expect("known side");
    let kubeconfig = match target {
        Target::Local { dir, .. } => dir.path().join("kubeconfig"),
        Target::Real { kubeconfig, .. } => kubeconfig.clone(),
    };
    let mut command = Command::new(peer);
    command.arg("-kubeconfig").arg(&kubeconfig).env("KUBE_FEATURE_WatchListClient", watch_list.to_string());
    if strip {
        command.arg("-strip-managed-fields");
    }
    if protobuf {
        command.arg("-protobuf");
    }
    let output = command.output().expect("client-go peer runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("peer {name} failed: {text}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(result["objects"].as_u64(), Some(pods as u64), "{name}: {result}");
    let number = |field: &str| result[field].as_f64().unwrap_or_else(|| panic!("{name}: no {field} in {result}"));
    Figures { secs: number("sync_seconds"), hwm_kib: number("peak_rss_kib"), heap_bytes: number("heap_inuse_bytes") }
}

/// Mean compact JSON size of the first 1 000 served pods (one list page), with and without
/// managedFields.
async fn json_sizes(target: &Target) -> (f64, f64) {
    let client = match target {
        Target::Local { server, .. } => client(&server.url()),
        Target::Real { control_plane, .. } => control_plane.client(User::Admin).await.expect("admin client"),
    };
    let request = http::Request::get("/api/v1/pods?limit=1000").body(Vec::new()).expect("request");
    let list: serde_json::Value = client.request(request).await.expect("pods listed");
    let items = list["items"].as_array().expect("items");
    let (mut with, mut without) = (0usize, 0usize);
    for pod in items {
        let mut pod = pod.clone();
        with += serde_json::to_vec(&pod).expect("serializes").len();
        strip_managed_fields(&mut pod);
        without += serde_json::to_vec(&pod).expect("serializes").len();
    }
    (with as f64 / items.len() as f64, without as f64 / items.len() as f64)
}

/// The pods a child expects (the parent passes `INFORMER_BENCH_PODS`).
fn pods() -> usize {
    std::env::var("INFORMER_BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(PODS)
}

fn child(side: &str, address: &str) {
    let (_, repr, strip) = *SIDES.iter().find(|(n, _, _)| *n == side).expect("known side");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // kube clients spawn their buffer task on the current runtime.
    let _entered = runtime.enter();
    let client = if address.starts_with("http") {
        client(address)
    } else {
        runtime.block_on(client_from_kubeconfig(Path::new(address))).expect("client from the kubeconfig")
    };
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

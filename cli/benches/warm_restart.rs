//! Cold against warm restart of `informer mirror kube://v1/pods --snapshot FILE [--resume]` on
//! 100 000 pods: bytes read from the API server and time until the snapshot is current again,
//! after 1 000 pods changed while the mirror was stopped.
//!
//! * **cold**: `informer mirror kube://v1/pods --snapshot FILE` lists every pod again (what
//!   client-go, kube-runtime and controller-runtime do after every restart).
//! * **warm**: the same with `--resume`: it loads the snapshot and watches from its version, so
//!   only the 1 000 changes cross the wire.
//!
//! Each restart runs the release `informer` binary in its own process, against the local API
//! server (`informer_tests::kube_api`, in this process) through a transparent proxy that counts
//! the bytes the mirror reads. "Current" means the snapshot file names the server's newest
//! version; the time includes starting the process, loading the snapshot (warm) or listing
//! (cold), and writing the snapshot. Both sides strip `managedFields`, as a mirror kept on disk
//! would.
//!
//! Run on a quiet machine: `cargo bench -p informer-cli --bench warm_restart`. Prints one line per
//! restart and the medians of 3 (with min and max); the results go to BENCHMARKS.md.
//! `INFORMER_BENCH_PODS=2000` runs a small version that only checks the bench works;
//! `INFORMER_BENCH_LOG=info` shows the mirrors' logs.

// A measurement of whole restarts, not a micro-benchmark: a plain main instead of criterion.
#![allow(missing_docs)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use informer_tests::kube_api::{KubeApiServer, PodGenerator, ServerOptions};
use informer_tests::process::peak_rss_kib;
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::stats::median_min_max;

const CHANGES: usize = 1_000;
const RUNS: usize = 3;

/// 100 000, or `INFORMER_BENCH_PODS` (a smaller number checks that the bench runs).
fn pods() -> usize {
    std::env::var("INFORMER_BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}

/// The version the snapshot at `path` names, read from its first bytes (the snapshot starts
/// with `{"source":…,"version":"N",`), so a 100k-pod file is not parsed while polling.
fn snapshot_version(path: &Path) -> Option<u64> {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = std::str::from_utf8(&head[..n]).ok()?;
    let rest = &head[head.find("\"version\":\"")? + "\"version\":\"".len()..];
    rest[..rest.find('"')?].parse().ok()
}

struct Restart {
    warm: bool,
    elapsed: Duration,
    bytes: u64,
    peak_rss_kib: u64,
}

/// Starts the mirror, waits until its snapshot names `target`, stops it (SIGTERM).
fn restart(kubeconfig: &Path, snapshot: &Path, warm: bool, target: u64, proxy: &FaultProxy) -> Restart {
    let bytes_before = proxy.counts().bytes_down;
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_informer"));
    command
        .args(["mirror", "kube://v1/pods", "--transform", "strip-managed-fields", "--snapshot"])
        .arg(snapshot)
        .env("KUBECONFIG", kubeconfig)
        // INFORMER_BENCH_LOG=info (any RUST_LOG filter) shows the mirrors' logs.
        .env("RUST_LOG", std::env::var("INFORMER_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null());
    if warm {
        command.arg("--resume");
    }
    let mut child = command.spawn().expect("informer starts");
    while snapshot_version(snapshot).is_none_or(|v| v < target) {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("informer exited with {status} before the snapshot reached version {target}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let peak_rss_kib = peak_rss_kib(child.id());
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    let status = child.wait().expect("informer stops");
    assert!(status.success(), "informer stopped with {status}");
    Restart { warm, elapsed, bytes: proxy.counts().bytes_down - bytes_before, peak_rss_kib }
}

/// Changes `CHANGES` pods (an annotation each, one version each) while no mirror runs.
fn change_pods(server: &KubeApiServer, generator: &PodGenerator, pods: usize, round: usize) {
    for i in 0..CHANGES {
        let index = (i * 97 + round) % pods;
        let pod = generator.pod(index);
        let (namespace, name) = (pod["metadata"]["namespace"].as_str(), pod["metadata"]["name"].as_str());
        let mut current = server.get("Pod", namespace, name.expect("pod name")).expect("pod exists");
        current["metadata"]["annotations"]["bench/round"] = serde_json::json!(round.to_string());
        server.update(current).expect("pod updated");
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _guard = rt.enter();
    let pods = pods();
    let options = ServerOptions::default().with_history(4 * CHANGES).with_bookmark_interval(None);
    let server = rt.block_on(KubeApiServer::start_with(options)).expect("local API server starts");
    let generator = PodGenerator::new(8);
    let loading = Instant::now();
    server.create_pods(&generator, 0..pods).expect("pods created");
    eprintln!("loaded {pods} pods in {:.1?}", loading.elapsed());
    let proxy = rt.block_on(FaultProxy::start(server.addr(), Faults::none(), 1)).expect("proxy starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let yaml = server.kubeconfig_yaml().replace(&server.url(), &format!("http://{}", proxy.addr()));
    std::fs::write(&kubeconfig, yaml).expect("kubeconfig written");
    let snapshot = dir.path().join("pods.json");

    // The first sync, so that both kinds of restart find a snapshot.
    restart(&kubeconfig, &snapshot, false, server.revision(), &proxy);
    let mut results = Vec::new();
    for run in 0..RUNS * 2 {
        let warm = run % 2 == 1;
        change_pods(&server, &generator, pods, run);
        let r = restart(&kubeconfig, &snapshot, warm, server.revision(), &proxy);
        println!(
            "{}: {:.3?} until current, {} bytes read, peak RSS {} MiB",
            if warm { "warm" } else { "cold" },
            r.elapsed,
            r.bytes,
            r.peak_rss_kib / 1024
        );
        results.push(r);
    }
    for warm in [false, true] {
        let side: Vec<&Restart> = results.iter().filter(|r| r.warm == warm).collect();
        let (t, t_min, t_max) = median_min_max(&side.iter().map(|r| r.elapsed).collect::<Vec<_>>());
        let (b, b_min, b_max) = median_min_max(&side.iter().map(|r| r.bytes).collect::<Vec<_>>());
        let (m, _, _) = median_min_max(&side.iter().map(|r| r.peak_rss_kib).collect::<Vec<_>>());
        println!(
            "{} restart, median of {RUNS}: {t:.3?} (min {t_min:.3?}, max {t_max:.3?}) until current; \
             {b} bytes read (min {b_min}, max {b_max}); peak RSS {} MiB",
            if warm { "warm" } else { "cold" },
            m / 1024
        );
    }
}

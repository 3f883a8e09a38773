//! Watch throughput against client-go: how fast each side takes a backlog of MODIFIED events
//! into an indexed store, each side in its own process, with two indexes on both sides (node,
//! and the `app.kubernetes.io/name` label) and managedFields stripped on both.
//!
//! The parent holds the local API server (real HTTP, JSON) behind a proxy. For each run it
//! starts the side (a child process of this bench, or client-go's peer), waits until the side
//! has synced 10 000 pods, holds the proxy's server-to-client direction (the proxy keeps what
//! the server streams in memory), writes `EVENTS` pod updates (every pod `EVENTS / 10 000`
//! times), waits until the server has streamed them all into the proxy, releases it and lets
//! the side time its own consumption, from the first MODIFIED event it applied to the last. client-go counts in an
//! update handler; informer counts the reflector's applied MODIFIED events (polled every
//! millisecond).
//!
//! ```text
//! cargo bench -p informer-kube --bench watch      # INFORMER_BENCH_RUNS=3, INFORMER_BENCH_EVENTS=100000
//! ```

mod support;

use std::io::{BufRead, BufReader};

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer_stores::Indexer;
use informer_tests::kube_api::{KubeApiServer, PodGenerator};
use informer_tests::proxy::{FaultProxy, Faults};
use informer_tests::stats::median_min_max;
use support::*;

/// Pods in the server (and in each side's store).
const WATCH_PODS: usize = 10_000;

const SIDES: [&str; 3] = ["informer/raw_strip", "informer/typed_strip", "client_go/json_strip"];

fn events() -> usize {
    std::env::var("INFORMER_BENCH_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    parent();
}

fn parent() {
    let runs: usize = std::env::var("INFORMER_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let server = runtime.block_on(loaded_server(WATCH_PODS, runs * SIDES.len() * events() + 10_000));
    let proxy = runtime.block_on(FaultProxy::start(server.addr(), Faults::none(), 1)).expect("proxy");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let url = format!("http://{}", proxy.addr());
    std::fs::write(&kubeconfig, server.kubeconfig_yaml().replace(&server.url(), &url)).expect("kubeconfig");
    let peer = client_go_peer();
    let generator = PodGenerator::new(SEED);
    let exe = std::env::current_exe().expect("own executable");
    println!("| side | events/s, median of {runs} (min–max) |");
    println!("| --- | ---: |");
    let mut round = 0;
    for side in SIDES {
        let mut rates = Vec::new();
        for _ in 0..runs {
            let mut command = if side.starts_with("client_go") {
                let Some(peer) = &peer else { break };
                let mut command = Command::new(peer);
                command
                    .arg("-kubeconfig")
                    .arg(&kubeconfig)
                    .args(["-strip-managed-fields", "-two-indexes", "-updates", &events().to_string()])
                    .env("KUBE_FEATURE_WatchListClient", "false");
                command
            } else {
                let mut command = Command::new(&exe);
                command.args(["--child", side, &url]).env("INFORMER_BENCH_EVENTS", events().to_string());
                command
            };
            let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("side starts");
            // Both sides say `synced` on stderr once their store holds every pod.
            let stderr = child.stderr.take().expect("stderr");
            let mut lines = BufReader::new(stderr).lines();
            loop {
                match lines.next() {
                    Some(Ok(line)) if line.trim() == "synced" => break,
                    Some(Ok(_)) => {}
                    _ => panic!("{side} ended before it synced: {:?}", child.wait_with_output()),
                }
            }
            std::thread::spawn(move || lines.for_each(drop));
            proxy.hold_down(true);
            let held_from = proxy.counts().bytes_down;
            // Let what is already in flight arrive before the writes start.
            std::thread::sleep(Duration::from_millis(200));
            let written = Instant::now();
            change_pods(&server, &generator, round);
            round += 1;
            // The server streams the events into the proxy, which keeps them: wait until it has
            // sent them all (no new bytes for 500 ms), so the side is timed, not the server.
            let mut last = proxy.counts().bytes_down;
            let mut quiet_since = Instant::now();
            while quiet_since.elapsed() < Duration::from_millis(500) {
                std::thread::sleep(Duration::from_millis(50));
                let now = proxy.counts().bytes_down;
                if now != last {
                    (last, quiet_since) = (now, Instant::now());
                }
            }
            eprintln!(
                "{side}: {} updates written and {} bytes queued in {:.1?}",
                events(),
                last - held_from,
                written.elapsed()
            );
            proxy.hold_down(false);
            let released = Instant::now();
            let output = child.wait_with_output().expect("side ends");
            eprintln!("{side}: released to exit {:.2?}", released.elapsed());
            let text = String::from_utf8_lossy(&output.stdout);
            rates.push(rate(side, &text));
        }
        if rates.is_empty() {
            println!("| {side} | (no Go to build the peer) |");
            continue;
        }
        let (median, min, max) = median_min_max(&rates);
        println!("| {side} | {median:.0} ({min:.0}–{max:.0}) |");
    }
}

/// The side's events per second, from its last stdout line.
fn rate(side: &str, stdout: &str) -> f64 {
    if let Some(r) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
        return r.trim().parse().expect("events/s");
    }
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{side} printed no result: {stdout}"));
    assert_eq!(result["updates"].as_u64(), Some(events() as u64), "{side}: {result}");
    result["events_per_second"].as_f64().unwrap_or_else(|| panic!("{side}: {result}"))
}

/// `events()` updates: every pod in turn, an annotation changed each time.
fn change_pods(server: &KubeApiServer, generator: &PodGenerator, round: usize) {
    for i in 0..events() {
        let pod = generator.pod(i % WATCH_PODS);
        let (namespace, name) = (pod["metadata"]["namespace"].as_str(), pod["metadata"]["name"].as_str());
        let mut current = server.get("Pod", namespace, name.expect("pod name")).expect("pod exists");
        current["metadata"]["annotations"]["bench/round"] = serde_json::json!(format!("{round}-{i}"));
        server.update(current).expect("pod updated");
    }
}

fn child(side: &str, url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let client = client(url);
    let rate = runtime.block_on(async {
        match side {
            "informer/raw_strip" => {
                let store = Indexer::with_indexers(informer_core::KeyFn::keyed(), raw_indexers());
                consume(InformerSide::start(raw_source(client, true), store).await.0).await
            }
            "informer/typed_strip" => {
                let store = Indexer::with_indexers(informer_kube::key_fn(), typed_indexers());
                consume(InformerSide::start(typed_source(client, true), store).await.0).await
            }
            other => panic!("unknown side {other}"),
        }
    });
    println!("RESULT {rate}");
}

/// Says `synced`, then times the MODIFIED events applied from the first to the `events()`-th.
async fn consume<S: informer_core::Store + 'static>(side: InformerSide<S>) -> f64 {
    assert_eq!(side.store.list_keys().len(), WATCH_PODS);
    eprintln!("synced");
    let modified = |side: &InformerSide<S>| side.handle.metrics().events_modified;
    let base = modified(&side);
    while modified(&side) == base {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let first = Instant::now();
    let first_count = modified(&side) - base;
    let target = base + events() as u64;
    while modified(&side) < target {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = first.elapsed().as_secs_f64();
    let store: Arc<S> = side.stop().await;
    drop(store);
    // The first poll saw `first_count` already applied: time the rest.
    (events() as u64 - first_count) as f64 / elapsed
}

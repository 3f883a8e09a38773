//! What recording metrics costs: the indexer bench's update workloads (100 000 pods, two
//! indexes) and a watch bench (a reflector applying 20 000 memory-source events to a named
//! indexer), each without recording (`off`), named with no recorder installed
//! (`named_no_recorder`), and named with a Prometheus recorder installed globally
//! (`prometheus`, `metrics-exporter-prometheus`, as the CLI's `--metrics` does). The issue's
//! bar: recording costs less than 2 %.
//!
//! Each variant runs in its own process (the three side by side in one process differed by up
//! to 30 % from heap layout alone, in either direction, whatever recorded), the processes
//! interleaved over several runs; each process reports the median of its rounds, and the
//! parent prints the median of the runs with min and max, and the ratio to `off`.
//!
//! Run on a quiet machine: `cargo bench -p informer-stores --bench metrics_overhead`
//! (`INFORMER_BENCH_RUNS`, default 5). Wall time on a shared 2-core VM varies by ±10 % between
//! processes, more than the effect measured; `INFORMER_BENCH_CALLGRIND=1` counts instead the
//! instructions of the measured part (valgrind's callgrind, with collection toggled on the
//! measured function only; the watch then runs on a current-thread runtime, so the reflector's
//! task is counted too), which repeats to a few hundredths of a percent.

// A measurement of whole processes, not a micro-benchmark: a plain main instead of criterion.
#![allow(missing_docs)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer_core::{CancellationToken, KeyFn, Reflector, ReflectorConfig, Store};
use informer_memory::{MemoryConfig, MemoryObject, MemorySource};
use informer_stores::{IndexFn, Indexer, Indexers};
use informer_tests::stats::median_min_max;
use metrics_exporter_prometheus::PrometheusBuilder;

mod support;

use support::{indexer, pods};

const EVENTS: u64 = 20_000;
/// Rounds a child times after one warm-up round.
const ROUNDS: usize = 9;

const VARIANTS: [&str; 3] = ["off", "named_no_recorder", "prometheus"];
const WORKLOADS: [&str; 3] = ["indexer_values_unchanged", "indexer_node_changes", "watch_20k_events"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    parent();
}

fn callgrind() -> bool {
    std::env::var("INFORMER_BENCH_CALLGRIND").is_ok_and(|v| v == "1")
}

/// Runs one child and returns its figure: milliseconds, or instructions under callgrind.
fn run_child(exe: &std::path::Path, workload: &str, variant: &str) -> f64 {
    let output = if callgrind() {
        Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--collect-atstart=no",
                "--toggle-collect=*measured_*",
            ])
            .arg(exe)
            .args(["--child", workload, variant])
            .output()
            .expect("valgrind runs (apt-get install valgrind)")
    } else {
        Command::new(exe).args(["--child", workload, variant]).output().expect("child process runs")
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let figure = if callgrind() {
        stderr.lines().find_map(|l| l.split("Collected : ").nth(1)).map(str::trim).map(str::to_string)
    } else {
        stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).map(str::trim).map(str::to_string)
    };
    match figure.and_then(|f| f.parse().ok()) {
        Some(figure) if output.status.success() => figure,
        _ => panic!("child {workload}/{variant} failed: {stdout}\n{stderr}"),
    }
}

fn parent() {
    let runs: usize = std::env::var("INFORMER_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let exe = std::env::current_exe().expect("own executable");
    let unit = if callgrind() { "instructions" } else { "ms" };
    println!("| workload | variant | median of {runs} runs ({unit}) | min | max | vs off |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for workload in WORKLOADS {
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for _ in 0..runs {
            for (v, variant) in VARIANTS.iter().enumerate() {
                results[v].push(run_child(&exe, workload, variant));
            }
        }
        let (off, _, _) = median_min_max(&results[0]);
        for (variant, times) in VARIANTS.iter().zip(&results) {
            let (med, min, max) = median_min_max(times);
            println!(
                "| {workload} | {variant} | {med:.2} | {min:.2} | {max:.2} | {:+.2} % |",
                (med / off - 1.0) * 100.0
            );
        }
    }
}

/// One variant of one workload: prints `RESULT <median ms of ROUNDS rounds>`.
fn child(workload: &str, variant: &str) {
    let named = variant != "off";
    if variant == "prometheus" {
        PrometheusBuilder::new().install_recorder().expect("Prometheus recorder installed");
    }
    let mut times: Vec<f64> = match workload {
        "indexer_values_unchanged" | "indexer_node_changes" => {
            let versions = match workload {
                "indexer_values_unchanged" => [pods(0, 1), pods(0, 2)],
                _ => [pods(1, 1), pods(0, 2)],
            };
            let store = indexer(named.then_some("pods"));
            (0..=ROUNDS).map(|round| measured_updates(&store, &versions[round % 2])).collect()
        }
        "watch_20k_events" => {
            let runtime = match callgrind() {
                true => tokio::runtime::Builder::new_current_thread().enable_all().build(),
                false => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build(),
            };
            let runtime = runtime.expect("runtime");
            (0..=ROUNDS).map(|_| measured_watch(&runtime, named)).collect()
        }
        other => panic!("unknown workload {other}"),
    };
    // The first round warms up.
    times.remove(0);
    println!("RESULT {}", median_min_max(&times).0);
}

/// One round of updates, in ms (callgrind counts the instructions of this function).
#[inline(never)]
fn measured_updates(store: &Indexer<support::Pod>, pods: &[Arc<support::Pod>]) -> f64 {
    let started = Instant::now();
    for p in pods {
        store.update(Arc::clone(p)).expect("keyed");
    }
    started.elapsed().as_secs_f64() * 1e3
}

/// One watch run, in ms (callgrind counts the instructions of this function).
#[inline(never)]
fn measured_watch(runtime: &tokio::runtime::Runtime, named: bool) -> f64 {
    runtime.block_on(watch_run(named)).as_secs_f64() * 1e3
}

/// One watch run: a synced reflector, then `EVENTS` modifications; the time until all are applied.
async fn watch_run(named: bool) -> Duration {
    // History for every event: a watch that fell behind would relist, and time that instead.
    let source = MemorySource::<u64>::with_config(MemoryConfig::default().with_history(2 * EVENTS as usize));
    for i in 0..1000u64 {
        source.put(format!("k{i}"), i);
    }
    let store = Indexer::with_indexers(
        KeyFn::keyed(),
        Indexers::new().with(
            "parity",
            IndexFn::single(|o: &MemoryObject<u64>| if (**o.value()).is_multiple_of(2) { "even" } else { "odd" }),
        ),
    );
    let store = Arc::new(if named { store.with_name("bench") } else { store });
    let config = if named { ReflectorConfig::default().with_name("bench") } else { ReflectorConfig::default() };
    let reflector = Reflector::new(source.clone(), Arc::clone(&store), config);
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    handle.wait_synced().await;
    let started = Instant::now();
    for i in 0..EVENTS {
        source.put(format!("k{}", i % 1000), i);
    }
    // Until the store holds the source's newest revision: counting events would never end if
    // the watch fell more than the source's history behind and relisted.
    let target = source.revision();
    while handle.last_synced_version().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) < target {
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed();
    cancel.cancel();
    let _ = task.await;
    drop(store);
    elapsed
}

//! `scheduler_fifo shard` with 1, 2 and 4 processes on one pod collection in a real etcd:
//! the time until every pod is bound, each process's peak RSS and CPU, and the failover time
//! (one process SIGKILLed, new pods arriving: the time until they are all bound by the others).
//!
//! Each member is this bench's own executable started again with `--member` (it runs the
//! example's `sharded::member`, included below), so every side is its own process, built
//! `--release`. The parent loads the pods, learns progress from a watch on `/pods/` (no
//! polling), and reads `/proc/PID/{stat,status}` of each member when all pods are bound.
//!
//! Run on a quiet machine:
//! ```text
//! cargo bench -p informer-examples --bench scheduler_shards
//! ```
//! `INFORMER_BENCH_PODS` (default 20 000), `INFORMER_BENCH_SHARDS` (8), `INFORMER_BENCH_RUNS`
//! (3), `INFORMER_BENCH_MEMBERS` (`1,2,4`).
//!
//! Client-side sharding has a cost that this shows: etcd cannot filter by hash, so each shard's
//! reflector reads the whole prefix and keeps its share; a process owning k shards reads the
//! collection k times.

#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "../scheduler_fifo.rs"]
mod scheduler;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use informer::etcd::etcd_client::{Client, EventType, Txn, TxnOp, WatchOptions, WatchStream};
use informer_tests::etcd::{EtcdOptions, EtcdServer};
use informer_tests::process::{cpu_seconds, peak_rss_kib};
use informer_tests::stats::median_min_max;

const TTL_SECS: u64 = 3;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--member") {
        let (endpoint, name, shards) = (args[i + 1].clone(), args[i + 2].clone(), args[i + 3].parse().expect("shards"));
        member(endpoint, name, shards);
        return;
    }
    parent();
}

fn member(endpoint: String, name: String, shards: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let stop = informer::CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            on_signal.cancel();
        });
        let out: scheduler::shared::Out = Arc::new(Mutex::new(std::io::sink()));
        scheduler::sharded::member(endpoint, name, shards, Duration::from_secs(TTL_SECS), stop, out)
            .await
            .expect("member runs");
    });
}

fn start_etcd() -> EtcdServer {
    EtcdServer::start_with(EtcdOptions::for_benchmarks()).expect("etcd starts")
}

async fn create_pods(client: &Client, range: std::ops::Range<usize>) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(128) {
        let ops: Vec<TxnOp> =
            chunk.iter().map(|i| TxnOp::put(format!("/pods/default/job-{i:06}"), "pending", None)).collect();
        client.kv_client().txn(Txn::new().and_then(ops)).await.expect("pods created");
    }
}

/// Waits on the watch of `/pods/` until every key of `range` was seen bound.
async fn until_bound(watch: &mut WatchStream, range: std::ops::Range<usize>) {
    let mut waiting: HashSet<String> = range.map(|i| format!("/pods/default/job-{i:06}")).collect();
    while !waiting.is_empty() {
        let answer = watch.next().await.expect("watch open").expect("watch answer");
        for event in answer.events() {
            if event.event_type() == EventType::Put
                && let Some(kv) = event.kv()
                && kv.value().starts_with(b"bound ")
            {
                waiting.remove(kv.key_str().unwrap_or_default());
            }
        }
    }
}

/// CPU seconds and peak RSS in MiB of a running member.
fn proc_figures(child: &Child) -> (f64, f64) {
    (cpu_seconds(child.id()), peak_rss_kib(child.id()) as f64 / 1024.0)
}

fn signal(child: &mut Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    let _ = child.wait();
}

struct Run {
    schedule: Duration,
    rss_mib: Vec<f64>,
    cpu_s: Vec<f64>,
    failover: Option<Duration>,
}

fn run(rt: &tokio::runtime::Runtime, members: usize, pods: usize, shards: u32) -> Run {
    let etcd = start_etcd();
    let exe = std::env::current_exe().expect("own executable");
    rt.block_on(async {
        let client = Client::connect([etcd.endpoint()], None).await.expect("client");
        create_pods(&client, 0..pods).await;
        let mut watch = client
            .watch_client()
            .watch("/pods/", Some(WatchOptions::new().with_prefix()))
            .await
            .expect("watch of /pods/");
        let started = Instant::now();
        let mut children: Vec<Child> = (0..members)
            .map(|m| {
                Command::new(&exe)
                    .args(["--member", &etcd.endpoint(), &format!("m{m}"), &shards.to_string()])
                    .env("RUST_LOG", "error")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("member starts")
            })
            .collect();
        until_bound(&mut watch, 0..pods).await;
        let schedule = started.elapsed();
        let (cpu_s, rss_mib): (Vec<f64>, Vec<f64>) = children.iter().map(proc_figures).unzip();
        let failover = if members > 1 {
            let mut first = children.remove(0);
            let killed = Instant::now();
            signal(&mut first, "KILL");
            create_pods(&client, pods..pods + pods / 10).await;
            until_bound(&mut watch, pods..pods + pods / 10).await;
            Some(killed.elapsed())
        } else {
            None
        };
        for child in &mut children {
            signal(child, "INT");
        }
        Run { schedule, rss_mib, cpu_s, failover }
    })
}

/// `median (min–max)` of `values`.
fn cell(values: &[f64]) -> String {
    let (m, lo, hi) = median_min_max(values);
    format!("{m:.2} ({lo:.2}–{hi:.2})")
}

fn parent() {
    let pods = env_or("INFORMER_BENCH_PODS", 20_000);
    let shards = env_or("INFORMER_BENCH_SHARDS", 8) as u32;
    let runs = env_or("INFORMER_BENCH_RUNS", 3);
    let counts: Vec<usize> = std::env::var("INFORMER_BENCH_MEMBERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|n| n.trim().parse().expect("INFORMER_BENCH_MEMBERS: numbers"))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!(
        "{pods} pending pods, {shards} shards, lease TTL {TTL_SECS} s; median of {runs} runs (min–max); per-process figures over every process of every run"
    );
    println!();
    println!(
        "| processes | all pods bound, s | pods/s | peak RSS per process, MiB | CPU per process, s | failover, s |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for members in counts {
        let results: Vec<Run> = (0..runs)
            .map(|r| {
                let run = run(&rt, members, pods, shards);
                eprintln!(
                    "{members} processes, run {r}: {:.2?}, RSS {:?} MiB, CPU {:?} s, failover {:?}",
                    run.schedule, run.rss_mib, run.cpu_s, run.failover
                );
                run
            })
            .collect();
        let schedule: Vec<f64> = results.iter().map(|r| r.schedule.as_secs_f64()).collect();
        let (s, s_lo, s_hi) = median_min_max(&schedule);
        let rss: Vec<f64> = results.iter().flat_map(|r| r.rss_mib.clone()).collect();
        let cpu: Vec<f64> = results.iter().flat_map(|r| r.cpu_s.clone()).collect();
        let failover: Vec<f64> = results.iter().filter_map(|r| r.failover.map(|d| d.as_secs_f64())).collect();
        let failover = if failover.is_empty() { "–".to_string() } else { cell(&failover) };
        println!(
            "| {members} | {s:.2} ({s_lo:.2}–{s_hi:.2}) | {:.0} | {} | {} | {failover} |",
            pods as f64 / s,
            cell(&rss),
            cell(&cpu),
        );
    }
}

//! `informer mirror etcd://… --to etcd://…` against `etcdctl make-mirror` (3.7, built from
//! `go.etcd.io/etcd/etcdctl/v3` by `tests/peers/etcdctl`, and Debian's 3.4 `etcdctl`), each
//! mirror in its own process, copying the prefix `/src/` of one etcd into `/dst/` of another:
//!
//! * **initial copy**: 100 000 keys of 1 KiB; the time from starting the mirror's process until
//!   the destination holds every key;
//! * **stream**: 20 000 changes (puts of existing keys, one in ten a delete, one in ten a new
//!   key, each its own revision, as clients write) made while the mirror's process is paused
//!   (SIGSTOP), so that the changes wait in the source's watch and the time measured is the
//!   mirror's own; then the process continues (SIGCONT) and the time runs until the destination
//!   holds the last change (a marker key written after all the others: both mirrors apply the
//!   source's revisions in order).
//!
//! Each run starts two fresh etcds (3.7, from the control plane's build, else `etcd` on PATH)
//! with `--unsafe-no-fsync`. The parent learns the destination's progress from a watch on it,
//! not by polling, and checks after each phase that `/dst/` equals `/src/` key for key and byte
//! for byte (untimed). CPU is the mirror process's user + system time in each phase (from
//! `/proc/PID/stat`), RSS its peak (`VmHWM`) at the end.
//!
//! Run on a quiet machine:
//! ```text
//! cargo bench -p informer-cli --bench etcd_mirror
//! ```
//! `INFORMER_BENCH_RUNS` (default 3), `INFORMER_BENCH_KEYS` (100 000), `INFORMER_BENCH_CHANGES`
//! (20 000); `-- informer` (any part of a side's name) runs only matching sides. A side whose
//! binary is missing (no Go, no Debian `etcd-client`) is reported as skipped.

// A measurement of whole processes, not a micro-benchmark: a plain main instead of criterion.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use informer_etcd::etcd_client::{Client, EventType, GetOptions, Txn, TxnOp, WatchOptions};
use informer_tests::etcd::{EtcdOptions, EtcdServer};
use informer_tests::process::{cpu_seconds, peak_rss_kib};
use informer_tests::stats::median_min_max;

const VALUE_SIZE: usize = 1024;
const MARKER: &str = "~marker";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// A mirror under test: how to start it for a source and a destination endpoint.
struct Side {
    name: &'static str,
    binary: Option<PathBuf>,
}

impl Side {
    fn command(&self, binary: &Path, source: &str, destination: &str) -> Command {
        let mut command = Command::new(binary);
        if self.name == "informer" {
            command
                .args(["mirror", &format!("etcd://{source}/src/"), "--to", &format!("etcd://{destination}/dst/")])
                .env("RUST_LOG", std::env::var("INFORMER_BENCH_LOG").unwrap_or_else(|_| "warn".into()));
        } else {
            command.arg(format!("--endpoints={source}")).args([
                "make-mirror",
                "--prefix=/src/",
                "--dest-prefix=/dst/",
                destination,
            ]);
        }
        command.stdout(Stdio::null());
        command
    }
}

/// Builds etcdctl 3.7 from `tests/peers/etcdctl` into `~/.cache/informer/peers` (a relink when
/// Go's build cache is warm); `None` without Go.
fn etcdctl_37() -> Option<PathBuf> {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/etcdctl");
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let bin = home.join(".cache/informer/peers/etcdctl-3.7");
    let built = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&bin)
        .arg("go.etcd.io/etcd/etcdctl/v3")
        .current_dir(&module)
        .env("CGO_ENABLED", "0")
        .status();
    match built {
        Ok(status) if status.success() => Some(bin),
        Ok(status) => panic!("go build of etcdctl 3.7 failed: {status}"),
        Err(err) => {
            eprintln!("no Go ({err}): etcdctl 3.7 is skipped");
            None
        }
    }
}

/// Debian's etcdctl (package `etcd-client`, 3.4), if installed and 3.4.
fn etcdctl_debian() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/etcdctl");
    let version = Command::new(&path).arg("version").env("ETCDCTL_API", "3").output().ok()?;
    String::from_utf8_lossy(&version.stdout).contains("version: 3.4").then_some(path)
}

/// An etcd for one run: 3.7 from the control plane's build when it is there.
fn start_etcd() -> EtcdServer {
    EtcdServer::start_with(EtcdOptions::for_benchmarks()).expect("etcd starts")
}

fn value(key: usize, round: u32) -> Vec<u8> {
    let mut v = format!("{key:06}:{round:04}:").into_bytes();
    v.resize(VALUE_SIZE, b'a' + (round % 26) as u8);
    v
}

/// Loads `keys` keys into `/src/` in transactions of 128 puts, 8 in flight.
async fn load(client: &Client, keys: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    let all: Vec<usize> = (0..keys).collect();
    for chunk in all.chunks(128) {
        let chunk = chunk.to_vec();
        let mut kv = client.kv_client();
        tasks.spawn(async move {
            let ops: Vec<TxnOp> =
                chunk.iter().map(|i| TxnOp::put(format!("/src/{i:06}"), value(*i, 0), None)).collect();
            kv.txn(Txn::new().and_then(ops)).await.expect("load transaction");
        });
        while tasks.len() >= 8 {
            tasks.join_next().await.expect("task").expect("load");
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("load");
    }
}

/// Writes `changes` single-key changes to `/src/` (32 in flight), each its own revision: puts
/// of existing keys, every tenth a delete, every tenth a new key; then the marker, last.
async fn write_changes(client: &Client, keys: usize, changes: usize, marker: &str) {
    let writes = futures::stream::iter(0..changes).map(|i| {
        let mut kv = client.kv_client();
        async move {
            let existing = (i * 7919) % keys;
            match i % 10 {
                3 => kv.delete(format!("/src/{existing:06}"), None).await.map(drop),
                7 => kv.put(format!("/src/{:06}", keys + i), value(keys + i, 1), None).await.map(drop),
                _ => kv.put(format!("/src/{existing:06}"), value(existing, 1 + i as u32), None).await.map(drop),
            }
        }
    });
    let failed = writes.buffer_unordered(32).filter(|r| std::future::ready(r.is_err())).count().await;
    assert_eq!(failed, 0, "every change written");
    client.kv_client().put(format!("/src/{MARKER}"), marker, None).await.expect("marker written");
}

/// Every key and value under `prefix`, the prefix cut off, read in pages of 2 000 (2 MiB: a
/// gRPC answer may not pass 4 MiB).
async fn dump(client: &Client, prefix: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut kv = client.kv_client();
    let mut out = BTreeMap::new();
    let mut from = prefix.as_bytes().to_vec();
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("prefix") += 1;
    loop {
        let page = kv
            .get(from.clone(), Some(GetOptions::new().with_range(end.clone()).with_limit(2_000)))
            .await
            .expect("range read");
        for kv in page.kvs() {
            out.insert(kv.key()[prefix.len()..].to_vec(), kv.value().to_vec());
        }
        match page.kvs().last() {
            Some(last) if page.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return out,
        }
    }
}

async fn assert_equal(source: &Client, destination: &Client, what: &str) {
    let (src, dst) = (dump(source, "/src/").await, dump(destination, "/dst/").await);
    if src != dst {
        let missing = src.keys().filter(|k| !dst.contains_key(*k)).count();
        let extra = dst.keys().filter(|k| !src.contains_key(*k)).count();
        let differ = src.iter().filter(|(k, v)| dst.get(*k).is_some_and(|d| d != *v)).count();
        panic!("after the {what}: /dst/ differs from /src/: {missing} missing, {extra} extra, {differ} different");
    }
}

/// Waits on the destination's watch until `done` says so, given each put key (prefix cut).
async fn until(stream: &mut informer_etcd::etcd_client::WatchStream, mut done: impl FnMut(&[u8], &[u8]) -> bool) {
    while let Some(response) = stream.next().await {
        let response = response.expect("destination watch");
        for event in response.events() {
            if event.event_type() == EventType::Put
                && let Some(kv) = event.kv()
                && done(&kv.key()["/dst/".len()..], kv.value())
            {
                return;
            }
        }
    }
    panic!("the destination's watch ended");
}

fn signal(child: &Child, signal: &str) {
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

/// A mirror process, killed if the bench panics before it stops it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    initial: Duration,
    initial_cpu: f64,
    stream: Duration,
    stream_cpu: f64,
    rss_mib: f64,
}

fn run(rt: &tokio::runtime::Runtime, side: &Side, binary: &Path, keys: usize, changes: usize, n: usize) -> Run {
    let (src, dst) = (start_etcd(), start_etcd());
    rt.block_on(async {
        let source = Client::connect([src.endpoint()], None).await.expect("source client");
        let destination = Client::connect([dst.endpoint()], None).await.expect("destination client");
        load(&source, keys).await;
        let mut progress = destination
            .watch_client()
            .watch("/dst/", Some(WatchOptions::new().with_prefix()))
            .await
            .expect("destination watch");

        let started = Instant::now();
        let guard = KillOnDrop(side.command(binary, &src.endpoint(), &dst.endpoint()).spawn().expect("mirror starts"));
        let child = &guard.0;
        let mut seen = HashSet::with_capacity(keys);
        until(&mut progress, |key, _| {
            seen.insert(key.to_vec());
            seen.len() == keys
        })
        .await;
        let initial = started.elapsed();
        let initial_cpu = cpu_seconds(child.id());
        assert_equal(&source, &destination, "initial copy").await;

        signal(child, "STOP");
        let marker = format!("run-{n}");
        write_changes(&source, keys, changes, &marker).await;
        let cpu_before = cpu_seconds(child.id());
        let started = Instant::now();
        signal(child, "CONT");
        until(&mut progress, |key, value| key == MARKER.as_bytes() && value == marker.as_bytes()).await;
        let stream = started.elapsed();
        let stream_cpu = cpu_seconds(child.id()) - cpu_before;
        let rss_mib = peak_rss_kib(child.id()) as f64 / 1024.0;
        assert_equal(&source, &destination, "stream").await;
        Run { initial, initial_cpu, stream, stream_cpu, rss_mib }
    })
}

fn main() {
    let runs = env_or("INFORMER_BENCH_RUNS", 3);
    let keys = env_or("INFORMER_BENCH_KEYS", 100_000);
    let changes = env_or("INFORMER_BENCH_CHANGES", 20_000);
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let sides = [
        Side { name: "informer", binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_informer"))) },
        Side { name: "etcdctl-3.7 make-mirror", binary: etcdctl_37() },
        Side { name: "etcdctl-3.4 make-mirror (Debian)", binary: etcdctl_debian() },
    ];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!("{keys} keys of {VALUE_SIZE} B, then {changes} changes; median of {runs} (min–max)");
    println!();
    println!("| mirror | initial copy s | keys/s | CPU s | stream s | changes/s | CPU s | peak RSS MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for side in sides.iter().filter(|s| filter.is_empty() || filter.iter().any(|f| s.name.contains(f.as_str()))) {
        let Some(binary) = &side.binary else {
            println!("| {} | (binary missing: skipped) | | | | | | |", side.name);
            continue;
        };
        let results: Vec<Run> = (0..runs)
            .map(|n| {
                let r = run(&rt, side, binary, keys, changes, n);
                eprintln!(
                    "{} run {n}: initial {:.2?} ({:.2} s CPU), stream {:.2?} ({:.2} s CPU), peak RSS {:.0} MiB",
                    side.name, r.initial, r.initial_cpu, r.stream, r.stream_cpu, r.rss_mib
                );
                r
            })
            .collect();
        let secs = |f: &dyn Fn(&Run) -> f64| median_min_max(&results.iter().map(f).collect::<Vec<f64>>());
        let (i, i_min, i_max) = secs(&|r| r.initial.as_secs_f64());
        let (s, s_min, s_max) = secs(&|r| r.stream.as_secs_f64());
        let (icpu, _, _) = secs(&|r| r.initial_cpu);
        let (scpu, _, _) = secs(&|r| r.stream_cpu);
        let (rss, rss_min, rss_max) = secs(&|r| r.rss_mib);
        println!(
            "| {} | {i:.2} ({i_min:.2}–{i_max:.2}) | {:.0} | {icpu:.2} | {s:.2} ({s_min:.2}–{s_max:.2}) | {:.0} | {scpu:.2} | {rss:.0} ({rss_min:.0}–{rss_max:.0}) |",
            side.name,
            keys as f64 / i,
            (changes + 1) as f64 / s,
        );
    }
}

//! End-to-end runs of the binary against `memory://demo`.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{check_snapshot_text, informer, lines, read_snapshot, run, sigterm, wait_for_snapshot, wait_timeout};
use informer_memory::MemorySource;
use informer_memory::demo::{DemoPod, populate};
use serde_json::Value;

/// What `memory://demo?objects=N&seed=S` starts with, as the snapshot shows it.
fn expected_demo(objects: usize, seed: u64) -> BTreeMap<String, Value> {
    let source = MemorySource::<DemoPod>::new();
    populate(&source, objects, seed);
    source.snapshot().into_iter().map(|(k, o)| (k.to_string(), serde_json::to_value(&**o.value()).unwrap())).collect()
}

fn items(snapshot: &Value) -> BTreeMap<String, Value> {
    snapshot["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn once_prints_a_sorted_snapshot_equal_to_the_demo_data() {
    let out = run(&["mirror", "memory://demo?objects=300&rate=0&seed=5", "--once", "--page-size", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let snapshot = check_snapshot_text(text.trim_end());
    assert_eq!(snapshot["source"], "memory://demo?objects=300&rate=0&seed=5");
    assert_eq!(snapshot["version"], "300");
    assert_eq!(items(&snapshot), expected_demo(300, 5));
}

#[test]
fn once_writes_the_snapshot_file_atomically_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.json");
    let out = run(&["mirror", "memory://demo?objects=50&rate=0", "--once", "--snapshot", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let snapshot = read_snapshot(&path);
    assert_eq!(items(&snapshot), expected_demo(50, 42));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "temporary files left: {names:?}");
}

#[test]
fn events_lines_are_json_with_type_key_and_version() {
    let mut child = informer(&["mirror", "memory://demo?objects=20&rate=2000&seed=3", "--events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.iter().filter(|e| e["type"] != "ADDED" && e["type"] != "SYNCED").count() < 30 {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("more event lines");
        seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")));
    }
    sigterm(&child);
    assert!(wait_timeout(&mut child, Duration::from_secs(10)).success());

    // The initial list: one ADDED per object at the list's version, then SYNCED. (The churn
    // starts with the process, so the list may already include a few changes.)
    let synced = seen.iter().position(|e| e["type"] == "SYNCED").expect("a SYNCED line");
    assert!(synced >= 15, "only {synced} objects listed");
    let list_version = seen[synced]["version"].clone();
    assert_eq!(seen[synced]["key"], Value::Null);
    assert!(
        seen[..synced].iter().all(|e| e["type"] == "ADDED" && e["version"] == list_version && e["key"].is_string())
    );
    let mut last: u64 = list_version.as_str().unwrap().parse().unwrap();
    for event in &seen[synced + 1..] {
        let kind = event["type"].as_str().unwrap();
        assert!(["ADDED", "MODIFIED", "DELETED"].contains(&kind), "{event}");
        assert!(event["key"].as_str().is_some_and(|k| k.contains('/')), "{event}");
        // Watch events carry the collection's version after the change: here, increasing.
        let version: u64 = event["version"].as_str().unwrap().parse().unwrap();
        assert!(version > last, "{event} after version {last}");
        last = version;
    }
    assert!(seen.iter().any(|e| e["type"] == "DELETED"));
}

#[test]
fn query_prints_the_keys_an_index_maps_a_value_to() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.json");
    let out = run(&[
        "mirror",
        "memory://demo?objects=200&rate=0&seed=9",
        "--index",
        "node=/node",
        "--index",
        "app=/labels/app",
        "--query",
        "node=node-03",
        "--query",
        "app=web",
        "--once",
        "--snapshot",
        snapshot.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let demo = expected_demo(200, 9);
    let expect = |field: &str, value: &str| -> Vec<Value> {
        demo.iter()
            .filter(|(_, pod)| pod.pointer(field) == Some(&Value::from(value)))
            .map(|(k, _)| k.clone().into())
            .collect()
    };
    assert_eq!(answers.len(), 2, "{text}");
    assert_eq!(answers[0]["type"], "QUERY");
    assert_eq!(answers[0]["keys"], Value::Array(expect("/node", "node-03")));
    assert_eq!(answers[1]["keys"], Value::Array(expect("/labels/app", "web")));
    assert!(!answers[1]["keys"].as_array().unwrap().is_empty());
}

#[test]
fn sigterm_writes_a_final_snapshot_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    // A long interval: after the first write, only the final write on SIGTERM can update the file.
    let mut child = informer(&[
        "mirror",
        "memory://demo?objects=100&rate=1000",
        "--snapshot",
        path.to_str().unwrap(),
        "--snapshot-interval",
        "1h",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let first = wait_for_snapshot(&path, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let last = read_snapshot(&path);
    let version = |s: &Value| s["version"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(version(&last) > version(&first), "final snapshot not newer: {} vs {}", last["version"], first["version"]);
    assert_ne!(items(&last), items(&first));
}

#[test]
fn snapshot_follows_changes_at_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let mut child = informer(&[
        "mirror",
        "memory://demo?objects=10&rate=500",
        "--snapshot",
        path.to_str().unwrap(),
        "--snapshot-interval",
        "50ms",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let first = wait_for_snapshot(&path, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = read_snapshot(&path);
        if now["version"] != first["version"] {
            break;
        }
        assert!(Instant::now() < deadline, "snapshot never changed");
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    assert!(wait_timeout(&mut child, Duration::from_secs(10)).success());
}

/// One sample of a scrape: the value of `metric` whose labels include every pair in `labels`.
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(
        |s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{metric}: unexpected value {other:?}"),
        },
    )
}

#[tokio::test]
async fn metrics_endpoint_serves_the_library_metrics_in_prometheus_text_format() {
    let addr = common::free_addr();
    let mut child = informer(&[
        "mirror",
        "memory://demo?objects=30&rate=0",
        "--page-size",
        "10",
        // Paged lists, counted below (a streaming list has no pages).
        "--initial-list",
        "list",
        "--metrics",
        &addr,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // reqwest is built with rustls but no provider in this workspace; plain HTTP still needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let scrape = loop {
        if let Ok(response) = client.get(format!("http://{addr}/metrics")).send().await {
            assert!(response.status().is_success(), "{}", response.status());
            let body = response.text().await.unwrap();
            let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
            if sample(&scrape, "informer_reflector_synced", &[]) == Some(1.0) {
                break scrape;
            }
        }
        assert!(Instant::now() < deadline, "never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let name = scrape
        .samples
        .iter()
        .find(|s| s.metric == "informer_reflector_lists_total")
        .and_then(|s| s.labels.get("name").map(str::to_string))
        .expect("the reflector's series carry a name label");
    let labels = [("name", name.as_str())];
    assert_eq!(sample(&scrape, "informer_reflector_lists_total", &labels), Some(1.0), "one list");
    assert_eq!(sample(&scrape, "informer_reflector_list_pages_total", &labels), Some(3.0), "30 objects, pages of 10");
    assert_eq!(sample(&scrape, "informer_reflector_relists_total", &labels), Some(0.0));
    assert_eq!(sample(&scrape, "informer_store_objects", &labels), Some(30.0), "the demo keeps 30 objects");
    assert!(sample(&scrape, "informer_reflector_watches_total", &labels).is_some_and(|w| w >= 1.0));
    assert_eq!(sample(&scrape, "informer_reflector_events_total", &[("type", "added"), labels[0]]), Some(0.0));
    assert!(
        scrape.samples.iter().any(|s| s.metric.starts_with("informer_reflector_list_duration_seconds")),
        "the list duration histogram or summary is exported"
    );
    sigterm(&child);
    assert!(wait_timeout(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn sigint_also_writes_the_final_snapshot_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let mut child = informer(&["mirror", "memory://demo?objects=20&rate=0", "--snapshot", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_snapshot(&path, Duration::from_secs(10));
    std::fs::remove_file(&path).unwrap();
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(10)).code(), Some(0));
    // Removed after the first write: only the final write on SIGINT can have brought it back.
    assert_eq!(items(&read_snapshot(&path)), expected_demo(20, 42));
}

#[test]
fn progress_is_shown_on_a_terminal_during_the_initial_sync() {
    // `script` runs the command with its stdio on a pseudo-terminal and copies what it printed.
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.json");
    let typescript = dir.path().join("typescript");
    let command = format!(
        "{} mirror 'memory://demo?objects=500&rate=0' --once --snapshot {}",
        env!("CARGO_BIN_EXE_informer"),
        snapshot.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, typescript.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .expect("run script (util-linux)");
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("listing memory://demo"), "{shown}");
    assert!(shown.contains("synced 500 objects at version 500"), "{shown}");
    // On a terminal, info logs are off by default: the spinner says it.
    assert!(!shown.contains(" INFO "), "{shown}");
}

#[test]
fn logs_go_to_stderr_when_it_is_not_a_terminal_and_rust_log_filters_them() {
    let out =
        informer(&["mirror", "memory://demo?objects=5&rate=0", "--once"]).env_remove("RUST_LOG").output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO") && stderr.contains("initial sync done"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("INFO"));

    let quiet =
        informer(&["mirror", "memory://demo?objects=5&rate=0", "--once"]).env("RUST_LOG", "error").output().unwrap();
    assert!(quiet.status.success() && quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let out = informer(&["--log-format", "json", "mirror", "memory://demo?objects=5&rate=0", "--once"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let listed = lines.iter().find(|l| l["fields"]["message"] == "listed").expect("a `listed` log line");
    assert_eq!(listed["fields"]["objects"], 5, "{listed}");
    assert_eq!(listed["level"], "INFO");
}

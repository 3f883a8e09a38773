//! `informer mirror SRC1 SRC2 ...` end to end against `memory://demo` sources: lines and
//! snapshot entries name their SOURCE, one-SOURCE output is unchanged, bad combinations are
//! refused naming what is wrong.

mod common;

use std::collections::BTreeMap;

use common::run;
use informer_memory::MemorySource;
use informer_memory::demo::{DemoPod, populate};
use serde_json::Value;

const A: &str = "memory://demo?objects=20&rate=0&seed=1";
const B: &str = "memory://demo?objects=30&rate=0&seed=2";

/// What `memory://demo?objects=N&seed=S` starts with, as the snapshot shows it.
fn expected_demo(objects: usize, seed: u64) -> BTreeMap<String, Value> {
    let source = MemorySource::<DemoPod>::new();
    populate(&source, objects, seed);
    source.snapshot().into_iter().map(|(k, o)| (k.to_string(), serde_json::to_value(&**o.value()).unwrap())).collect()
}

fn items(entry: &Value) -> BTreeMap<String, Value> {
    entry["items"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

#[test]
fn two_sources_in_one_run_name_their_source_in_every_line_and_snapshot_entry() {
    let out = run(&["mirror", A, B, "--events", "--index", "node=/node", "--query", "node=node-01", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let (snapshot, lines) = lines.split_last().expect("a snapshot line");

    for (source, objects, seed) in [(A, 20, 1), (B, 30, 2)] {
        let mine: Vec<&Value> = lines.iter().filter(|l| l["source"] == source).collect();
        let added = mine.iter().filter(|l| l["type"] == "ADDED").count();
        assert_eq!(added, objects, "{source}: one ADDED per object");
        assert_eq!(mine.iter().filter(|l| l["type"] == "SYNCED").count(), 1, "{source}");
        let query = mine.iter().find(|l| l["type"] == "QUERY").expect("a QUERY line per SOURCE");
        let want: Vec<Value> = expected_demo(objects, seed)
            .into_iter()
            .filter(|(_, pod)| pod["node"] == "node-01")
            .map(|(key, _)| key.into())
            .collect();
        assert_eq!(query["keys"], Value::Array(want), "{source}");
    }
    assert!(lines.iter().all(|l| l["source"] == A || l["source"] == B), "every line names its SOURCE");

    assert_eq!(snapshot["format"], 2);
    let entries = snapshot["sources"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0]["source"].as_str(), entries[0]["version"].as_str()), (Some(A), Some("20")));
    assert_eq!((entries[1]["source"].as_str(), entries[1]["version"].as_str()), (Some(B), Some("30")));
    assert_eq!(items(&entries[0]), expected_demo(20, 1));
    assert_eq!(items(&entries[1]), expected_demo(30, 2));
}

#[test]
fn several_sources_write_one_format_2_snapshot_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.json");
    let out = run(&["mirror", A, B, "--once", "--snapshot", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"format\":2,\"sources\":[\n{\"source\":"), "{}", &text[..60]);
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    let sources: Vec<&str> =
        snapshot["sources"].as_array().unwrap().iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(sources, [A, B]);
    // The library reads it back entry by entry.
    let read =
        informer_cli::snapshot::read_sources(&path, |_| Ok(()), |_, key, _| Ok(key.to_string())).unwrap().unwrap();
    assert_eq!((read[0].items.len(), read[1].items.len()), (20, 30));
}

#[test]
fn one_source_prints_and_writes_what_it_always_did() {
    let out = run(&["mirror", A, "--events", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let (snapshot, events) = lines.split_last().unwrap();
    assert_eq!(events.len(), 21);
    for event in events {
        let fields: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["key", "type", "version"], "no source field with one SOURCE: {event}");
    }
    let fields: Vec<&String> = snapshot.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["items", "source", "version"], "a format 1 snapshot");
}

#[test]
fn the_same_source_twice_is_refused_naming_it() {
    let out = run(&["mirror", A, B, A, "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("SOURCE {A} is given twice")), "{stderr}");
    // Two spellings of one SOURCE are one SOURCE.
    let same = "memory://demo?seed=1&rate=0&objects=20";
    let out = run(&["mirror", A, same, "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(A) && stderr.contains(same) && stderr.contains("are the same"), "{stderr}");
}

#[test]
fn to_with_several_sources_is_refused_naming_the_flag() {
    // Refused before anything connects: the ports need not be open.
    let out = run(&["mirror", "etcd://127.0.0.1:1/a/", "etcd://127.0.0.1:1/b/", "--to", "etcd://127.0.0.1:1/c/"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--to mirrors one etcd SOURCE") && stderr.contains("etcd://127.0.0.1:1/b/"), "{stderr}");
}

#[test]
fn kind_specific_options_need_one_source_of_their_kind() {
    let out = run(&["mirror", A, B, "--transform", "strip-managed-fields", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--transform") && stderr.contains("memory, memory"), "{stderr}");
}

#[test]
fn resume_refuses_sources_that_cannot_be_read_back_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let out = run(&["mirror", A, B, "--snapshot", path.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(A) && stderr.contains("cannot be read back"), "{stderr}");
}

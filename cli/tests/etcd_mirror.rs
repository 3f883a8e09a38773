//! `informer mirror etcd://… --to etcd://…` and `--resume` end to end: the built binary against
//! two real etcd servers.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{informer, read_snapshot, sigterm, wait_for_snapshot, wait_timeout};
use informer_etcd::etcd_client::{Client, ConnectOptions, GetOptions};
use informer_tests::etcd::EtcdServer;

async fn connect(endpoint: &str) -> Client {
    Client::connect([endpoint], None).await.unwrap()
}

async fn prefix(client: &Client, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let response = client.kv_client().get(prefix, Some(GetOptions::new().with_prefix())).await.unwrap();
    response.kvs().iter().map(|kv| (String::from_utf8_lossy(kv.key()).into_owned(), kv.value().to_vec())).collect()
}

/// Waits until the destination's `/dst/` equals the source's `/src/`.
async fn wait_mirrored(source: &Client, destination: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let want: BTreeMap<String, Vec<u8>> =
            prefix(source, "/src/").await.into_iter().map(|(k, v)| (k.replacen("/src/", "/dst/", 1), v)).collect();
        let got = prefix(destination, "/dst/").await;
        if want == got {
            return;
        }
        assert!(Instant::now() < deadline, "destination: {} keys, source: {} keys", got.len(), want.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the child with SIGTERM; returns its exit code and stderr.
async fn stop(mut child: Child) -> (Option<i32>, String) {
    sigterm(&child);
    tokio::task::spawn_blocking(move || {
        let status = wait_timeout(&mut child, Duration::from_secs(15));
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), stderr)
    })
    .await
    .unwrap()
}

fn spawn(args: &[&str]) -> Child {
    informer(args).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

async fn put_keys(client: &Client, prefix: &str, n: usize, value: &str) {
    let mut kv = client.kv_client();
    for i in 0..n {
        kv.put(format!("{prefix}{i:04}"), format!("{value} {i}"), None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_into_etcd_prunes_and_a_restart_resumes_without_listing() {
    let (src, dst) = (EtcdServer::start().unwrap(), EtcdServer::start().unwrap());
    let (source, destination) = (connect(&src.endpoint()).await, connect(&dst.endpoint()).await);
    put_keys(&source, "/src/k", 200, "v").await;
    destination.kv_client().put("/dst/stale", "only here", None).await.unwrap();
    destination.kv_client().put("/dstx", "outside", None).await.unwrap();
    let (from, to) = (format!("etcd://{}/src/", src.endpoint()), format!("etcd://{}/dst/", dst.endpoint()));
    let args = ["mirror", from.as_str(), "--to", to.as_str(), "--max-txn-ops", "16"];

    let child = spawn(&args);
    wait_mirrored(&source, &destination).await;
    assert_eq!(prefix(&destination, "/dstx").await.len(), 1, "outside the prefix: untouched");
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
    let state = destination.kv_client().get("/dst.mirror-state", None).await.unwrap();
    let record: serde_json::Value = serde_json::from_slice(state.kvs()[0].value()).unwrap();
    assert_eq!((record["source"].as_str(), record["complete"].as_bool()), (Some(from.as_str()), Some(true)));

    put_keys(&source, "/src/k", 20, "changed").await;
    source.kv_client().delete("/src/k0100", None).await.unwrap();
    let child = spawn(&args);
    wait_mirrored(&source, &destination).await;
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("resuming from the destination's state record"), "{stderr}");
    assert!(!stderr.contains("listed"), "a warm restart lists nothing: {stderr}");
    assert!(stderr.contains("lists: 0"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_writes_the_initial_sync_into_the_destination_and_exits() {
    let (src, dst) = (EtcdServer::start().unwrap(), EtcdServer::start().unwrap());
    let (source, destination) = (connect(&src.endpoint()).await, connect(&dst.endpoint()).await);
    put_keys(&source, "/src/k", 300, "v").await;
    let (from, to) = (format!("etcd://{}/src/", src.endpoint()), format!("etcd://{}/dst/", dst.endpoint()));
    let once = move || common::run(&["mirror", &from, "--to", &to, "--once"]);
    let out = tokio::task::spawn_blocking(once.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    wait_mirrored(&source, &destination).await;
    // Again after changes: the destination holds a complete state, and --once still catches up.
    put_keys(&source, "/src/k", 10, "changed").await;
    source.kv_client().delete("/src/k0200", None).await.unwrap();
    let out = tokio::task::spawn_blocking(once).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    wait_mirrored(&source, &destination).await;
}

#[test]
fn a_bad_destination_exits_with_code_2_and_says_why() {
    for (args, expect) in [
        (vec!["--to", "http://127.0.0.1:2379/x/"], "etcd://HOST:PORT/PREFIX"),
        (vec!["--to", "etcd://127.0.0.1/x/"], "127.0.0.1"),
        (vec!["--to", "etcd://127.0.0.1:2379"], "PREFIX"),
        (vec!["--to", "etcd://127.0.0.1:2379/x/", "--state-key", "/x/inside"], "inside the destination prefix"),
        (vec!["--max-txn-ops", "1", "--to", "etcd://127.0.0.1:2379/x/"], "1"),
        (vec!["--to-user", "u"], "--to"),
    ] {
        let mut all = vec!["mirror", "etcd://127.0.0.1:1/src/"];
        all.extend(args.iter().copied());
        let out = common::run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(expect), "{all:?}: {stderr}");
    }
    let out = common::run(&["mirror", "memory://demo", "--to", "etcd://127.0.0.1:2379/x/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to mirrors etcd:// sources"));
}

async fn enable_auth(dst: &EtcdServer) {
    use informer_etcd::etcd_client::Permission;
    let admin = connect(&dst.endpoint()).await;
    let mut auth = admin.auth_client();
    auth.user_add("root", "rootpw", None).await.unwrap();
    auth.user_grant_role("root", "root").await.unwrap();
    auth.role_add("read-dst").await.unwrap();
    auth.role_grant_permission("read-dst", Permission::read("/dst").with_prefix()).await.unwrap();
    auth.user_add("reader", "readerpw", None).await.unwrap();
    auth.user_grant_role("reader", "read-dst").await.unwrap();
    auth.auth_enable().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_auth_works_and_a_read_only_user_fails_with_exit_code_1_naming_the_destination() {
    let (src, dst) = (EtcdServer::start().unwrap(), EtcdServer::start().unwrap());
    let source = connect(&src.endpoint()).await;
    put_keys(&source, "/src/k", 50, "v").await;
    enable_auth(&dst).await;
    let (from, to) = (format!("etcd://{}/src/", src.endpoint()), format!("etcd://{}/dst/", dst.endpoint()));

    let args = [
        "mirror".to_string(),
        from.clone(),
        "--to".into(),
        to.clone(),
        "--to-user".into(),
        "reader".into(),
        "--to-password".into(),
        "readerpw".into(),
    ];
    let out = tokio::task::spawn_blocking(move || common::run(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&dst.endpoint()) && stderr.contains("refused a write"), "{stderr}");
    assert!(!stderr.contains("readerpw"), "{stderr}");

    // root, with the password from the environment.
    let child = informer(&["mirror", &from, "--to", &to, "--to-user", "root"])
        .env("INFORMER_TO_PASSWORD", "rootpw")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let root =
        Client::connect([dst.endpoint()], Some(ConnectOptions::new().with_user("root", "rootpw"))).await.unwrap();
    wait_mirrored(&source, &root).await;
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_restarts_a_snapshot_mirror_warm_and_snapshots_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let etcd = EtcdServer::start().unwrap();
    let client = connect(&etcd.endpoint()).await;
    put_keys(&client, "/app/k", 100, "v").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    let source = format!("etcd://{}/app/", etcd.endpoint());
    let args = ["mirror", source.as_str(), "--snapshot", path.to_str().unwrap(), "--resume"];

    // No snapshot yet: a cold start.
    let child = spawn(&args);
    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || wait_for_snapshot(&path, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert_eq!(first["items"].as_object().unwrap().len(), 100);
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("listed"), "{stderr}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    put_keys(&client, "/app/k", 10, "changed").await;
    client.kv_client().delete("/app/k0050", None).await.unwrap();
    let child = spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let snapshot = read_snapshot(&path);
        let items = snapshot["items"].as_object().unwrap();
        if items.len() == 99 && items["/app/k0000"]["value"] == "changed 0" {
            break;
        }
        assert!(Instant::now() < deadline, "the warm mirror did not catch up: {} items", items.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("resuming from the snapshot"), "{stderr}");
    assert!(!stderr.contains("listed"), "a warm restart lists nothing: {stderr}");

    // A snapshot of another SOURCE is not resumed from.
    let other = format!("etcd://{}/other/", etcd.endpoint());
    let out = common::run(&["mirror", &other, "--snapshot", path.to_str().unwrap(), "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("remove it or drop --resume"));
    let out = common::run(&["mirror", &source, "--resume"]);
    assert_eq!(out.status.code(), Some(2), "--resume needs --snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_into_a_destination_over_tls_with_a_private_ca_and_a_user() {
    use informer_tests::etcd::{EtcdOptions, free_port};
    let dir = tempfile::tempdir().unwrap();
    informer_tests::tls::make_certificates(dir.path());
    let tls_port = free_port().unwrap();
    let dst = EtcdServer::start_with(EtcdOptions::with_https_listener(tls_port, dir.path())).unwrap();
    let src = EtcdServer::start().unwrap();
    let source = connect(&src.endpoint()).await;
    put_keys(&source, "/src/k", 40, "v").await;
    enable_auth(&dst).await;
    let from = format!("etcd://{}/src/", src.endpoint());
    let to = format!("etcd://127.0.0.1:{tls_port}/dst/");
    let ca = dir.path().join("ca.crt").display().to_string();
    let child =
        informer(&["mirror", &from, "--to", &to, "--to-ca-file", &ca, "--to-user", "root", "--to-password", "rootpw"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let root =
        Client::connect([dst.endpoint()], Some(ConnectOptions::new().with_user("root", "rootpw"))).await.unwrap();
    wait_mirrored(&source, &root).await;
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");

    // Without --to-ca-file the destination's certificate is not trusted (plain http is refused by
    // the TLS listener): exit 1, naming the destination.
    let out = tokio::task::spawn_blocking(move || {
        common::run(&["mirror", &from, "--to", &to, "--to-user", "root", "--to-password", "rootpw"])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&tls_port.to_string()), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sources_resume_each_from_its_own_snapshot_entry() {
    let etcd = EtcdServer::start().unwrap();
    let client = connect(&etcd.endpoint()).await;
    put_keys(&client, "/a/k", 20, "a").await;
    put_keys(&client, "/b/k", 30, "b").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.json");
    let (a, b) = (format!("etcd://{}/a/", etcd.endpoint()), format!("etcd://{}/b/", etcd.endpoint()));
    let args = ["mirror", a.as_str(), b.as_str(), "--snapshot", path.to_str().unwrap(), "--resume"];
    let entry = |snapshot: &serde_json::Value, i: usize| snapshot["sources"][i].clone();
    let len = |entry: &serde_json::Value| entry["items"].as_object().map_or(0, |items| items.len());

    // No snapshot yet: both start cold.
    let child = spawn(&args);
    let first = tokio::task::spawn_blocking({
        let path = path.clone();
        move || wait_for_snapshot(&path, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert_eq!(first["format"], 2);
    assert_eq!((entry(&first, 0)["source"].as_str(), len(&entry(&first, 0))), (Some(a.as_str()), 20));
    assert_eq!((entry(&first, 1)["source"].as_str(), len(&entry(&first, 1))), (Some(b.as_str()), 30));
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");

    // Changes under /b/ only; each SOURCE resumes from its own entry's version.
    put_keys(&client, "/b/k", 5, "changed").await;
    let child = spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let snapshot = read_snapshot_v2(&path);
        if entry(&snapshot, 1)["items"]["/b/k0000"]["value"] == "changed 0" {
            assert_eq!(len(&entry(&snapshot, 0)), 20);
            break;
        }
        assert!(Instant::now() < deadline, "the warm mirror of /b/ did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, stderr) = stop(child).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr.matches("resuming from the snapshot").count(), 2, "{stderr}");
    assert!(!stderr.contains("listed"), "a warm restart lists nothing: {stderr}");

    // A snapshot of other SOURCEs is refused, naming the mismatch.
    let c = format!("etcd://{}/c/", etcd.endpoint());
    let out = common::run(&["mirror", &a, &c, "--snapshot", path.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("mirrors {b:?}, which is not one of the SOURCEs")), "{stderr}");
    let out = common::run(&["mirror", &a, "--snapshot", path.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("mirrors {b:?}, not {a:?}")), "{stderr}");

    // An old one-SOURCE snapshot still reads: it resumes its SOURCE alone, and a run of more
    // SOURCEs says which one it lacks.
    let single = dir.path().join("a.json");
    let out = common::run(&["mirror", &a, "--once", "--snapshot", single.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_snapshot(&single)["source"], a.as_str(), "one SOURCE writes format 1");
    let out = common::run(&["mirror", &a, &b, "--snapshot", single.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("has no entry for {b:?}")), "{stderr}");
    let child = spawn(&["mirror", &a, "--snapshot", single.to_str().unwrap(), "--resume"]);
    let (code, stderr) = stop_when(child, "resuming from the snapshot").await;
    assert_eq!(code, Some(0), "{stderr}");
}

/// Reads a format 2 snapshot file (retrying while it is being replaced is not needed: the
/// writer renames complete files over it).
fn read_snapshot_v2(path: &std::path::Path) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(value["format"], 2, "{value}");
    value
}

/// Waits until the child's stderr shows `needle`, then stops it with SIGTERM; returns its exit
/// code and whole stderr (read to the end: a closed pipe would fail the child's logging).
async fn stop_when(mut child: Child, needle: &'static str) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(needle) {
                let _ = seen_tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    tokio::task::spawn_blocking(move || {
        let seen = seen_rx.recv_timeout(Duration::from_secs(15));
        sigterm(&child);
        let status = wait_timeout(&mut child, Duration::from_secs(15));
        let text = reader.join().unwrap_or_default();
        assert!(seen.is_ok(), "no {needle:?} in {text}");
        (status.code(), text)
    })
    .await
    .unwrap()
}

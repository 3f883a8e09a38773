//! Three processes of `scheduler_fifo shard` share one pod collection in a real etcd through
//! lease-owned shards. One is killed (SIGKILL) mid-run: its shards, and the pods that arrive in
//! them afterwards, are taken over by the other two once its lease expires. Checked from the
//! processes' own reports and from etcd: every pod is bound exactly once, and no pod is ever
//! processed by two processes at once.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use informer::etcd::etcd_client::{Client, GetOptions, Txn, TxnOp};
use informer_tests::etcd::EtcdServer;

const SHARDS: u32 = 6;
const TTL_SECS: u64 = 3;

/// The example's binary, built by `cargo test` beside this test (target/<profile>/examples).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("examples/scheduler_fifo");
    assert!(
        binary.is_file(),
        "{} is missing: `cargo test -p informer-examples` builds it (or `cargo build --example scheduler_fifo`)",
        binary.display()
    );
    binary
}

/// One processing of a pod by a member: (member, start, end; `None` if it never ended).
type Period<'a> = (&'a str, u128, Option<u128>);

/// One line a member printed: (member, words).
type Lines = Arc<Mutex<Vec<(String, Vec<String>)>>>;

struct Member {
    name: String,
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
}

fn start(endpoint: &str, name: &str, lines: &Lines) -> Member {
    let mut child = Command::new(example_binary())
        .args(["shard", endpoint, name, &SHARDS.to_string(), &TTL_SECS.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("scheduler_fifo starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (lines, member) = (Arc::clone(lines), name.to_string());
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            lines.lock().unwrap().push((member.clone(), line.split_whitespace().map(str::to_string).collect()));
        }
    });
    Member { name: name.to_string(), child, reader: Some(reader) }
}

async fn create_pods(client: &Client, range: std::ops::Range<usize>) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(100) {
        let ops: Vec<TxnOp> =
            chunk.iter().map(|i| TxnOp::put(format!("/pods/default/job-{i:05}"), "pending", None)).collect();
        client.kv_client().txn(Txn::new().and_then(ops)).await.expect("pods created");
    }
}

/// key → value of every pod.
async fn pods(client: &Client) -> BTreeMap<String, String> {
    let answer = client.kv_client().get("/pods/", Some(GetOptions::new().with_prefix())).await.expect("pods read");
    answer.kvs().iter().map(|kv| (kv.key_str().unwrap().to_string(), kv.value_str().unwrap().to_string())).collect()
}

async fn until_all_bound(client: &Client, count: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pods = pods(client).await;
        let bound = pods.values().filter(|v| v.starts_with("bound ")).count();
        if pods.len() == count && bound == count {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {bound} of {count} pods bound after 90 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_pods_and_take_over_a_killed_one_s_shards() {
    let etcd = EtcdServer::start().expect("etcd");
    let client = Client::connect([etcd.endpoint()], None).await.expect("etcd client");
    let lines: Lines = Arc::default();
    let mut members: Vec<Member> = ["a", "b", "c"].iter().map(|name| start(&etcd.endpoint(), name, &lines)).collect();

    // All three take their shards (6 shards: 2 each), then the first pods arrive.
    let acquired = |lines: &Lines| {
        let lines = lines.lock().unwrap();
        let mut owners: HashMap<String, String> = HashMap::new();
        for (member, words) in lines.iter() {
            match words.first().map(String::as_str) {
                Some("ACQUIRED") => owners.insert(words[1].clone(), member.clone()),
                Some("RELEASED") => owners.remove(&words[1]),
                _ => None,
            };
        }
        owners
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let split = |owners: &HashMap<String, String>| {
        owners.len() == SHARDS as usize
            && ["a", "b", "c"].iter().all(|m| owners.values().filter(|o| o == m).count() == 2)
    };
    while !split(&acquired(&lines)) {
        assert!(Instant::now() < deadline, "the three members did not split the shards: {:?}", acquired(&lines));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    create_pods(&client, 0..300).await;
    until_all_bound(&client, 300, "before the kill").await;

    // b dies without a word; pods keep coming, some into b's shards.
    let b = members.remove(1);
    let b_shards: Vec<String> =
        acquired(&lines).into_iter().filter(|(_, owner)| owner == "b").map(|(shard, _)| shard).collect();
    let killed = Instant::now();
    kill(b, "KILL");
    create_pods(&client, 300..600).await;
    until_all_bound(&client, 600, "after b was killed").await;
    let failover = killed.elapsed();
    eprintln!("b's shards {b_shards:?}: all 300 pods created after the kill bound {failover:?} after it");
    assert!(failover >= Duration::from_secs(TTL_SECS - 1), "b's shards were taken before its lease expired");
    let owners = acquired(&lines);
    for shard in &b_shards {
        assert!(matches!(owners.get(shard).map(String::as_str), Some("a" | "c")), "shard {shard}: {owners:?}");
    }

    // A clean stop (SIGINT) releases the shards and leaves.
    for member in members.drain(..) {
        let name = member.name.clone();
        let status = kill(member, "INT");
        assert!(status.success(), "{name} stopped cleanly: {status}");
    }

    // Every pod bound once, by whoever reported it; nobody processed a pod at the same time as
    // another process.
    let pods = pods(&client).await;
    let owner_records = client
        .kv_client()
        .get("/informer/shards/scheduler/owners/", Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .expect("owner records read")
        .count();
    assert_eq!(owner_records, 0, "the clean stops released every shard");
    let lines = lines.lock().unwrap().clone();
    let mut bound_by: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut periods: HashMap<&str, Vec<Period>> = HashMap::new();
    for (member, words) in lines.iter() {
        match words.first().map(String::as_str) {
            Some("START") => periods.entry(&words[1]).or_default().push((member, words[3].parse().unwrap(), None)),
            Some("END") => {
                let open = periods
                    .get_mut(words[1].as_str())
                    .and_then(|p| p.iter_mut().rev().find(|(m, _, end)| m == member && end.is_none()))
                    .expect("END after START");
                open.2 = Some(words[3].parse().unwrap());
                if words[4] == "bound" {
                    bound_by.entry(&words[1]).or_default().push(member);
                }
            }
            _ => {}
        }
    }
    for (key, value) in &pods {
        let binder = value.split_whitespace().nth(2).expect("bound NODE MEMBER");
        match bound_by.get(key.as_str()).map(Vec::as_slice) {
            Some([one]) => assert_eq!(*one, binder, "{key}: reported by {one}, bound by {binder}"),
            // b may have bound a pod and died before it could report it.
            None => assert_eq!(binder, "b", "{key} bound by {binder} without a report"),
            Some(many) => panic!("{key} bound {} times: {many:?}", many.len()),
        }
    }
    for (key, list) in &periods {
        for (i, (m1, s1, e1)) in list.iter().enumerate() {
            for (m2, s2, e2) in list.iter().skip(i + 1) {
                let (e1, e2) = (e1.unwrap_or(u128::MAX), e2.unwrap_or(u128::MAX));
                assert!(m1 == m2 || e1 <= *s2 || e2 <= *s1, "{key} processed by {m1} and {m2} at once");
            }
        }
    }
}

/// Sends `signal` to the member and waits for it to exit.
fn kill(mut member: Member, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill").arg(format!("-{signal}")).arg(member.child.id().to_string()).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {}", member.name);
    let status = member.child.wait().expect("member exits");
    if let Some(reader) = member.reader.take() {
        reader.join().expect("reader");
    }
    status
}

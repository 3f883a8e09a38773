//! Three processes of `scheduler_fifo` share one pod collection through lease-owned shards:
//! in a real etcd (`shard` mode: etcd leases, client-side sharding), and in the real
//! kube-apiserver 1.37 (`kube-shard` mode: Lease objects, server-side `shardSelector`). One is
//! killed (SIGKILL) mid-run: its shards, and the pods that arrive in them afterwards, are taken
//! over by the other two once its lease expires. Checked from the processes' own reports and
//! from the server: every pod is bound exactly once, by the process that reported it, and no pod
//! is ever processed by two processes at once.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use informer::etcd::etcd_client::{Client, GetOptions, Txn, TxnOp};
use informer::kube::k8s_openapi::api::coordination::v1::Lease;
use informer::kube::k8s_openapi::api::core::v1::Pod;
use informer::kube::kube::Api;
use informer_tests::control_plane::{ControlPlane, User, pod_manifest};
use informer_tests::etcd::EtcdServer;
use informer_tests::kube_api::PodGenerator;

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

/// Starts `scheduler_fifo MODE TARGET NAME SHARDS TTL` (TARGET: etcd endpoint or namespace).
fn start(mode: &str, target: &str, name: &str, env: &[(&str, &str)], lines: &Lines) -> Member {
    let mut child = Command::new(example_binary())
        .args([mode, target, name, &SHARDS.to_string(), &TTL_SECS.to_string()])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
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

/// The pod collection a scenario runs on: create pods, and read who bound each one.
trait Pods {
    /// Creates pending pods `range`.
    async fn create(&self, range: std::ops::Range<usize>);
    /// key (as the members report it) → the member that bound it, `None` while pending.
    async fn binders(&self) -> BTreeMap<String, Option<String>>;
    /// How many shard ownerships are still recorded on the server.
    async fn owned_shards(&self) -> usize;
}

struct EtcdPods(Client);

impl Pods for EtcdPods {
    async fn create(&self, range: std::ops::Range<usize>) {
        let keys: Vec<usize> = range.collect();
        for chunk in keys.chunks(100) {
            let ops: Vec<TxnOp> =
                chunk.iter().map(|i| TxnOp::put(format!("/pods/default/job-{i:05}"), "pending", None)).collect();
            self.0.kv_client().txn(Txn::new().and_then(ops)).await.expect("pods created");
        }
    }

    async fn binders(&self) -> BTreeMap<String, Option<String>> {
        let answer = self.0.kv_client().get("/pods/", Some(GetOptions::new().with_prefix())).await.expect("pods read");
        answer
            .kvs()
            .iter()
            .map(|kv| {
                let value = kv.value_str().unwrap();
                let binder = value.strip_prefix("bound ").and_then(|v| v.split_whitespace().nth(1)).map(str::to_string);
                (kv.key_str().unwrap().to_string(), binder)
            })
            .collect()
    }

    async fn owned_shards(&self) -> usize {
        let owners = GetOptions::new().with_prefix().with_count_only();
        self.0.kv_client().get("/informer/shards/scheduler/owners/", Some(owners)).await.expect("owners read").count()
            as usize
    }
}

struct KubePods {
    client: informer::kube::kube::Client,
    namespace: String,
}

impl Pods for KubePods {
    async fn create(&self, range: std::ops::Range<usize>) {
        use futures::StreamExt;
        let generator = PodGenerator::new(11);
        let path = format!("/api/v1/namespaces/{}/pods", self.namespace);
        let created = futures::stream::iter(range.clone())
            .map(|i| {
                let mut pod = pod_manifest(&generator, i, &self.namespace);
                pod["metadata"]["name"] = format!("job-{i:05}").into();
                pod["spec"].as_object_mut().expect("spec").remove("nodeName");
                let request = http::Request::post(path.as_str())
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&pod).expect("serializes"))
                    .expect("request");
                let client = self.client.clone();
                async move { client.request::<serde_json::Value>(request).await }
            })
            .buffer_unordered(16)
            .filter(|r| std::future::ready(r.is_ok()))
            .count()
            .await;
        assert_eq!(created, range.len(), "every pod created");
    }

    async fn binders(&self) -> BTreeMap<String, Option<String>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = pods.list(&Default::default()).await.expect("pods listed");
        list.items
            .into_iter()
            .map(|pod| {
                let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                let binder = node.and_then(|n| n.split_once("-node-").map(|(member, _)| member.to_string()));
                (format!("{}/{}", self.namespace, pod.metadata.name.unwrap_or_default()), binder)
            })
            .collect()
    }

    async fn owned_shards(&self) -> usize {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = leases.list(&Default::default()).await.expect("leases listed");
        list.items
            .iter()
            .filter(|l| l.metadata.name.as_deref().is_some_and(|n| n.starts_with("scheduler-shard-")))
            .filter(|l| l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).is_some_and(|h| !h.is_empty()))
            .count()
    }
}

async fn until_all_bound(pods: &impl Pods, count: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let binders = pods.binders().await;
        let bound = binders.values().filter(|b| b.is_some()).count();
        if binders.len() == count && bound == count {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {bound} of {count} pods bound after 90 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// shard → member, from the members' ACQUIRED and RELEASED lines.
fn owners(lines: &Lines) -> HashMap<String, String> {
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
}

/// Three members a, b, c in `mode`; b is SIGKILLed after the first 300 pods, 300 more arrive;
/// a and c stop cleanly. Then every check of the module docs.
async fn scenario(mode: &str, target: &str, env: &[(&str, &str)], pods: &impl Pods, batch: usize) {
    let lines: Lines = Arc::default();
    let mut members: Vec<Member> = ["a", "b", "c"].iter().map(|name| start(mode, target, name, env, &lines)).collect();

    // All three take their shards (6 shards: 2 each), then the first pods arrive.
    let deadline = Instant::now() + Duration::from_secs(60);
    let split = |owners: &HashMap<String, String>| {
        owners.len() == SHARDS as usize
            && ["a", "b", "c"].iter().all(|m| owners.values().filter(|o| o == m).count() == 2)
    };
    while !split(&owners(&lines)) {
        assert!(Instant::now() < deadline, "the three members did not split the shards: {:?}", owners(&lines));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pods.create(0..batch).await;
    until_all_bound(pods, batch, "before the kill").await;

    // b dies without a word; pods keep coming, some into b's shards.
    let b = members.remove(1);
    let b_shards: Vec<String> = owners(&lines).into_iter().filter(|(_, o)| o == "b").map(|(shard, _)| shard).collect();
    let killed = Instant::now();
    kill(b, "KILL");
    pods.create(batch..2 * batch).await;
    until_all_bound(pods, 2 * batch, "after b was killed").await;
    let failover = killed.elapsed();
    eprintln!(
        "{mode}: b's shards {b_shards:?}; the {batch} pods created after the kill were all bound {failover:?} after it"
    );
    assert!(failover >= Duration::from_secs(TTL_SECS - 1), "b's shards were taken before its lease expired");
    let now = owners(&lines);
    for shard in &b_shards {
        assert!(matches!(now.get(shard).map(String::as_str), Some("a" | "c")), "shard {shard}: {now:?}");
    }

    // A clean stop (SIGINT) releases the shards and leaves.
    for member in members.drain(..) {
        let name = member.name.clone();
        let status = kill(member, "INT");
        assert!(status.success(), "{name} stopped cleanly: {status}");
    }
    assert_eq!(pods.owned_shards().await, 0, "the clean stops released every shard");

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
    for (key, binder) in pods.binders().await {
        let binder = binder.unwrap_or_else(|| panic!("{key} is not bound"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_an_etcd_pod_collection_and_take_over_a_killed_one_s_shards() {
    let etcd = EtcdServer::start().expect("etcd");
    let client = Client::connect([etcd.endpoint()], None).await.expect("etcd client");
    scenario("shard", &etcd.endpoint(), &[], &EtcdPods(client), 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_kubernetes_namespace_and_take_over_a_killed_one_s_shards() {
    let cp = tokio::task::spawn_blocking(ControlPlane::shared).await.expect("control plane");
    let client = cp.client(User::Admin).await.expect("admin client");
    let namespace = cp.create_namespace(&client, "scheduler").await.expect("namespace");
    let kubeconfig = cp.kubeconfig(User::Admin).expect("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
    scenario(
        "kube-shard",
        &namespace,
        &[("KUBECONFIG", kubeconfig)],
        &KubePods { client, namespace: namespace.clone() },
        100,
    )
    .await;
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

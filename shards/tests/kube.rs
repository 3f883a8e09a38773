//! Shard ownership through Kubernetes Lease objects, against the real kube-apiserver 1.37 and
//! etcd 3.7 (one control plane per test binary, a fresh namespace per test): members split the
//! shards, a dead member's shards are taken over only after its lease could have expired on the
//! observers' clocks, a joining member gets its share, a member cut off from the apiserver
//! stops its work before anyone else takes its shards, and the Lease objects on the server
//! always agree with who owns what.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{
    Member, PATIENCE, SHARDS, TTL, WorkLog, not_before_the_ttl, owns_nothing_for_a_ttl, records_of, until_split,
};
use informer_kube::k8s_openapi::api::coordination::v1::Lease;
use informer_kube::kube::api::{Api, ListParams};
use informer_kube::kube::{Client, Config, config::KubeConfigOptions, config::Kubeconfig};
use informer_shards::{KubeLeases, LeaseService, ShardConfig, ShardOwner};
use informer_tests::control_plane::{ControlPlane, User};
use informer_tests::proxy::{FaultProxy, Faults};
use tokio_util::sync::CancellationToken;

const GROUP: &str = "test";

/// An admin client of the shared control plane and a fresh namespace.
async fn setup(prefix: &str) -> (Client, String) {
    let cp = ControlPlane::shared();
    let client = cp.client(User::Admin).await.expect("admin client");
    let namespace = cp.create_namespace(&client, prefix).await.expect("namespace");
    (client, namespace)
}

/// An admin client that reaches the apiserver through `proxy` (same 127.0.0.1 host, so the
/// serving certificate still matches; TLS passes through the TCP proxy).
async fn client_through(proxy: &FaultProxy) -> Client {
    let cp = ControlPlane::shared();
    let yaml =
        cp.kubeconfig_yaml(User::Admin).expect("kubeconfig").replace(&cp.url(), &format!("https://{}", proxy.addr()));
    let kubeconfig = Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    Client::try_from(config).expect("client through the proxy")
}

fn leases(client: &Client, namespace: &str) -> KubeLeases {
    KubeLeases::new(client.clone(), namespace, GROUP).expect("valid group")
}

fn member(client: &Client, namespace: &str, name: &str, log: &WorkLog) -> Member {
    Member::spawn(leases(client, namespace), name, log)
}

/// The group's Leases of one role on the server.
async fn leases_of(client: &Client, namespace: &str, role: &str) -> Vec<Lease> {
    let selector = leases(client, namespace).selector(Some(role));
    Api::<Lease>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("listing Leases")
        .items
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone().filter(|h| !h.is_empty())
}

/// The shard Leases on the server: shard → holder, for the shards that have one.
async fn shard_holders(client: &Client, namespace: &str) -> BTreeMap<u32, String> {
    let prefix = leases(client, namespace).shard_lease_name(0);
    let prefix = prefix.trim_end_matches('0');
    leases_of(client, namespace, "shard")
        .await
        .iter()
        .filter_map(|lease| {
            let shard = lease.metadata.name.as_deref()?.strip_prefix(prefix)?.parse().ok()?;
            Some((shard, holder(lease)?))
        })
        .collect()
}

/// The member Leases on the server that have a holder (live or not yet judged expired).
async fn member_holders(client: &Client, namespace: &str) -> BTreeSet<String> {
    leases_of(client, namespace, "member").await.iter().filter_map(holder).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_split_the_shards_a_dead_one_is_replaced_and_a_new_one_gets_its_share() {
    let (client, ns) = setup("shards-split").await;
    let log = WorkLog::default();
    let (a, b, c) = (member(&client, &ns, "a", &log), member(&client, &ns, "b", &log), member(&client, &ns, "c", &log));
    let owned = until_split(&[&a, &b, &c], &[3, 3, 2]).await;
    assert_eq!(owned[0], BTreeSet::from([0, 3, 6]), "shard i goes to the (i mod 3)-th member");
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &b, &c]));
    assert_eq!(member_holders(&client, &ns).await, BTreeSet::from(["a".into(), "b".into(), "c".into()]));

    // b dies: its task is aborted, nothing is released, its member Lease stops changing.
    b.task.abort();
    let died = Instant::now();
    let owned = until_split(&[&a, &c], &[4, 4]).await;
    not_before_the_ttl(died);
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &c]));
    assert_eq!(
        member_holders(&client, &ns).await,
        BTreeSet::from(["a".into(), "c".into()]),
        "b's member Lease is marked expired before its shards change hands"
    );

    // d joins: a and c give up what is now d's.
    let d = member(&client, &ns, "d", &log);
    let owned = until_split(&[&a, &c, &d], &[3, 3, 2]).await;
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &c, &d]));
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");

    // A clean stop releases at once: when a's owner returns, no Lease names a any more.
    a.stop().await;
    assert!(!shard_holders(&client, &ns).await.values().any(|m| m == "a"), "a released its shards");
    assert!(!member_holders(&client, &ns).await.contains("a"), "a deleted its member Lease");
    let owned = until_split(&[&c, &d], &[4, 4]).await;
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&c, &d]));
    assert_eq!(
        member_holders(&client, &ns).await,
        BTreeSet::from(["c".into(), "d".into()]),
        "a's member Lease is deleted"
    );
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");
    for m in [c, d] {
        m.stop().await;
    }
    assert!(shard_holders(&client, &ns).await.is_empty(), "every shard released on shutdown");
    let left: Vec<Option<String>> =
        leases_of(&client, &ns, "member").await.into_iter().map(|lease| lease.metadata.name).collect();
    assert_eq!(left, vec![Some(format!("{GROUP}-member-b"))], "only the dead b's Lease stays, marked expired");
    assert!(member_holders(&client, &ns).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_the_apiserver_stops_its_work_before_the_others_take_its_shards() {
    let (client, ns) = setup("shards-cut").await;
    let proxy = FaultProxy::start(ControlPlane::shared().addr(), Faults::none(), 1).await.expect("proxy");
    let log = WorkLog::default();
    let a = member(&client, &ns, "a", &log);
    let b = member(&client, &ns, "b", &log);
    let c = member(&client_through(&proxy).await, &ns, "c", &log);
    let owned = until_split(&[&a, &b, &c], &[3, 3, 2]).await;
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &b, &c]));

    // c hears nothing from the apiserver any more: its renewals go unanswered.
    proxy.hold_down(true);
    let mut c_owned = c.owned.clone();
    c_owned.wait_for(|owned| owned.is_empty()).await.expect("c's owner runs");
    let owned = until_split(&[&a, &b], &[4, 4]).await;
    assert_eq!(log.overlaps(), Vec::<String>::new(), "c still worked when another member took its shard");
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &b]));

    // Back in touch, c finds its member Lease marked expired, joins again and gets its share.
    proxy.hold_down(false);
    proxy.cut_all();
    let owned = until_split(&[&a, &b, &c], &[3, 3, 2]).await;
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&a, &b, &c]));
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");
    for m in [a, b, c] {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_same_member_name_waits_instead_of_sharing_its_shards() {
    let (client, ns) = setup("shards-same").await;
    let log = WorkLog::default();
    let first = member(&client, &ns, "same", &log);
    let owned = until_split(&[&first], &[SHARDS as usize]).await;
    // Another process: its own KubeLeases, so its own observations.
    let second = member(&client, &ns, "same", &log);
    // The first keeps renewing: the second never sees its member Lease expire, owns nothing.
    owns_nothing_for_a_ttl(&second).await;
    assert_eq!(first.owned.borrow().len(), SHARDS as usize);
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&first]));
    first.stop().await;
    // Once the first left, the second joins and takes everything.
    let owned = until_split(&[&second], &[SHARDS as usize]).await;
    assert_eq!(shard_holders(&client, &ns).await, records_of(&owned, &[&second]));
    second.stop().await;
    assert_eq!(log.overlaps(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_marks_a_silent_member_expired_and_its_fences_end() {
    let (client, ns) = setup("shards-fence").await;
    let (silent, observer) = (leases(&client, &ns), leases(&client, &ns));
    let gone = silent.join("silent", TTL).await.expect("silent joins");
    let watcher = observer.join("watcher", TTL).await.expect("watcher joins");
    let joined = Instant::now(); // the observer sees silent's Lease only after this
    let fence = silent.try_acquire(&gone, 0).await.expect("acquire").expect("shard 0 was free");
    assert_eq!(silent.try_acquire(&gone, 0).await.expect("again").as_ref(), Some(&fence), "same session, same fence");
    assert!(silent.check_fence(0, &fence).await.expect("check"));
    assert_eq!(observer.try_acquire(&watcher, 0).await.expect("acquire"), None, "held by a live member");

    // silent stops renewing; the observer judges it on its own clock, from its first sight.
    let deadline = Instant::now() + PATIENCE;
    while observer.members().await.expect("members").contains(&"silent".to_string()) {
        assert!(Instant::now() < deadline, "silent never judged expired");
        observer.renew(&watcher).await.expect("the watcher renews");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined.elapsed() >= TTL, "judged expired {:?} after silent's last write", joined.elapsed());
    let taken = observer.try_acquire(&watcher, 0).await.expect("acquire").expect("the holder's session ended");
    assert_ne!(taken, fence, "a new ownership, a new fence");
    assert!(!silent.check_fence(0, &fence).await.expect("check"), "the old fence is no longer current");
    assert!(observer.check_fence(0, &taken).await.expect("check"));
    // The old session can neither renew nor release what is no longer its own.
    let lost = silent.renew(&gone).await.expect_err("renewing a marked Lease");
    assert!(lost.is_lost(), "{lost}");
    assert!(lost.to_string().contains("marked expired or taken over"), "{lost}");
    silent.release(&gone, 0, &fence).await.expect("a stale release is a no-op");
    assert_eq!(shard_holders(&client, &ns).await, BTreeMap::from([(0, "watcher".to_string())]));
    // A marked member Lease is taken over at once by a new session of the same name.
    let again = silent.join("silent", TTL).await.expect("rejoin after the mark");
    assert_ne!(again.id(), gone.id());
    observer.release(&watcher, 0, &taken).await.expect("release");
    assert!(shard_holders(&client, &ns).await.is_empty());
    silent.leave(again).await.expect("leave");
    observer.leave(watcher).await.expect("leave");
    assert!(leases_of(&client, &ns, "member").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_kubernetes_cannot_store_are_refused_with_what_is_wrong() {
    let (client, ns) = setup("shards-names").await;
    let bad_group = KubeLeases::new(client.clone(), ns.as_str(), "Test_Group").expect_err("an invalid group");
    assert!(bad_group.is_invalid() && bad_group.to_string().contains("\"Test_Group\""), "{bad_group}");
    let empty = KubeLeases::new(client.clone(), "", GROUP).expect_err("no namespace");
    assert!(empty.to_string().contains("namespace"), "{empty}");

    let bad_member = leases(&client, &ns).join("Replica_1", TTL).await.expect_err("an invalid member");
    assert!(bad_member.is_invalid() && bad_member.to_string().contains("\"Replica_1\""), "{bad_member}");
    // The owner gives up on it instead of retrying forever.
    let owner = ShardOwner::new(leases(&client, &ns), ShardConfig::new(GROUP, "Replica_1", SHARDS).with_ttl(TTL))
        .expect("valid config");
    let ended = tokio::time::timeout(PATIENCE, owner.run(CancellationToken::new(), |_| async {}))
        .await
        .expect("the owner ends");
    assert!(ended.expect_err("an invalid member").is_invalid());
}

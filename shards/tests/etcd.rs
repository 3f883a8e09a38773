//! Shard ownership through etcd leases, against a real etcd on loopback: members split the
//! shards, a dead member's shards are taken over once its lease expires, a joining member gets
//! its share, and a member cut off from etcd stops its work before anyone else takes its shards.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Member, SHARDS, WorkLog, not_before_the_ttl, owns_nothing_for_a_ttl, records_of, until_split};
use informer_etcd::etcd_client::{Client, GetOptions};
use informer_shards::{EtcdLeases, ShardConfig};
use informer_tests::etcd::EtcdServer;
use informer_tests::proxy::{FaultProxy, Faults};

async fn member(endpoint: &str, name: &str, log: &WorkLog) -> Member {
    let client = Client::connect([endpoint], None).await.expect("etcd client");
    Member::spawn(EtcdLeases::new(client, "/shards/test/"), name, log)
}

/// The owner records in etcd: shard → member.
async fn owner_records(endpoint: &str) -> BTreeMap<u32, String> {
    let mut client = Client::connect([endpoint], None).await.expect("etcd client");
    let answer = client.get("/shards/test/owners/", Some(GetOptions::new().with_prefix())).await.expect("read");
    answer
        .kvs()
        .iter()
        .map(|kv| {
            let shard = kv.key_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
            (shard, kv.value_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_split_the_shards_a_dead_one_is_replaced_and_a_new_one_gets_its_share() {
    let etcd = EtcdServer::start().expect("etcd");
    let log = WorkLog::default();
    let (a, b, c) = (
        member(&etcd.endpoint(), "a", &log).await,
        member(&etcd.endpoint(), "b", &log).await,
        member(&etcd.endpoint(), "c", &log).await,
    );
    let owned = until_split(&[&a, &b, &c], &[3, 3, 2]).await;
    assert_eq!(owned[0], BTreeSet::from([0, 3, 6]), "shard i goes to the (i mod 3)-th member");
    assert_eq!(owner_records(&etcd.endpoint()).await, records_of(&owned, &[&a, &b, &c]));

    // b dies: its task is aborted, nothing is released, its lease runs out on etcd's clock.
    b.task.abort();
    let died = Instant::now();
    let owned = until_split(&[&a, &c], &[4, 4]).await;
    not_before_the_ttl(died);
    assert_eq!(owner_records(&etcd.endpoint()).await, records_of(&owned, &[&a, &c]));

    // d joins: a and c give up what is now d's.
    let d = member(&etcd.endpoint(), "d", &log).await;
    let owned = until_split(&[&a, &c, &d], &[3, 3, 2]).await;
    assert_eq!(owner_records(&etcd.endpoint()).await, records_of(&owned, &[&a, &c, &d]));
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");

    // A clean stop releases at once: a's shards go to c and d without waiting for a lease.
    a.stop().await;
    let owned = until_split(&[&c, &d], &[4, 4]).await;
    assert_eq!(owner_records(&etcd.endpoint()).await, records_of(&owned, &[&c, &d]));
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");
    for m in [c, d] {
        m.stop().await;
    }
    assert!(owner_records(&etcd.endpoint()).await.is_empty(), "every shard released on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_etcd_stops_its_work_before_the_others_take_its_shards() {
    let etcd = EtcdServer::start().expect("etcd");
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", etcd.port()).parse().unwrap(), Faults::none(), 1)
        .await
        .expect("proxy");
    let log = WorkLog::default();
    let a = member(&etcd.endpoint(), "a", &log).await;
    let b = member(&etcd.endpoint(), "b", &log).await;
    let c = member(&proxy.addr().to_string(), "c", &log).await;
    until_split(&[&a, &b, &c], &[3, 3, 2]).await;

    // c hears nothing from etcd any more: its renewals go unanswered.
    proxy.hold_down(true);
    let mut c_owned = c.owned.clone();
    c_owned.wait_for(|owned| owned.is_empty()).await.expect("c's owner runs");
    until_split(&[&a, &b], &[4, 4]).await;
    assert_eq!(log.overlaps(), Vec::<String>::new(), "c still worked when another member took its shard");

    // Back in touch, c joins again (once its old lease is gone) and gets its share back.
    proxy.hold_down(false);
    proxy.cut_all();
    until_split(&[&a, &b, &c], &[3, 3, 2]).await;
    assert_eq!(log.overlaps(), Vec::<String>::new(), "a shard worked on by two members at once");
    for m in [a, b, c] {
        m.stop().await;
    }
}

#[tokio::test]
async fn a_second_process_with_the_same_member_name_waits_instead_of_sharing_its_shards() {
    let etcd = EtcdServer::start().expect("etcd");
    let log = WorkLog::default();
    let first = member(&etcd.endpoint(), "same", &log).await;
    until_split(&[&first], &[SHARDS as usize]).await;
    let second = member(&etcd.endpoint(), "same", &log).await;
    // The second cannot join while the first's member key lives; it owns nothing.
    owns_nothing_for_a_ttl(&second).await;
    assert_eq!(first.owned.borrow().len(), SHARDS as usize);
    first.stop().await;
    // Once the first left, the second joins and takes everything.
    until_split(&[&second], &[SHARDS as usize]).await;
    second.stop().await;
    assert_eq!(log.overlaps(), Vec::<String>::new());
}

#[test]
fn bad_configurations_name_what_is_wrong() {
    let zero = ShardConfig::new("g", "m", 0);
    let short = ShardConfig::new("g", "m", 4).with_ttl(Duration::from_secs(1));
    let slash = ShardConfig::new("g", "a/b", 4);
    let mut slow = ShardConfig::new("g", "m", 4);
    slow.renew_every = slow.ttl;
    for (config, words) in
        [(zero, "at least 1"), (short, "too short"), (slash, "without '/'"), (slow, "must be less than the TTL")]
    {
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(words), "{message}");
    }
    assert!(ShardConfig::new("g", "m", 4).validate().is_ok());
}

//! The mirror against a real etcd: paged initial sync, churn while watching, compaction while
//! disconnected, restarts and pauses of the server.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use informer_etcd::etcd_client::{CompactionOptions, DeleteOptions, Txn, TxnOp};
use informer_etcd::{EtcdSource, RawCodec};
use informer_tests::proxy::{FaultProxy, Faults};

const SYNC_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_20k_keys_in_pages_then_5k_random_changes_while_watching() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    let keys: Vec<(String, Vec<u8>)> = (0..20_000).map(|i| (format!("/m/key-{i:05}"), value_of(64, i))).collect();
    put_all(&client, keys).await;
    // Keys next to the prefix must stay out of the mirror.
    put_all(&client, vec![("/m".into(), b"x".to_vec()), ("/m0".into(), b"x".to_vec()), ("/l/z".into(), b"x".to_vec())])
        .await;

    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/m/"), RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(500));
    let started = Instant::now();
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    assert_eq!(running.store.len(), 20_000);
    let metrics = running.handle.metrics();
    assert_eq!(metrics.lists, 1);
    assert_eq!(metrics.list_pages, 40, "20 000 keys in pages of 500");
    let list_revision: i64 = running.handle.last_synced_version().unwrap().parse().unwrap();
    assert!(running.store.snapshot().values().all(|kv| kv.mod_revision <= list_revision));
    eprintln!("initial sync of 20 000 keys: {:?}", started.elapsed());

    // 5 000 random operations: 4 writers × 125 transactions × 10 operations on distinct keys,
    // so events of one revision come in groups; some keys are new, some deleted.
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4u64 {
        let mut kv = client.kv_client();
        writers.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(writer);
            for _ in 0..125 {
                let keys: BTreeSet<u32> = std::iter::repeat_with(|| rng.u32(0..22_000)).take(10).collect();
                let ops: Vec<TxnOp> = keys
                    .into_iter()
                    .map(|k| {
                        let key = format!("/m/key-{k:05}");
                        if rng.u8(0..3) == 0 {
                            TxnOp::delete(key, None)
                        } else {
                            TxnOp::put(key, value_of(32, rng.u64(..)), None)
                        }
                    })
                    .collect();
                kv.txn(Txn::new().and_then(ops)).await.expect("random txn");
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.unwrap();
    }
    // One range delete: ten keys gone in one revision.
    let deleted = client.kv_client().delete("/m/key-1999", Some(DeleteOptions::new().with_prefix())).await.unwrap();
    assert!(deleted.deleted() > 0);

    assert_converges(&client, "/m/", &running.store, Duration::from_secs(15)).await;
    let metrics = running.handle.metrics();
    assert_eq!(metrics.relists, 0, "{metrics:?}");
    assert!(metrics.events_total() >= 4_000, "{metrics:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_once_after_history_was_compacted_while_disconnected() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..1_000).map(|i| (format!("/c/{i:04}"), value_of(16, i))).collect()).await;
    let upstream = etcd.endpoint().parse().unwrap();
    let proxy = FaultProxy::start(upstream, Faults::none(), 3).await.unwrap();

    let source = EtcdSource::connect(test_config(&proxy.addr().to_string(), "/c/"), RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(300));
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    put_all(&client, vec![("/c/after-sync".into(), b"1".to_vec())]).await;
    assert_converges(&client, "/c/", &running.store, Duration::from_secs(10)).await;

    // Disconnect: every connection cut, new ones refused.
    proxy.set_refusing(true);
    proxy.cut_all();
    let errors_before = running.handle.metrics().errors;
    assert!(eventually(Duration::from_secs(10), || async { running.handle.metrics().errors > errors_before }).await);

    // Changes during the gap, then compaction of all history.
    let mut kv = client.kv_client();
    for i in 0..200 {
        kv.delete(format!("/c/{i:04}"), None).await.unwrap();
    }
    put_all(&client, (200..300).map(|i| (format!("/c/{i:04}"), b"changed".to_vec())).collect()).await;
    put_all(&client, (0..100).map(|i| (format!("/c/new-{i}"), b"new".to_vec())).collect()).await;
    let revision = kv.get("/c/0999", None).await.unwrap().header().unwrap().revision();
    kv.compact(revision, Some(CompactionOptions::new().with_physical())).await.unwrap();

    proxy.set_refusing(false);
    assert_converges(&client, "/c/", &running.store, Duration::from_secs(15)).await;
    let metrics = running.handle.metrics();
    assert_eq!(metrics.relists, 1, "exactly one relist after the compaction: {metrics:?}");
    let snapshot = running.store.snapshot();
    assert!(
        (0..200).all(|i| !snapshot.contains_key(format!("/c/{i:04}").as_str())),
        "keys deleted in the gap are gone"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_without_relisting_after_etcd_is_killed_and_restarted() {
    let mut etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..2_000).map(|i| (format!("/r/{i:04}"), value_of(16, i))).collect()).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/r/"), RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(500));
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    put_all(&client, (0..100).map(|i| (format!("/r/{i:04}"), b"before-kill".to_vec())).collect()).await;
    assert_converges(&client, "/r/", &running.store, Duration::from_secs(10)).await;

    tokio::task::block_in_place(|| etcd.kill()).unwrap();
    let errors_before = running.handle.metrics().errors;
    assert!(eventually(Duration::from_secs(10), || async { running.handle.metrics().errors > errors_before }).await);
    tokio::task::block_in_place(|| etcd.restart()).unwrap();

    let client = common::client(&etcd.endpoint()).await;
    let mut kv = client.kv_client();
    for i in 100..150 {
        kv.delete(format!("/r/{i:04}"), None).await.unwrap();
    }
    put_all(&client, (0..100).map(|i| (format!("/r/{i:04}"), b"after-restart".to_vec())).collect()).await;
    assert_converges(&client, "/r/", &running.store, Duration::from_secs(15)).await;
    let metrics = running.handle.metrics();
    assert_eq!(metrics.relists, 0, "the revision was still available: no relist: {metrics:?}");
    assert!(metrics.watches >= 2, "{metrics:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_a_paused_etcd_within_seconds_and_recovers() {
    // etcd refuses pings more often than --grpc-keepalive-min-time (5 s by default): allow fast
    // ones so the test can use a 1 s keep-alive.
    let etcd = start_etcd_with(&["--grpc-keepalive-min-time=200ms"]);
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..100).map(|i| (format!("/p/{i:03}"), value_of(8, i))).collect()).await;
    let config = test_config(&etcd.endpoint(), "/p/").with_keep_alive(Duration::from_secs(1), Duration::from_secs(1));
    let source = EtcdSource::connect(config, RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(500));
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    // A healthy idle watch survives several pings: the error below comes from the pause.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(running.handle.metrics().errors, 0, "{:?}", running.handle.metrics());

    let pid = etcd.pid().unwrap().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill").arg(sig).arg(&pid).status().expect("kill runs");
        assert!(status.success());
    };
    signal("-STOP");
    let errors_before = running.handle.metrics().errors;
    // Keep-alive of 1 s + 1 s: the silent server is noticed well within 6 s.
    let noticed =
        eventually(Duration::from_secs(6), || async { running.handle.metrics().errors > errors_before }).await;
    signal("-CONT");
    assert!(noticed, "a paused server must break the watch via HTTP/2 keep-alive");

    put_all(&client, (0..50).map(|i| (format!("/p/{i:03}"), b"after-pause".to_vec())).collect()).await;
    assert_converges(&client, "/p/", &running.store, Duration::from_secs(15)).await;
    assert_eq!(running.handle.metrics().relists, 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_several_endpoints_with_one_of_them_down() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    put_all(&client, (0..300).map(|i| (format!("/e/{i:03}"), value_of(8, i))).collect()).await;
    let dead = format!("127.0.0.1:{}", informer_tests::etcd::free_port().unwrap());
    let mut config = test_config(&etcd.endpoint(), "/e/");
    config.endpoints.push(dead.clone());
    let source = EtcdSource::connect(config, RawCodec).await.unwrap();
    let description = informer_core::ListerWatcher::describe(&source);
    assert!(description.contains(&etcd.endpoint()) && description.contains(&dead), "{description}");
    let running = spawn_reflector(source, fast_config(100));
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    put_all(&client, (0..30).map(|i| (format!("/e/{i:03}"), b"x".to_vec())).collect()).await;
    assert_converges(&client, "/e/", &running.store, Duration::from_secs(15)).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_keep_alive_is_accepted_by_etcds_default_ping_policy() {
    // etcd closes connections that ping more often than every 5 s ("too many pings"); the
    // default interval (6 s) must keep an idle watch open across several pings.
    let etcd = start_etcd();
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/idle/"), RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(100));
    assert!(tokio::time::timeout(SYNC_TIMEOUT, running.handle.wait_synced()).await.unwrap());
    tokio::time::sleep(Duration::from_secs(13)).await;
    let metrics = running.handle.metrics();
    assert_eq!((metrics.errors, metrics.watches), (0, 1), "{metrics:?}");
    running.stop().await;
}

#[tokio::test]
async fn wait_for_version_after_a_write_sees_the_write_in_the_mirror() {
    let etcd = start_etcd();
    let client = client(&etcd.endpoint()).await;
    let source = EtcdSource::connect(test_config(&etcd.endpoint(), "/ryw/"), RawCodec).await.unwrap();
    let run = spawn_reflector(source, fast_config(100));
    assert!(run.handle.wait_synced().await);
    let mut kv = client.kv_client();
    for i in 0..20 {
        let key = format!("/ryw/k{i}");
        let written = kv.put(key.clone(), format!("v{i}"), None).await.unwrap().header().unwrap().revision();
        let applied = tokio::time::timeout(
            Duration::from_secs(10),
            run.handle.wait_for_version(&informer_core::Version::from(written.to_string())),
        )
        .await
        .expect("in time")
        .expect("applied");
        assert!(applied.parse::<i64>().unwrap() >= written);
        let stored = run.store.snapshot();
        assert_eq!(stored.get(key.as_str()).map(|kv| kv.value.clone()), Some(format!("v{i}").into_bytes()), "{key}");
    }
    // A delete is a write too.
    let deleted = kv.delete("/ryw/k0", None).await.unwrap().header().unwrap().revision();
    run.handle.wait_for_version(&informer_core::Version::from(deleted.to_string())).await.unwrap();
    assert!(!run.store.snapshot().contains_key("/ryw/k0"));
    run.cancel.cancel();
}

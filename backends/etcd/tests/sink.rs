//! `EtcdSink` against two real etcd servers (source and destination, both started by the
//! tests): prune, one transaction per source revision, resume without a list, relist after
//! compaction, destination outages with bounded memory, source restarts, TLS and auth, refused
//! writes, and an interrupted initial sync.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use informer_core::{CancellationToken, Reflector, ReflectorError, ReflectorHandle};
use informer_etcd::etcd_client::{Client, CompactionOptions, DeleteOptions, GetOptions, Txn, TxnOp};
use informer_etcd::{EtcdConfig, EtcdSink, EtcdSource, KeyRange, MirrorState, RawCodec, SinkConfig, SinkError};
use informer_tests::etcd::EtcdServer;
use informer_tests::proxy::{FaultProxy, Faults};
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(20);
const SOURCE_ID: &str = "etcd://source/src/";

/// A running mirror: source reflector → sink.
struct Mirror {
    sink: EtcdSink,
    handle: ReflectorHandle,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), ReflectorError>>,
}

impl Mirror {
    /// Starts a mirror of `/src/` on `source` into `sink`, resuming where the sink says.
    async fn start(source: &str, sink: SinkConfig) -> Self {
        let sink = EtcdSink::connect(sink).await.expect("sink connects");
        let source = EtcdSource::connect(test_config(source, "/src/"), RawCodec).await.unwrap();
        let mut reflector = Reflector::new(source, sink.clone(), fast_config(200));
        if let Some(version) = sink.resume_point() {
            reflector = reflector.resume_from(version);
        }
        let handle = reflector.handle();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(reflector.run(cancel.clone()));
        Self { sink, handle, cancel, task }
    }

    async fn stop(self) -> EtcdSink {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.unwrap().unwrap().unwrap();
        self.sink
    }
}

fn sink_config(destination: &str) -> SinkConfig {
    SinkConfig::new(test_config(destination, "/dst/"), "/src/", SOURCE_ID)
        .with_retry(Duration::from_millis(20), Duration::from_millis(200))
}

/// `/src/x` → `/dst/x` of the source's state, to compare with the destination's.
async fn expected(source: &Client) -> BTreeMap<String, Vec<u8>> {
    server_state(source, "/src/").await.into_iter().map(|(k, v)| (k.replacen("/src/", "/dst/", 1), v)).collect()
}

async fn assert_mirrored(source: &Client, destination: &Client) {
    let ok = eventually(TIMEOUT, || async { expected(source).await == server_state(destination, "/dst/").await }).await;
    let (want, got) = (expected(source).await, server_state(destination, "/dst/").await);
    assert!(ok, "destination differs: {} keys expected, {} present", want.len(), got.len());
}

async fn state(destination: &Client) -> (MirrorState, i64) {
    let response = destination.kv_client().get("/dst.mirror-state", None).await.unwrap();
    let kv = response.kvs().first().expect("a state record");
    (serde_json::from_slice(kv.value()).unwrap(), kv.mod_revision())
}

fn keys(prefix: &str, n: u64) -> Vec<(String, Vec<u8>)> {
    (0..n).map(|i| (format!("{prefix}{i:05}"), value_of(24, i))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_prunes_destination_only_keys_under_the_prefix_and_nothing_else() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 500)).await;
    put_all(&source, vec![("/srcx".into(), b"not mirrored".to_vec())]).await;
    // The destination: stale keys, one key with an old value, one already equal, and
    // neighbours of the prefix that must survive.
    put_all(&destination, keys("/dst/stale-", 40)).await;
    put_all(&destination, vec![("/dst/k00001".into(), b"old".to_vec()), ("/dst/k00002".into(), value_of(24, 2))]).await;
    let outside =
        vec![("/dst".into(), b"1".to_vec()), ("/dst0".into(), b"2".to_vec()), ("/other/x".into(), b"3".to_vec())];
    put_all(&destination, outside.clone()).await;

    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint()).with_max_txn_ops(64)).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    mirror.sink.flush().await.unwrap();
    assert_mirrored(&source, &destination).await;
    for (key, value) in outside {
        let got = destination.kv_client().get(key.as_str(), None).await.unwrap();
        assert_eq!(got.kvs()[0].value(), value.as_slice(), "{key} outside the prefix is untouched");
    }
    let stats = mirror.sink.stats();
    eprintln!("initial sync: {stats:?}");
    assert_eq!((stats.puts, stats.deletes, stats.unchanged), (499, 40, 1), "{stats:?}");
    // 539 operations, 63 per transaction beside the state record.
    assert_eq!(stats.txns, 9, "{stats:?}");
    let (record, _) = state(&destination).await;
    assert!(record.complete && record.source == SOURCE_ID, "{record:?}");
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_transaction_arrives_in_the_destination_as_one_transaction() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 20)).await;
    // Revision by revision: the count of destination transactions below is exact only then
    // (grouping, the default, is checked by the next test).
    let config = sink_config(&dst.endpoint()).with_group_revisions(false);
    let mirror = Mirror::start(&src.endpoint(), config).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    mirror.sink.flush().await.unwrap();
    let txns_before = mirror.sink.stats().txns;

    let puts: Vec<TxnOp> = (0..5).map(|i| TxnOp::put(format!("/src/t{i}"), format!("txn {i}"), None)).collect();
    let source_txn = source.kv_client().txn(Txn::new().and_then(puts)).await.unwrap().header().unwrap().revision();
    let deleted = source.kv_client().delete("/src/k0001", Some(DeleteOptions::new().with_prefix())).await.unwrap();
    assert_eq!(deleted.deleted(), 10, "one range delete, ten keys, one revision");
    assert_mirrored(&source, &destination).await;

    let response = destination.kv_client().get("/dst/t", Some(GetOptions::new().with_prefix())).await.unwrap();
    let revisions: Vec<i64> = response.kvs().iter().map(|kv| kv.mod_revision()).collect();
    eprintln!("source txn at revision {source_txn}; destination mod_revisions {revisions:?}");
    assert_eq!(revisions.len(), 5);
    assert!(revisions.iter().all(|r| *r == revisions[0]), "one destination transaction: {revisions:?}");
    mirror.sink.flush().await.unwrap();
    let (record, state_revision) = state(&destination).await;
    assert_eq!(record.version, (source_txn + 1).to_string(), "the range delete came last");
    assert!(state_revision > revisions[0], "the state moved on with the range delete");
    let txns = mirror.sink.stats().txns - txns_before;
    assert_eq!(txns, 2, "two source revisions, two destination transactions");
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_catching_up_joins_whole_revisions_into_fewer_transactions() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 100)).await;
    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    assert_mirrored(&source, &destination).await;
    let sink = mirror.stop().await;
    sink.flush().await.unwrap();
    drop(sink);

    // While the mirror is stopped: 300 single-key revisions and transactions of 5 keys between.
    let mut kv = source.kv_client();
    let mut transactions = Vec::new();
    for i in 0..300u64 {
        kv.put(format!("/src/k{:05}", i % 100), format!("round {i}"), None).await.unwrap();
        if i % 60 == 0 {
            let puts: Vec<TxnOp> = (0..5).map(|j| TxnOp::put(format!("/src/t{i}-{j}"), "txn", None)).collect();
            kv.txn(Txn::new().and_then(puts)).await.unwrap();
            transactions.push(format!("/dst/t{i}-"));
        }
    }
    let revisions = 300 + transactions.len() as u64;

    // The warm restart finds them all queued at once.
    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert_mirrored(&source, &destination).await;
    mirror.sink.flush().await.unwrap();
    let stats = mirror.sink.stats();
    eprintln!("{revisions} revisions caught up with {stats:?}");
    assert!(stats.txns * 2 < revisions, "{} transactions for {revisions} revisions", stats.txns);
    for prefix in &transactions {
        let response = destination.kv_client().get(prefix.as_str(), Some(GetOptions::new().with_prefix())).await;
        let revisions: Vec<i64> = response.unwrap().kvs().iter().map(|kv| kv.mod_revision()).collect();
        assert_eq!(revisions.len(), 5);
        assert!(revisions.iter().all(|r| *r == revisions[0]), "{prefix}* split: {revisions:?}");
    }
    let source_revision = kv.get("/src/", None).await.unwrap().header().unwrap().revision();
    assert_eq!(state(&destination).await.0.version, source_revision.to_string(), "the state names the last revision");
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_mirror_resumes_from_the_state_key_without_listing_the_source() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 2_000)).await;
    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    assert_eq!(mirror.handle.metrics().list_pages, 10, "2 000 keys in pages of 200");
    assert_mirrored(&source, &destination).await;
    mirror.stop().await.flush().await.unwrap();

    // While it is stopped: updates, deletes, creates.
    put_all(&source, (0..100).map(|i| (format!("/src/k{i:05}"), b"changed".to_vec())).collect()).await;
    let mut kv = source.kv_client();
    for i in 100..150 {
        kv.delete(format!("/src/k{i:05}"), None).await.unwrap();
    }
    put_all(&source, keys("/src/new-", 30)).await;

    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert!(mirror.sink.resume_point().is_some());
    assert_mirrored(&source, &destination).await;
    let metrics = mirror.handle.metrics();
    eprintln!("after restart: {metrics:?}, sink {:?}", mirror.sink.stats());
    assert_eq!((metrics.lists, metrics.list_pages, metrics.relists), (0, 0, 0), "the source prefix is not read again");
    assert_eq!(mirror.sink.stats().syncs, 0);
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_compacted_while_the_mirror_was_stopped_is_relisted_and_pruned() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 1_000)).await;
    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    assert_mirrored(&source, &destination).await;
    mirror.stop().await.flush().await.unwrap();

    let mut kv = source.kv_client();
    for i in 0..200 {
        kv.delete(format!("/src/k{i:05}"), None).await.unwrap();
    }
    put_all(&source, keys("/src/new-", 50)).await;
    let revision = kv.get("/src/k00999", None).await.unwrap().header().unwrap().revision();
    kv.compact(revision, Some(CompactionOptions::new().with_physical())).await.unwrap();

    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert_mirrored(&source, &destination).await;
    mirror.sink.flush().await.unwrap();
    let (metrics, stats) = (mirror.handle.metrics(), mirror.sink.stats());
    eprintln!("after compaction: {metrics:?}, sink {stats:?}");
    assert_eq!((metrics.lists, metrics.relists), (1, 1), "one relist after the expired resume");
    assert_eq!((stats.puts, stats.deletes, stats.unchanged), (50, 200, 800), "only the differences are written");
    assert!(state(&destination).await.0.complete);
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_outage_bounds_the_queue_stalls_the_watch_and_recovers() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 100)).await;
    let proxy = FaultProxy::start(dst.endpoint().parse().unwrap(), Faults::none(), 1).await.unwrap();
    let config = sink_config(&proxy.addr().to_string()).with_queue_ops(32);
    let mirror = Mirror::start(&src.endpoint(), config).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    mirror.sink.flush().await.unwrap();

    proxy.set_refusing(true);
    proxy.cut_all();
    let mut kv = source.kv_client();
    for i in 0..1_000 {
        kv.put(format!("/src/k{:05}", i % 100), format!("during outage {i}"), None).await.unwrap();
    }
    // The reflector stops taking events once the sink's queue is full.
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(mirror.sink.stats().queued_ops);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stalled = mirror.handle.metrics().events_total();
    for _ in 0..10 {
        peak = peak.max(mirror.sink.stats().queued_ops);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = mirror.sink.stats();
    eprintln!("during the outage: {stalled} events taken of 1000, at most {peak} ops queued, sink {stats:?}");
    assert_eq!(mirror.handle.metrics().events_total(), stalled, "back-pressure reached the watch");
    assert!(stalled < 100, "only a queue's worth was taken: {stalled}");
    assert!(peak <= 32, "the queue stays bounded: {peak} ops");
    assert!(stats.retries > 0, "{stats:?}");

    proxy.set_refusing(false);
    assert_mirrored(&source, &destination).await;
    let metrics = mirror.handle.metrics();
    assert_eq!(metrics.relists, 0, "{metrics:?}");
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_restart_is_survived_without_a_relist() {
    let (mut src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 300)).await;
    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    assert_mirrored(&source, &destination).await;

    tokio::task::block_in_place(|| src.kill()).unwrap();
    let errors = mirror.handle.metrics().errors;
    assert!(eventually(Duration::from_secs(10), || async { mirror.handle.metrics().errors > errors }).await);
    tokio::task::block_in_place(|| src.restart()).unwrap();
    let source = client(&src.endpoint()).await;
    put_all(&source, (0..50).map(|i| (format!("/src/k{i:05}"), b"after restart".to_vec())).collect()).await;
    assert_mirrored(&source, &destination).await;
    assert_eq!(mirror.handle.metrics().relists, 0);
    mirror.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_initial_sync_is_finished_on_restart() {
    let (src, dst) = (start_etcd(), start_etcd());
    let (source, destination) = (client(&src.endpoint()).await, client(&dst.endpoint()).await);
    put_all(&source, keys("/src/k", 3_000)).await;
    put_all(&destination, keys("/dst/stale-", 20)).await;
    let proxy = FaultProxy::start(dst.endpoint().parse().unwrap(), Faults::none(), 2).await.unwrap();
    let mirror = Mirror::start(&src.endpoint(), sink_config(&proxy.addr().to_string()).with_max_txn_ops(10)).await;
    assert!(eventually(TIMEOUT, || async { mirror.sink.stats().txns >= 5 }).await);
    proxy.set_refusing(true);
    proxy.cut_all();
    drop(mirror.stop().await);

    let (record, _) = state(&destination).await;
    let written = server_state(&destination, "/dst/k").await.len();
    eprintln!("interrupted after {written} of 3000 keys: {record:?}");
    assert!(!record.complete && written < 3_000, "{record:?}, {written} keys");

    let mirror = Mirror::start(&src.endpoint(), sink_config(&dst.endpoint())).await;
    assert_eq!(mirror.sink.resume_point(), None, "an incomplete sync is not resumed from");
    assert_mirrored(&source, &destination).await;
    mirror.sink.flush().await.unwrap();
    assert!(state(&destination).await.0.complete);
    assert_eq!(mirror.handle.metrics().lists, 1);
    mirror.stop().await;
}

/// A destination with auth: `root`, and `reader`, who may only read the prefix and the state.
async fn destination_with_auth(dst: &EtcdServer) {
    let admin = client(&dst.endpoint()).await;
    let mut auth = admin.auth_client();
    auth.user_add("root", "rootpw", None).await.unwrap();
    auth.user_grant_role("root", "root").await.unwrap();
    auth.role_add("read-dst").await.unwrap();
    use informer_etcd::etcd_client::Permission;
    auth.role_grant_permission("read-dst", Permission::read("/dst").with_prefix()).await.unwrap();
    auth.user_add("reader", "readerpw", None).await.unwrap();
    auth.user_grant_role("reader", "read-dst").await.unwrap();
    auth.auth_enable().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_refuses_writes_stops_the_sink_with_an_error_naming_it() {
    let (src, dst) = (start_etcd(), start_etcd());
    let source = client(&src.endpoint()).await;
    put_all(&source, keys("/src/k", 10)).await;
    destination_with_auth(&dst).await;
    let config =
        SinkConfig::new(test_config(&dst.endpoint(), "/dst/").with_user("reader", "readerpw"), "/src/", SOURCE_ID);
    let mirror = Mirror::start(&src.endpoint(), config).await;
    let err = tokio::time::timeout(TIMEOUT, mirror.sink.failed()).await.expect("the sink stops");
    eprintln!("{err}");
    assert!(matches!(err, SinkError::Refused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&dst.endpoint()) && text.contains("\"/dst/\""), "names the destination: {text}");
    assert!(text.contains("permission denied"), "{text}");
    mirror.stop().await;

    // A wrong password is refused at connect, also naming the destination.
    let config = SinkConfig::new(test_config(&dst.endpoint(), "/dst/").with_user("root", "wrong"), "/src/", SOURCE_ID);
    let err = EtcdSink::connect(config).await.unwrap_err();
    assert!(err.to_string().contains(&dst.endpoint()) && !err.to_string().contains("wrong\""), "{err}");
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_into_a_destination_with_tls_and_a_user() {
    use informer_etcd::etcd_client::{Certificate, TlsOptions};
    use informer_tests::etcd::{EtcdOptions, free_port};
    let dir = tempfile::tempdir().unwrap();
    informer_tests::tls::make_certificates(dir.path());
    let tls_port = free_port().unwrap();
    let dst = EtcdServer::start_with(EtcdOptions::with_https_listener(tls_port, dir.path())).unwrap();
    let src = start_etcd();
    let source = client(&src.endpoint()).await;
    put_all(&source, keys("/src/k", 100)).await;
    destination_with_auth(&dst).await;

    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let destination = EtcdConfig::new([format!("https://127.0.0.1:{tls_port}")], KeyRange::prefix("/dst/"))
        .with_tls(TlsOptions::new().ca_certificate(Certificate::from_pem(ca)))
        .with_user("root", "rootpw")
        .with_request_timeout(Duration::from_secs(5));
    let mirror = Mirror::start(&src.endpoint(), SinkConfig::new(destination.clone(), "/src/", SOURCE_ID)).await;
    assert!(tokio::time::timeout(TIMEOUT, mirror.handle.wait_synced()).await.unwrap());
    mirror.sink.flush().await.unwrap();
    put_all(&source, keys("/src/after-", 10)).await;
    let root = Client::connect(
        [dst.endpoint()],
        Some(informer_etcd::etcd_client::ConnectOptions::new().with_user("root", "rootpw")),
    )
    .await
    .unwrap();
    assert_mirrored(&source, &root).await;
    mirror.stop().await;

    // Without the CA the destination is not trusted: the sink does not start, and says where.
    let untrusting = EtcdConfig::new([format!("https://127.0.0.1:{tls_port}")], KeyRange::prefix("/dst/"))
        .with_tls(TlsOptions::new())
        .with_request_timeout(Duration::from_secs(3));
    let err = EtcdSink::connect(SinkConfig::new(untrusting, "/src/", SOURCE_ID)).await.unwrap_err();
    assert!(err.to_string().contains(&tls_port.to_string()), "{err}");
}

#[tokio::test]
async fn a_state_key_inside_the_prefix_or_a_foreign_state_value_is_refused() {
    let dst = start_etcd();
    let config = sink_config(&dst.endpoint()).with_state_key("/dst/state");
    let err = EtcdSink::connect(config).await.unwrap_err();
    assert!(
        matches!(err, SinkError::Config { .. }) && err.to_string().contains("inside the destination prefix"),
        "{err}"
    );
    client(&dst.endpoint()).await.kv_client().put("/dst.mirror-state", "someone else's", None).await.unwrap();
    let err = EtcdSink::connect(sink_config(&dst.endpoint())).await.unwrap_err();
    assert!(matches!(err, SinkError::ForeignState { .. }), "{err}");
    assert!(err.to_string().contains("/dst.mirror-state"), "{err}");
}

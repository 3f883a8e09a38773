//! Shared helpers of the tests against a real etcd started by `EtcdServer`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use informer_core::{BackoffConfig, KeyFn, ListerWatcher, ReflectorConfig};
use informer_etcd::etcd_client::{Client, GetOptions, Txn, TxnOp};
use informer_etcd::{Codec, EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange};
use informer_tests::MapStore;
use informer_tests::etcd::{EtcdOptions, EtcdServer};

pub fn start_etcd() -> EtcdServer {
    EtcdServer::start().expect("etcd starts (install Debian's etcd-server)")
}

pub fn start_etcd_with(extra_args: &[&str]) -> EtcdServer {
    let options = EtcdOptions { extra_args: extra_args.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    EtcdServer::start_with(options).expect("etcd starts (install Debian's etcd-server)")
}

pub async fn client(endpoint: &str) -> Client {
    Client::connect([endpoint], None).await.expect("test client connects")
}

/// A config with the default keep-alive (which etcd's default ping policy accepts) and short
/// connect and request timeouts.
pub fn test_config(endpoint: &str, prefix: &str) -> EtcdConfig {
    EtcdConfig::new([endpoint], KeyRange::prefix(prefix))
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(Duration::from_secs(5))
}

/// Small backoff, no minimum watch duration, seeded jitter, pages of `page_size`.
pub fn fast_config(page_size: u32) -> ReflectorConfig {
    ReflectorConfig::default()
        .with_page_size(Some(page_size))
        .with_backoff(
            BackoffConfig::default().with_initial(Duration::from_millis(10)).with_max(Duration::from_millis(200)),
        )
        .with_min_watch_duration(Duration::ZERO)
        .with_seed(Some(7))
}

pub use informer_tests::reflect::Running;

pub fn spawn_reflector<C: Codec>(source: EtcdSource<C>, config: ReflectorConfig) -> Running<EtcdKeyValue<C::Value>>
where
    EtcdSource<C>: ListerWatcher<Object = EtcdKeyValue<C::Value>>,
{
    informer_tests::reflect::start(source, KeyFn::keyed(), config)
}

/// Puts `keys` with one value each, in transactions of 128 operations, 8 in flight.
pub async fn put_all(client: &Client, keys: Vec<(String, Vec<u8>)>) {
    let mut batches = keys.chunks(128).map(<[_]>::to_vec).collect::<Vec<_>>().into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < 8 {
            let Some(batch) = batches.next() else { break };
            let mut kv = client.kv_client();
            tasks.spawn(async move {
                let ops: Vec<TxnOp> = batch.into_iter().map(|(k, v)| TxnOp::put(k, v, None)).collect();
                kv.txn(Txn::new().and_then(ops)).await.expect("bulk put txn");
            });
        }
        match tasks.join_next().await {
            Some(result) => result.expect("put task"),
            None => break,
        }
    }
}

/// Everything under `prefix` on the server (paged reads at one revision), raw values.
pub async fn server_state(client: &Client, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut kv = client.kv_client();
    let range = KeyRange::prefix(prefix);
    let mut state = BTreeMap::new();
    let mut start = range.start().to_vec();
    let mut revision = 0;
    loop {
        let mut options = GetOptions::new().with_range(range.end()).with_limit(1000);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let response = kv.get(start.clone(), Some(options)).await.expect("get");
        if revision == 0 {
            revision = response.header().expect("header").revision();
        }
        for kv in response.kvs() {
            state.insert(informer_etcd::key_to_string(kv.key()), kv.value().to_vec());
        }
        match response.kvs().last() {
            Some(last) if response.more() => {
                start = last.key().to_vec();
                start.push(0);
            }
            _ => return state,
        }
    }
}

/// The mirror's contents as key → raw value.
pub fn mirror_state(store: &MapStore<EtcdKeyValue<Vec<u8>>>) -> BTreeMap<String, Vec<u8>> {
    store.snapshot().into_iter().map(|(k, v)| (k.to_string(), v.value.clone())).collect()
}

// Not every test binary uses it.
#[allow(unused_imports)]
pub use informer_tests::reflect::eventually;

/// Waits until the mirror equals the server's state under `prefix`, or panics with a diff summary.
pub async fn assert_converges(
    client: &Client,
    prefix: &str,
    store: &MapStore<EtcdKeyValue<Vec<u8>>>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let server = server_state(client, prefix).await;
        let mirror = mirror_state(store);
        if server == mirror {
            return;
        }
        if Instant::now() > deadline {
            let missing = server.keys().filter(|k| !mirror.contains_key(*k)).count();
            let extra = mirror.keys().filter(|k| !server.contains_key(*k)).count();
            let differ = server.iter().filter(|(k, v)| mirror.get(*k).is_some_and(|m| m != *v)).count();
            panic!(
                "mirror did not converge: server {} keys, mirror {} keys; {missing} missing, {extra} extra, {differ} differ",
                server.len(),
                mirror.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn value_of(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..size).map(|_| rng.alphanumeric() as u8).collect()
}

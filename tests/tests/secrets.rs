//! No credential configured on a source — an etcd password, a Kubernetes bearer token, an HTTP
//! `Authorization` header or URL password — shows up in the `Debug` form of the config or
//! source, in the errors returned, or in anything logged through `tracing` (at TRACE level,
//! every crate) while a reflector keeps failing against a server that refuses or rejects it.
//! Also: TLS certificate verification is on by default where a backend has a setting.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{eventually, fast_config};
use informer_core::{CancellationToken, KeyFn, ListOptions, ListerWatcher, Reflector};
use informer_tests::MapStore;
use informer_tests::etcd::{EtcdServer, free_port};

const ETCD_PASSWORD: &str = "etcd-pw-9f2c1e";
const KUBE_TOKEN: &str = "kube-token-5b7d3a";
const HTTP_TOKEN: &str = "http-bearer-8e4f0c";
const URL_PASSWORD: &str = "url-pw-1d6a9b";
const SECRETS: [&str; 4] = [ETCD_PASSWORD, KUBE_TOKEN, HTTP_TOKEN, URL_PASSWORD];

/// Every `tracing` line of the test binary, at TRACE level (one global subscriber, since the
/// reflectors log from runtime worker threads).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Writer;
        impl Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                logs().lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Writer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
        Mutex::new(Vec::new())
    })
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows a credential ({secret}):\n{text}");
    }
}

/// Runs a reflector over `source` until it has failed a few times, then checks its errors.
async fn fail_a_while<L>(source: L, key_fn: KeyFn<L::Object>) -> u64
where
    L: ListerWatcher + 'static,
    L::Object: Send + Sync + 'static,
{
    let store = Arc::new(MapStore::new(key_fn));
    let reflector = Reflector::new(source, store, fast_config(100, 1));
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(cancel.clone()));
    let failed = eventually(Duration::from_secs(10), || async { handle.metrics().errors >= 3 }).await;
    cancel.cancel();
    let _ = task.await;
    assert!(failed, "the reflector kept failing against the broken server: {:?}", handle.metrics());
    handle.metrics().errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_in_debug_errors_or_logs_of_any_backend() {
    let _ = logs();

    // etcd: user and password against an etcd without auth (rejected) and a dead endpoint.
    let etcd = EtcdServer::start().expect("etcd starts");
    let config = informer_etcd::EtcdConfig::new([etcd.endpoint()], informer_etcd::KeyRange::prefix("/s/"))
        .with_user("root", ETCD_PASSWORD)
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(Duration::from_secs(2));
    assert_clean("EtcdConfig Debug", &format!("{config:?}"));
    match informer_etcd::EtcdSource::connect(config.clone(), informer_etcd::RawCodec).await {
        Err(error) => assert_clean("etcd auth error", &format!("{error} / {error:?}")),
        Ok(source) => {
            assert_clean("EtcdSource Debug", &format!("{source:?} {}", source.describe()));
            let error = source.list(&ListOptions::default()).await.err();
            assert_clean("etcd list error", &format!("{error:?}"));
        }
    }
    let dead = format!("127.0.0.1:{}", free_port().unwrap());
    let mut dead_config = config.clone();
    dead_config.endpoints = vec![dead];
    match informer_etcd::EtcdSource::connect(dead_config, informer_etcd::RawCodec).await {
        Err(error) => assert_clean("etcd dead endpoint error", &format!("{error} / {error:?}")),
        Ok(source) => {
            assert_clean("EtcdSource Debug", &format!("{source:?}"));
            fail_a_while(source, KeyFn::keyed()).await;
        }
    }

    // Kubernetes: a kubeconfig with a bearer token, pointing at a port nobody listens on.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{}\n\
             users:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n",
            free_port().unwrap()
        ),
    )
    .unwrap();
    let client = informer_kube::client_from_kubeconfig(&kubeconfig, None).await.expect("client from kubeconfig");
    let source = informer_kube::KubeSource::<informer_kube::k8s_openapi::api::core::v1::ConfigMap>::all(client);
    assert_clean("KubeSource Debug", &format!("{source:?} {}", source.describe()));
    let error = source.list(&ListOptions::default()).await.err();
    assert!(error.is_some(), "a list against a dead server fails");
    assert_clean("kube list error", &format!("{error:?}"));
    fail_a_while(source, informer_kube::key_fn()).await;

    // HTTP: an Authorization header and a URL password, against a dead port and etcd's v3 port
    // (which answers HTTP/1 requests with errors).
    for base in [
        format!("http://user:{URL_PASSWORD}@127.0.0.1:{}", free_port().unwrap()),
        etcd.url().replace("http://", &format!("http://user:{URL_PASSWORD}@")),
    ] {
        let config = informer_http::presets::etcd_v2_keys(&base, "/s")
            .unwrap()
            .with_header("Authorization", &format!("Bearer {HTTP_TOKEN}"))
            .unwrap()
            .with_wait(Duration::from_millis(500))
            .with_connect_timeout(Duration::from_secs(1));
        assert_clean("HttpConfig Debug", &format!("{config:?} {}", config.url()));
        let source = informer_http::HttpSource::new(config).unwrap();
        assert_clean("HttpSource Debug", &format!("{source:?} {}", source.describe()));
        let error = source.list(&ListOptions::default()).await.err();
        assert!(error.is_some(), "a list against {} fails", source.describe());
        assert_clean("http list error", &format!("{error:?}"));
        fail_a_while(source, KeyFn::keyed()).await;
    }

    let logs = captured();
    assert!(logs.len() > 1_000, "the failing reflectors logged something to check: {} bytes", logs.len());
    assert_clean("tracing output", &logs);
    eprintln!("checked {} bytes of TRACE logs, Debug forms and errors of etcd, kube and http sources", logs.len());
}

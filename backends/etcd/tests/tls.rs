//! TLS to a real etcd (crate feature `tls`; needs the `openssl` command to make test
//! certificates). The `tls` feature is on by default.
#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use common::*;
use informer_core::{ErrorKind, ListOptions, ListerWatcher};
use informer_etcd::etcd_client::{Certificate, TlsOptions};
use informer_etcd::{EtcdConfig, EtcdSource, KeyRange, RawCodec};
use informer_tests::etcd::{EtcdOptions, EtcdServer, free_port};
use informer_tests::tls::make_certificates;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_over_tls_and_rejects_an_unknown_certificate_authority() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let tls_port = free_port().unwrap();
    // The harness checks health over plain HTTP; an HTTPS listener is added beside it.
    let etcd = EtcdServer::start_with(EtcdOptions::with_https_listener(tls_port, dir.path()))
        .expect("etcd with an HTTPS listener starts");
    let plain = client(&etcd.endpoint()).await;
    put_all(&plain, (0..50).map(|i| (format!("/tls/{i:02}"), b"v".to_vec())).collect()).await;

    let endpoint = format!("https://127.0.0.1:{tls_port}");
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let config = EtcdConfig::new([endpoint.clone()], KeyRange::prefix("/tls/"))
        .with_tls(TlsOptions::new().ca_certificate(Certificate::from_pem(ca)))
        .with_request_timeout(Duration::from_secs(5));
    let source = EtcdSource::connect(config, RawCodec).await.unwrap();
    let running = spawn_reflector(source, fast_config(20));
    assert!(tokio::time::timeout(Duration::from_secs(10), running.handle.wait_synced()).await.unwrap());
    put_all(&plain, vec![("/tls/new".into(), b"n".to_vec())]).await;
    assert_converges(&plain, "/tls/", &running.store, Duration::from_secs(10)).await;
    running.stop().await;

    // Without the CA the server's certificate is not trusted: a clear, retryable error.
    let config = EtcdConfig::new([endpoint], KeyRange::prefix("/tls/"))
        .with_tls(TlsOptions::new())
        .with_request_timeout(Duration::from_secs(5));
    let untrusting = EtcdSource::connect(config, RawCodec).await.unwrap();
    let err = untrusting.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("list (first page)"), "{err}");
}

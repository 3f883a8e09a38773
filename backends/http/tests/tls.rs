//! TLS: a real HTTPS server on loopback ([`HttpsServer`]: Python's `http.server` wrapped in
//! `ssl`, with a certificate from a test CA). Verification is on by default: a source with the default
//! client refuses the unknown CA; a client trusting that CA mirrors the collection.

use informer_core::{ListOptions, ListerWatcher};
use informer_http::{HttpSource, ItemsFormat, client_builder_with_extra_roots, presets};
use informer_tests::tls::{HttpsServer, make_certificates};

/// The collection the server answers with.
const BODY: &str = r#"{"items":[{"id":"a","value":"1"},{"id":"b","value":"2"}]}"#;

fn config(server: &HttpsServer) -> informer_http::HttpConfig {
    let items = ItemsFormat::pointers("/items", "/id");
    presets::etag_poll(&server.url("/items"), items, std::time::Duration::from_millis(100)).unwrap()
}

#[tokio::test]
async fn the_default_client_verifies_certificates_and_a_trusted_ca_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let server = HttpsServer::start(dir.path(), BODY);

    // Default client: the test CA is unknown, so the handshake fails and nothing is listed.
    let source = HttpSource::new(config(&server)).unwrap();
    let err = source.list(&ListOptions::default()).await.unwrap_err();
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.contains(&server.url("/items")), "the error names the URL: {chain}");
    assert!(chain.to_lowercase().contains("certificate"), "the error says why: {chain}");

    // A client that trusts the test CA: the same server mirrors fine over TLS.
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let client = client_builder_with_extra_roots(&ca).unwrap().build().unwrap();
    let source = HttpSource::with_client(config(&server), client);
    let page = source.list(&ListOptions::default()).await.unwrap();
    let mut keys: Vec<_> = page.items.iter().map(|i| i.key.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn extra_roots_that_are_not_certificates_are_refused_with_a_reason() {
    let err = client_builder_with_extra_roots(b"not a certificate").unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    let err =
        client_builder_with_extra_roots(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap_err();
    assert!(err.to_string().contains("CA certificates"), "{err}");
}

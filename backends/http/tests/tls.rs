//! TLS: a real HTTPS server on loopback (Python's `http.server` wrapped in `ssl`, with a
//! certificate from a test CA). Verification is on by default: a source with the default
//! client refuses the unknown CA; a client trusting that CA mirrors the collection.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use informer_core::{ListOptions, ListerWatcher};
use informer_http::{HttpSource, ItemsFormat, client_builder_with_extra_roots, presets};
use informer_tests::tls::make_certificates;

/// Serves one JSON collection (`{"items":[...]}` with an ETag) over HTTPS until dropped.
struct HttpsServer {
    child: Child,
    port: u16,
}

const SERVER: &str = r#"
import http.server, ssl, sys
BODY = b'{"items":[{"id":"a","value":"1"},{"id":"b","value":"2"}]}'
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl HttpsServer {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(dir.join("server.crt"))
            .arg(dir.join("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port printed");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the server printed {line:?}, not its port"));
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/items", self.port)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(server: &HttpsServer) -> informer_http::HttpConfig {
    let items = ItemsFormat::pointers("/items", "/id");
    presets::etag_poll(&server.url(), items, std::time::Duration::from_millis(100)).unwrap()
}

#[tokio::test]
async fn the_default_client_verifies_certificates_and_a_trusted_ca_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let server = HttpsServer::start(dir.path());

    // Default client: the test CA is unknown, so the handshake fails and nothing is listed.
    let source = HttpSource::new(config(&server)).unwrap();
    let err = source.list(&ListOptions::default()).await.unwrap_err();
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.contains(&server.url()), "the error names the URL: {chain}");
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

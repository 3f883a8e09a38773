//! TLS for tests: a CA and a server certificate for 127.0.0.1, made with the `openssl`
//! command, and [`HttpsServer`], a real HTTPS server on loopback (Python's `http.server` in
//! `ssl`; `openssl` and `python3` are on every machine of this kind).
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! informer_tests::tls::make_certificates(dir.path());
//! assert!(dir.path().join("ca.crt").exists() && dir.path().join("server.key").exists());
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Writes `ca.crt`/`ca.key` (a CA valid for 2 days) and `server.crt`/`server.key` (signed by
/// it, for `IP:127.0.0.1`) into `dir`. Panics with openssl's message if a step fails.
pub fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=informer-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// An HTTPS server on 127.0.0.1 that answers every GET with one JSON body (and `ETag: "v1"`),
/// with the certificate [`make_certificates`] wrote; stopped when dropped.
///
/// ```no_run
/// let dir = tempfile::tempdir().unwrap();
/// informer_tests::tls::make_certificates(dir.path());
/// let server = informer_tests::tls::HttpsServer::start(dir.path(), r#"{"items":[]}"#);
/// assert!(server.url("/items").starts_with("https://127.0.0.1:"));
/// ```
pub struct HttpsServer {
    child: Child,
    port: u16,
}

const SERVER: &str = r#"
import http.server, ssl, sys
BODY = sys.argv[3].encode()
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
    /// Starts the server with `server.crt` / `server.key` from `cert_dir`, answering `body`.
    pub fn start(cert_dir: &Path, body: &str) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(cert_dir.join("server.crt"))
            .arg(cert_dir.join("server.key"))
            .arg(body)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port printed");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the HTTPS server printed {line:?}, not its port"));
        Self { child, port }
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

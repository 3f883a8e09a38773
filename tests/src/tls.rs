//! Test certificates: a CA and a server certificate for 127.0.0.1, made with the `openssl`
//! command (Debian's `openssl`, on every machine of this kind).
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! informer_tests::tls::make_certificates(dir.path());
//! assert!(dir.path().join("ca.crt").exists() && dir.path().join("server.key").exists());
//! ```

use std::path::Path;
use std::process::Command;

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

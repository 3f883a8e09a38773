//! A real etcd server for tests: started on 127.0.0.1 with free ports and a temporary data
//! directory, stopped by its process id, restartable on the same data directory.
//!
//! Needs the `etcd` binary (Debian's `etcd-server`) on `PATH` or in `ETCD_BIN`, or the one
//! named in [`EtcdOptions::binary`] (the control plane's etcd 3.7). The process is guarded by a
//! [`Watchdog`](crate::process::Watchdog), so it never outlives the test process.
//!
//! ```no_run
//! let etcd = informer_tests::etcd::EtcdServer::start().unwrap();
//! println!("etcd at {}", etcd.endpoint());
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::Guarded;

/// Options of a test etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    /// Serve the v2 API too (`--enable-v2=true`), for the HTTP long-poll backend.
    pub enable_v2: bool,
    /// Extra command-line flags. `{client_port}` in a flag is replaced by the client port, e.g.
    /// to add an HTTPS listener beside the plain one the harness checks:
    /// `--listen-client-urls http://127.0.0.1:{client_port},https://127.0.0.1:23790`.
    pub extra_args: Vec<String>,
    /// The etcd binary; `None` for `ETCD_BIN` or `etcd` on `PATH`.
    pub binary: Option<PathBuf>,
}

impl EtcdOptions {
    /// Options for benchmarks: the etcd 3.7 that `.ci/setup` builds for the control plane when
    /// it is there (else `ETCD_BIN` or `etcd` on `PATH`), without fsync.
    pub fn for_benchmarks() -> Self {
        let built = crate::control_plane::binary_dir().join("etcd");
        Self {
            binary: built.is_file().then_some(built),
            extra_args: vec!["--unsafe-no-fsync=true".into()],
            ..Self::default()
        }
    }

    /// Options for an etcd that also serves HTTPS on 127.0.0.1:`tls_port`, with the
    /// `server.crt` / `server.key` that [`crate::tls::make_certificates`] wrote into
    /// `cert_dir`. The plain listener stays: the harness checks health over it.
    pub fn with_https_listener(tls_port: u16, cert_dir: &Path) -> Self {
        Self {
            extra_args: vec![
                "--listen-client-urls".into(),
                format!("http://127.0.0.1:{{client_port}},https://127.0.0.1:{tls_port}"),
                "--cert-file".into(),
                cert_dir.join("server.crt").display().to_string(),
                "--key-file".into(),
                cert_dir.join("server.key").display().to_string(),
            ],
            ..Self::default()
        }
    }
}

/// A running etcd. Killed (and its data directory removed) on drop.
pub struct EtcdServer {
    child: Option<Guarded>,
    data_dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    options: EtcdOptions,
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer").field("endpoint", &self.endpoint()).field("pid", &self.pid()).finish()
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn etcd_binary() -> PathBuf {
    std::env::var_os("ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("etcd"))
}

impl EtcdServer {
    /// Starts an etcd with default options and waits until it answers.
    pub fn start() -> io::Result<Self> {
        Self::start_with(EtcdOptions::default())
    }

    /// Starts an etcd and waits until it answers.
    pub fn start_with(options: EtcdOptions) -> io::Result<Self> {
        let data_dir = tempfile::Builder::new().prefix("informer-etcd-").tempdir()?;
        let mut server = Self { child: None, data_dir, client_port: free_port()?, peer_port: free_port()?, options };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let binary = self.options.binary.clone().unwrap_or_else(etcd_binary);
        let mut cmd = Command::new(&binary);
        cmd.arg("--name")
            .arg("informer-test")
            .arg("--data-dir")
            .arg(self.data_dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("informer-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-level=error")
            // etcd 3.6 dropped the v2 API and its flag: name it only when asked for.
            .args(self.options.enable_v2.then_some("--enable-v2=true"))
            .args(self.options.extra_args.iter().map(|a| a.replace("{client_port}", &self.client_port.to_string())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(self.data_dir.path().join("etcd.log"))?));
        let child = Guarded::spawn(&mut cmd).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start {binary:?} (install Debian's etcd-server): {e}"))
        })?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30))
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.client_port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.data_dir.path().join("etcd.log")).unwrap_or_default();
                return Err(io::Error::other(format!("etcd exited with {status}: {log}")));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() && self.healthy() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("etcd not ready at {addr}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True if `GET /health` answers `"health":"true"`.
    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.client_port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.client_port);
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        body.contains("\"health\":\"true\"")
    }

    /// `127.0.0.1:PORT` of the client API.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `http://127.0.0.1:PORT` of the client API.
    pub fn url(&self) -> String {
        format!("http://{}", self.endpoint())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Guarded::id)
    }

    /// The data directory (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Kills the process (SIGKILL) and waits for it; the data directory stays.
    pub fn kill(&mut self) -> io::Result<()> {
        match self.child.take() {
            Some(child) => child.kill(),
            None => Ok(()),
        }
    }

    /// Starts the process again on the same ports and data directory.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        self.spawn()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_starts_restarts_and_stops_on_a_free_port() {
        let mut etcd = EtcdServer::start().expect("etcd starts");
        assert!(etcd.is_running());
        assert!(etcd.healthy());
        let pid = etcd.pid().unwrap();
        etcd.restart().expect("etcd restarts");
        assert_ne!(etcd.pid().unwrap(), pid);
        assert!(etcd.healthy());
        etcd.kill().unwrap();
        assert!(!etcd.is_running());
    }
}

//! A real Kubernetes control plane for tests: etcd 3.7 and kube-apiserver 1.37, built from
//! their Go modules by `.ci/setup` (`tests/control-plane/go.mod`, into
//! `~/.cache/informer/control-plane/bin`, or `INFORMER_CONTROL_PLANE_BIN`), started on
//! 127.0.0.1 with free ports and a temporary directory, as controller-runtime's envtest runs
//! them.
//!
//! * etcd runs with `--unsafe-no-fsync` on a temporary data dir;
//! * the PKI is made in-process ([`pki`]): a service-account key, a client CA, an admin
//!   certificate (`O=system:masters`) and an [`User::Unprivileged`] user RBAC grants nothing;
//! * kube-apiserver runs with `--authorization-mode=RBAC`, the alpha gate
//!   `ShardedListAndWatch` on (off with [`ControlPlaneOptions::with_sharded_list_and_watch`]),
//!   `--disable-admission-plugins=ServiceAccount` (pods are accepted at once),
//!   `--etcd-compaction-interval=0` (compaction only when a test asks), and its own
//!   self-signed serving certificate, which the clients trust;
//! * [`ControlPlane::start_with`] waits for `/readyz`, then hands out kubeconfig files
//!   ([`kubeconfig`](ControlPlane::kubeconfig)) and `kube::Client`s
//!   ([`client`](ControlPlane::client)) per [`User`];
//! * the apiserver restarts on demand ([`restart_apiserver`](ControlPlane::restart_apiserver));
//!   etcd is compacted through its JSON gateway ([`compact_etcd`](ControlPlane::compact_etcd));
//! * every process is killed by its process id on drop, and by a
//!   [`Watchdog`](crate::process::Watchdog) if the test process ends first, so
//!   [`ControlPlane::shared`] (one control plane per test binary, never dropped) leaks nothing.
//!
//! A missing binary is an error naming the path and the command that builds it: these tests
//! are never skipped.
//!
//! ```no_run
//! use informer_tests::control_plane::{ControlPlane, User};
//! # #[tokio::main] async fn main() {
//! let cp = ControlPlane::shared();
//! let client = cp.client(User::Admin).await.unwrap();
//! let namespace = cp.create_namespace(&client, "docs").await.unwrap();
//! println!("kube-apiserver at {}, namespace {namespace}", cp.url());
//! # }
//! ```

pub mod pki;

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::Mutex;
use serde_json::{Value, json};

pub use pki::User;

use crate::etcd::{EtcdOptions, EtcdServer, free_port};
use crate::process::Guarded;

/// Settings of a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Extra kube-apiserver flags, e.g. `--feature-gates=WatchList=false` or
    /// `--watch-cache-sizes=configmaps#0` (`--feature-gates` may be repeated; they add up).
    pub apiserver_args: Vec<String>,
    /// The alpha feature gate `ShardedListAndWatch` (server-side `shardSelector`, KEP-5866).
    /// Default on: it changes nothing for requests without a shard selector.
    pub sharded_list_and_watch: bool,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        Self { apiserver_args: Vec::new(), sharded_list_and_watch: true }
    }
}

impl ControlPlaneOptions {
    /// Turns the `ShardedListAndWatch` feature gate on or off.
    pub fn with_sharded_list_and_watch(mut self, enabled: bool) -> Self {
        self.sharded_list_and_watch = enabled;
        self
    }

    /// Adds one kube-apiserver flag.
    pub fn with_apiserver_arg(mut self, arg: impl Into<String>) -> Self {
        self.apiserver_args.push(arg.into());
        self
    }
}

/// Where `.ci/setup` builds the control plane's binaries.
pub fn binary_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INFORMER_CONTROL_PLANE_BIN") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/informer/control-plane/bin")
}

fn binary(name: &str) -> io::Result<PathBuf> {
    let path = binary_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: build the control plane with `bash .ci/setup` \
                 (it runs .ci/control-plane-build.sh over tests/control-plane/go.mod)",
                path.display()
            ),
        ))
    }
}

/// etcd 3.7 and kube-apiserver 1.37 on loopback. See the [module docs](self).
pub struct ControlPlane {
    dir: tempfile::TempDir,
    etcd: EtcdServer,
    pki: pki::Pki,
    port: u16,
    options: ControlPlaneOptions,
    apiserver: Mutex<Option<Guarded>>,
    starts: AtomicU64,
    names: AtomicU64,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("url", &self.url())
            .field("etcd", &self.etcd)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<ControlPlane> = OnceLock::new();

impl ControlPlane {
    /// The control plane of this test binary, started on first use with default options and
    /// shared by every test in the binary (give each test its own namespace). Panics, naming
    /// what failed, if it cannot start.
    pub fn shared() -> &'static ControlPlane {
        SHARED.get_or_init(|| match Self::start_with(ControlPlaneOptions::default()) {
            Ok(cp) => cp,
            Err(e) => panic!("the shared control plane did not start: {e}"),
        })
    }

    /// Starts etcd and kube-apiserver and waits until the apiserver is ready. Blocks the
    /// calling thread (for 5 to 20 s); from async code use `spawn_blocking` or
    /// [`ControlPlane::shared`].
    pub fn start_with(options: ControlPlaneOptions) -> io::Result<Self> {
        binary("kube-apiserver")?; // fail before starting anything if it is missing
        let etcd_binary = binary("etcd")?;
        let dir = tempfile::Builder::new().prefix("informer-control-plane-").tempdir()?;
        let etcd = EtcdServer::start_with(EtcdOptions {
            binary: Some(etcd_binary),
            extra_args: vec!["--unsafe-no-fsync=true".into()],
            ..EtcdOptions::default()
        })?;
        let pki = pki::Pki::create(&dir.path().join("pki"))?;
        let cp = Self {
            dir,
            etcd,
            pki,
            port: free_port()?,
            options,
            apiserver: Mutex::new(None),
            starts: AtomicU64::new(0),
            names: AtomicU64::new(0),
        };
        cp.start_apiserver()?;
        Ok(cp)
    }

    /// `https://127.0.0.1:PORT` of the apiserver.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The apiserver's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The etcd behind the apiserver.
    pub fn etcd(&self) -> &EtcdServer {
        &self.etcd
    }

    /// How many times the apiserver was started (1 before any restart).
    pub fn apiserver_starts(&self) -> u64 {
        self.starts.load(Ordering::SeqCst)
    }

    /// The apiserver's log (stderr), for failure messages.
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default()
    }

    fn serving_cert(&self) -> PathBuf {
        self.dir.path().join("serving/apiserver.crt")
    }

    /// Starts the apiserver (if it is not running) and waits for `/readyz`.
    pub fn start_apiserver(&self) -> io::Result<()> {
        let mut running = self.apiserver.lock();
        if running.is_some() {
            return Ok(());
        }
        let serving = self.dir.path().join("serving");
        let url = self.url();
        let mut command = Command::new(binary("kube-apiserver")?);
        command
            .arg(format!("--etcd-servers={}", self.etcd.url()))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            // The `kubernetes` service's endpoint reconciler refuses a loopback address; with no
            // nodes and no in-cluster clients nothing needs those endpoints (envtest does the same).
            .arg("--endpoint-reconciler-type=none")
            .arg(format!("--secure-port={}", self.port))
            .arg(format!("--cert-dir={}", serving.display()))
            .arg(format!("--client-ca-file={}", self.pki.client_ca_file.display()))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-issuer={url}"))
            .arg(format!("--service-account-key-file={}", self.pki.service_account_public_file.display()))
            .arg(format!("--service-account-signing-key-file={}", self.pki.service_account_key_file.display()))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--etcd-compaction-interval=0")
            .arg("--profiling=false")
            .arg(format!("--feature-gates=ShardedListAndWatch={}", self.options.sharded_list_and_watch))
            .args(&self.options.apiserver_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("kube-apiserver.log"))?,
            ));
        let mut child = Guarded::spawn(&mut command)?;
        let ready = self.wait_ready(&mut child, Duration::from_secs(90));
        match ready {
            Ok(()) => {
                *running = Some(child);
                self.starts.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                Err(e)
            }
        }
    }

    /// Kills the apiserver (SIGKILL), as a crash would; etcd keeps running.
    pub fn stop_apiserver(&self) -> io::Result<()> {
        match self.apiserver.lock().take() {
            Some(child) => child.kill(),
            None => Ok(()),
        }
    }

    /// Kills the apiserver and starts it again on the same port, with the same certificates
    /// and etcd. Its new watch cache starts at etcd's current revision, so watches from older
    /// resourceVersions are answered `410 Gone`.
    ///
    /// While the apiserver is down, one write outside the apiserver's prefix advances etcd's
    /// revision ([`bump_etcd_revision`](Self::bump_etcd_revision)), as the writes of a busy
    /// cluster would. Without it a restart within the apiserver's 10 s lease renewal could find
    /// etcd where the clients' watches left it, and no watch would expire.
    pub fn restart_apiserver(&self) -> io::Result<()> {
        self.stop_apiserver()?;
        self.bump_etcd_revision()?;
        self.start_apiserver()
    }

    /// Writes one key outside the apiserver's `/registry/` prefix, through etcd's JSON
    /// gateway, and returns etcd's new revision.
    pub fn bump_etcd_revision(&self) -> io::Result<u64> {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let answer = self.etcd_post(
            "/v3/kv/put",
            &json!({"key": b64("/informer-test/revision-bump"), "value": b64(&self.apiserver_starts().to_string())}),
        )?;
        answer["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("etcd put answered no header.revision: {answer}")))
    }

    fn wait_ready(&self, child: &mut Guarded, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "kube-apiserver exited with {status}; its log ends with:\n{}",
                    tail(&self.apiserver_log(), 40)
                )));
            }
            if self.serving_cert().is_file()
                && TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok()
            {
                match self.readyz() {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "kube-apiserver at {} not ready after {timeout:?} ({last}); its log ends with:\n{}",
                        self.url(),
                        tail(&self.apiserver_log(), 40)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `GET /readyz` as the admin, on a thread with its own runtime (callable from async code).
    fn readyz(&self) -> io::Result<()> {
        let yaml = self.kubeconfig_yaml(User::Admin)?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    runtime.block_on(async {
                        let client = client_from_yaml(&yaml).await?;
                        let request = http::Request::get("/readyz").body(Vec::new()).map_err(io::Error::other)?;
                        let body = tokio::time::timeout(Duration::from_secs(5), client.request_text(request))
                            .await
                            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "/readyz did not answer in 5 s"))?
                            .map_err(|e| io::Error::other(format!("/readyz: {e}")))?;
                        if body.trim() == "ok" {
                            Ok(())
                        } else {
                            Err(io::Error::other(format!("/readyz answered {body:?}")))
                        }
                    })
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the /readyz probe panicked")))
        })
    }

    /// A kubeconfig for `user`: the apiserver's URL, its self-signed serving certificate as
    /// the CA, and the user's client certificate, all inline.
    pub fn kubeconfig_yaml(&self, user: User) -> io::Result<String> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let ca = std::fs::read(self.serving_cert())?;
        let identity = self.pki.identity(user);
        let name = user.name();
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: informer-test\n  cluster:\n    server: {url}\n    \
             certificate-authority-data: {ca}\nusers:\n- name: {name}\n  user:\n    client-certificate-data: {cert}\n    \
             client-key-data: {key}\ncontexts:\n- name: {name}\n  context:\n    cluster: informer-test\n    user: {name}\n\
             current-context: {name}\n",
            url = self.url(),
            ca = b64(&ca),
            cert = b64(identity.cert_pem.as_bytes()),
            key = b64(identity.key_pem.as_bytes()),
        ))
    }

    /// Writes the kubeconfig of `user` into the control plane's directory (mode 0600, it holds
    /// a private key) and returns its path, for the CLI and other processes.
    pub fn kubeconfig(&self, user: User) -> io::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.path().join(format!("kubeconfig-{}", user.name()));
        let yaml = self.kubeconfig_yaml(user)?;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        io::Write::write_all(&mut file, yaml.as_bytes())?;
        Ok(path)
    }

    /// A `kube::Client` acting as `user`, on the calling runtime.
    pub async fn client(&self, user: User) -> io::Result<kube::Client> {
        client_from_yaml(&self.kubeconfig_yaml(user)?).await
    }

    /// Creates a namespace named `{prefix}-{n}` (unique in this control plane) and returns its
    /// name. With no controller-manager a namespace is never deleted for good, so each test
    /// takes a fresh one.
    pub async fn create_namespace(&self, client: &kube::Client, prefix: &str) -> io::Result<String> {
        let name = format!("{prefix}-{}-{}", std::process::id(), self.names.fetch_add(1, Ordering::SeqCst));
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let request = http::Request::post("/api/v1/namespaces")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)
            .map_err(io::Error::other)?;
        client
            .request::<Value>(request)
            .await
            .map_err(|e| io::Error::other(format!("creating namespace {name}: {e}")))?;
        Ok(name)
    }

    /// Compacts etcd at its current revision (physically), through etcd's JSON gateway, and
    /// returns that revision. The apiserver's watch cache is not compacted by this: resources
    /// it caches still serve their history from memory.
    pub fn compact_etcd(&self) -> io::Result<u64> {
        let range = self.etcd_post("/v3/kv/range", &json!({"key": "AA==", "limit": 1}))?;
        let revision = range["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("etcd range answered no header.revision: {range}")))?;
        self.etcd_post("/v3/kv/compaction", &json!({"revision": revision.to_string(), "physical": true}))?;
        Ok(revision)
    }

    /// One POST to etcd's JSON gateway; the decoded answer, or an error with etcd's message.
    fn etcd_post(&self, path: &str, body: &Value) -> io::Result<Value> {
        use std::io::{Read, Write};
        let body = serde_json::to_vec(body)?;
        let mut stream = TcpStream::connect(("127.0.0.1", self.etcd.port()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let head = format!(
            "POST {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.etcd.endpoint(),
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer);
        let (status, json) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let value: Value = serde_json::from_str(json)
            .map_err(|e| io::Error::other(format!("etcd {path} answered {status:?} with no JSON: {e}")))?;
        if !status.starts_with("HTTP/1.0 200") && !status.starts_with("HTTP/1.1 200") {
            return Err(io::Error::other(format!("etcd {path} answered {status:?}: {value}")));
        }
        Ok(value)
    }

    /// The running apiserver's resident memory (`VmRSS`) in KiB, for benchmarks; `None` when it
    /// is not running.
    pub fn apiserver_rss_kib(&self) -> Option<u64> {
        let pid = self.apiserver.lock().as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The temporary directory holding the PKI, certificates, kubeconfigs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.stop_apiserver();
        let _ = self.etcd.kill();
    }
}

/// Pod `index` of `generator` as a create request for the real apiserver in `namespace`:
/// without the fields the server sets itself (uid, resourceVersion, creationTimestamp,
/// managedFields, generateName) and without status, which a create ignores.
///
/// ```
/// use informer_tests::kube_api::PodGenerator;
/// let pod = informer_tests::control_plane::pod_manifest(&PodGenerator::new(1), 3, "shop");
/// assert_eq!(pod["metadata"]["namespace"], "shop");
/// assert!(pod["metadata"].get("uid").is_none() && pod.get("status").is_none());
/// ```
pub fn pod_manifest(generator: &crate::kube_api::PodGenerator, index: usize, namespace: &str) -> Value {
    let mut pod = generator.pod(index);
    if let Some(meta) = pod["metadata"].as_object_mut() {
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generateName"] {
            meta.remove(field);
        }
        meta.insert("namespace".into(), namespace.into());
    }
    if let Some(pod) = pod.as_object_mut() {
        pod.remove("status");
    }
    pod
}

/// `namespace/name` → `metadata.resourceVersion` of every object of a collection, from one
/// consistent list (`GET collection_path`, e.g. `/api/v1/namespaces/shop/pods`): what a
/// mirror of that collection must hold once it has caught up.
pub async fn resource_versions(client: &kube::Client, collection_path: &str) -> io::Result<BTreeMap<String, String>> {
    let request = http::Request::get(collection_path).body(Vec::new()).map_err(io::Error::other)?;
    let list: Value =
        client.request(request).await.map_err(|e| io::Error::other(format!("listing {collection_path}: {e}")))?;
    let items = list["items"]
        .as_array()
        .ok_or_else(|| io::Error::other(format!("{collection_path} answered no items: {list}")))?;
    Ok(items
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            let name = meta["name"].as_str().unwrap_or_default();
            let key = match meta["namespace"].as_str() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            (key, meta["resourceVersion"].as_str().unwrap_or_default().to_string())
        })
        .collect())
}

/// The same map for a store of typed objects: key → `metadata.resourceVersion`.
pub fn store_versions<K: kube::Resource + Send + Sync + 'static>(
    store: &crate::MapStore<K>,
) -> BTreeMap<String, String> {
    store
        .snapshot()
        .into_iter()
        .map(|(key, object)| (key.to_string(), object.meta().resource_version.clone().unwrap_or_default()))
        .collect()
}

/// A `kube::Client` from a kubeconfig file (e.g. one [`ControlPlane::kubeconfig`] wrote), for a
/// process that did not start the control plane, such as a benchmark's child.
pub async fn client_from_kubeconfig(path: &Path) -> io::Result<kube::Client> {
    let yaml = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading kubeconfig {}: {e}", path.display())))?;
    client_from_yaml(&yaml).await
}

async fn client_from_yaml(yaml: &str) -> io::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml).map_err(io::Error::other)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(io::Error::other)?;
    kube::Client::try_from(config).map_err(io::Error::other)
}

/// The errors (klog `E`/`F` lines) of a log, then its last `lines` lines.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = all.iter().copied().filter(|l| l.starts_with('E') || l.starts_with('F')).take(20).collect();
    format!("{}\n...\n{}", errors.join("\n"), all[all.len().saturating_sub(lines)..].join("\n"))
}

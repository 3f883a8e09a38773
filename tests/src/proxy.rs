//! A fault-injecting TCP proxy for tests: sits between a client and a real server on
//! loopback and breaks the connection the ways networks and servers do.
//!
//! Faults, each counted:
//! * **cut**: a connection is closed at a random point, possibly mid-response;
//! * **stall**: a read is held for a while before its bytes are forwarded;
//! * **refuse**: for a while, new connections are accepted and closed at once;
//! * on demand: [`FaultProxy::cut_all`] closes every open connection.
//!
//! Random faults are drawn from a seeded generator, so a failing run can be replayed with the
//! same seed. The proxy only listens on and connects to 127.0.0.1, and stops when dropped.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use informer_tests::proxy::{FaultProxy, Faults};
//! let proxy = FaultProxy::start("127.0.0.1:2379".parse().unwrap(), Faults::none(), 7).await?;
//! println!("connect to {} instead", proxy.addr());
//! proxy.set_faults(Faults { cut_per_chunk: 0.01, ..Faults::none() });
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Fault probabilities and durations. Probabilities apply per forwarded chunk (one read).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability that a chunk is not forwarded and the connection is closed instead.
    pub cut_per_chunk: f64,
    /// Probability that a chunk is held back for `stall` before being forwarded.
    pub stall_per_chunk: f64,
    /// How long a stall lasts.
    pub stall: Duration,
    /// Probability that a new connection is refused (accepted and closed at once).
    pub refuse_per_connection: f64,
}

impl Faults {
    /// No random faults: a transparent proxy (on-demand faults still work).
    pub fn none() -> Self {
        Self { cut_per_chunk: 0.0, stall_per_chunk: 0.0, stall: Duration::ZERO, refuse_per_connection: 0.0 }
    }
}

/// How many of each fault the proxy injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Connections accepted (including refused ones).
    pub connections: u64,
    /// Connections cut at a random point.
    pub cuts: u64,
    /// Reads stalled.
    pub stalls: u64,
    /// Connections refused.
    pub refusals: u64,
    /// Connections closed by [`FaultProxy::cut_all`].
    pub forced_cuts: u64,
    /// Bytes forwarded (or being forwarded) from the upstream server to clients.
    pub bytes_down: u64,
    /// Bytes forwarded from clients to the upstream server.
    pub bytes_up: u64,
}

impl FaultCounts {
    /// Every injected fault.
    pub fn total(&self) -> u64 {
        self.cuts + self.stalls + self.refusals + self.forced_cuts
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    cuts: AtomicU64,
    stalls: AtomicU64,
    refusals: AtomicU64,
    forced_cuts: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    faults: Mutex<Faults>,
    refusing: std::sync::atomic::AtomicBool,
    rng: Mutex<fastrand::Rng>,
    counters: Counters,
    /// Bumped by `cut_all`; every connection watches it.
    cut_epoch: watch::Sender<u64>,
    /// While true, nothing is forwarded from the server to clients.
    hold_down: watch::Sender<bool>,
}

impl Shared {
    fn roll(&self, probability: f64) -> bool {
        probability > 0.0 && self.rng.lock().f64() < probability
    }
}

/// A running proxy. Stops accepting and closes its connections when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).field("counts", &self.counts()).finish()
    }
}

fn loopback_only(addr: SocketAddr) -> std::io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("proxy targets loopback only, not {addr}")))
    }
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port that forwards to `upstream` (a loopback
    /// address), injecting `faults` drawn from a generator seeded with `seed`.
    pub async fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> std::io::Result<Self> {
        loopback_only(upstream)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut_epoch, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            faults: Mutex::new(faults),
            refusing: std::sync::atomic::AtomicBool::new(false),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            counters: Counters::default(),
            cut_epoch,
            hold_down: watch::channel(false).0,
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self { addr, shared, accept_task })
    }

    /// The proxy's address (connect clients here).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the random faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock() = faults;
    }

    /// Points the proxy at another upstream (e.g. a restarted server on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) -> std::io::Result<()> {
        loopback_only(upstream)?;
        *self.shared.upstream.lock() = upstream;
        Ok(())
    }

    /// While true, every new connection is refused (accepted and closed at once).
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// While `held`, bytes from the server are read and kept in the proxy's memory instead of
    /// reaching clients (counted in `bytes_down` as they arrive); released, they go out at once.
    /// Connections stay open. Benchmarks use it to queue a watch's events at full server speed
    /// and then time how fast a client takes them.
    pub fn hold_down(&self, held: bool) {
        self.shared.hold_down.send_replace(held);
    }

    /// Closes every open connection now.
    pub fn cut_all(&self) {
        self.shared.cut_epoch.send_modify(|e| *e += 1);
    }

    /// What was injected so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        FaultCounts {
            connections: get(&c.connections),
            cuts: get(&c.cuts),
            stalls: get(&c.stalls),
            refusals: get(&c.refusals),
            forced_cuts: get(&c.forced_cuts),
            bytes_down: get(&c.bytes_down),
            bytes_up: get(&c.bytes_up),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.cut_all();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let refuse_probability = shared.faults.lock().refuse_per_connection;
        if shared.refusing.load(Ordering::SeqCst) || shared.roll(refuse_probability) {
            shared.counters.refusals.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        tokio::spawn(serve(client, Arc::clone(&shared)));
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let upstream_addr = *shared.upstream.lock();
    let Ok(upstream) = TcpStream::connect(upstream_addr).await else { return };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let mut cut_rx = shared.cut_epoch.subscribe();
    let forward = async {
        tokio::select! {
            _ = pipe(client_read, upstream_write, &shared, &shared.counters.bytes_up, None) => {}
            _ = pipe(upstream_read, client_write, &shared, &shared.counters.bytes_down, Some(shared.hold_down.subscribe())) => {}
        }
    };
    tokio::select! {
        _ = forward => {}
        _ = cut_rx.changed() => {
            shared.counters.forced_cuts.fetch_add(1, Ordering::SeqCst);
        }
    }
    // Dropping both halves of both sockets closes the connection in both directions.
}

/// Copies one direction until EOF, an error, or an injected cut, adding what it forwards to
/// `forwarded`; while `hold` says true, what it reads waits in memory.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    forwarded: &AtomicU64,
    mut hold: Option<watch::Receiver<bool>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    // What arrived while held: kept here, in memory, so the server is not slowed by the hold.
    let mut held_bytes = Vec::new();
    loop {
        if let Some(hold) = &mut hold {
            if *hold.borrow_and_update() {
                tokio::select! {
                    read = from.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            forwarded.fetch_add(n as u64, Ordering::SeqCst);
                            held_bytes.extend_from_slice(&buf[..n]);
                        }
                    },
                    changed = hold.changed() => if changed.is_err() { return },
                }
                continue;
            }
            if !held_bytes.is_empty() {
                if to.write_all(&held_bytes).await.is_err() {
                    return;
                }
                held_bytes = Vec::new();
            }
        }
        let read = match &mut hold {
            // A hold that starts while this read waits takes effect before the next byte.
            Some(hold) => tokio::select! {
                read = from.read(&mut buf) => read,
                _ = hold.wait_for(|held| *held) => continue,
            },
            None => from.read(&mut buf).await,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let faults = shared.faults.lock().clone();
        if shared.roll(faults.cut_per_chunk) {
            shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
            // Forward a random prefix first, so the cut lands mid-message.
            let keep = shared.rng.lock().usize(..n);
            forwarded.fetch_add(keep as u64, Ordering::SeqCst);
            let _ = to.write_all(&buf[..keep]).await;
            return;
        }
        if shared.roll(faults.stall_per_chunk) {
            shared.counters.stalls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(faults.stall).await;
        }
        // Counted before the write, so a reader that got the bytes also sees them counted.
        forwarded.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(msg).await?;
        let mut out = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut out)).await??;
        Ok(out)
    }

    #[tokio::test]
    async fn forwards_bytes_unchanged_without_faults() {
        let proxy = FaultProxy::start(echo_server().await, Faults::none(), 1).await.unwrap();
        assert_eq!(round_trip(proxy.addr(), b"hello").await.unwrap(), b"hello");
        assert_eq!(proxy.counts().total(), 0);
        assert_eq!(proxy.counts().connections, 1);
    }

    #[tokio::test]
    async fn counts_the_bytes_it_forwards_each_way() {
        let proxy = FaultProxy::start(echo_server().await, Faults::none(), 1).await.unwrap();
        round_trip(proxy.addr(), b"hello").await.unwrap();
        round_trip(proxy.addr(), b"abc").await.unwrap();
        let counts = proxy.counts();
        assert_eq!((counts.bytes_up, counts.bytes_down), (8, 8));
    }

    #[tokio::test]
    async fn refuses_connections_while_told_to() {
        let proxy = FaultProxy::start(echo_server().await, Faults::none(), 1).await.unwrap();
        proxy.set_refusing(true);
        assert!(round_trip(proxy.addr(), b"x").await.is_err());
        proxy.set_refusing(false);
        assert!(round_trip(proxy.addr(), b"x").await.is_ok());
        assert_eq!(proxy.counts().refusals, 1);
    }

    #[tokio::test]
    async fn held_down_bytes_wait_in_the_proxy_until_released() {
        let proxy = FaultProxy::start(echo_server().await, Faults::none(), 1).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.hold_down(true);
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(200), client.read_exact(&mut buf)).await;
        assert!(early.is_err(), "nothing comes back while held");
        assert_eq!(proxy.counts().bytes_up, 4, "the request went up");
        proxy.hold_down(false);
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[tokio::test]
    async fn cut_all_closes_open_connections() {
        let proxy = FaultProxy::start(echo_server().await, Faults::none(), 1).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"a").await.unwrap();
        let mut one = [0u8; 1];
        s.read_exact(&mut one).await.unwrap();
        proxy.cut_all();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await.unwrap().unwrap_or(0);
        assert_eq!(n, 0, "the connection was closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(proxy.counts().forced_cuts, 1);
    }

    #[tokio::test]
    async fn random_cuts_are_reproducible_for_a_seed() {
        let upstream = echo_server().await;
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let proxy = FaultProxy::start(upstream, Faults { cut_per_chunk: 0.5, ..Faults::none() }, 99).await.unwrap();
            let mut run = Vec::new();
            for i in 0..10u8 {
                run.push(round_trip(proxy.addr(), &[i; 8]).await.is_ok());
            }
            outcomes.push((run, proxy.counts().cuts));
        }
        assert_eq!(outcomes[0], outcomes[1]);
        assert!(outcomes[0].1 > 0, "some connections were cut");
    }

    #[tokio::test]
    async fn refuses_non_loopback_upstreams() {
        let err = FaultProxy::start("10.0.0.1:80".parse().unwrap(), Faults::none(), 1).await.unwrap_err();
        assert!(err.to_string().contains("loopback only"));
    }
}

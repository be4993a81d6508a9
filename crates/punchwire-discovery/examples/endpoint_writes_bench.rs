//! How often one discovery pass reads the WireGuard device, and how long the pass takes,
//! when every one of N peers gets a new endpoint.
//!
//! ```text
//! cargo run --release -p punchwire-discovery --features test-util --example endpoint_writes_bench [PEERS] [PASSES]
//! ```
//!
//! The engine reaches each device through [`UapiBackend`], as the service does, over a
//! socket this program serves itself, so that it can count the requests the daemon gets
//! (`get=1`: one full dump of the device; `set=1`: one write):
//!
//! - `fake daemon`: a compliant UAPI daemon in this process, needs no root. Every peer
//!   holds a session (its latest handshake 160 s ago: no longer fresh, so the policy
//!   replaces its endpoint, yet a session, so only the endpoint moves).
//! - `wireguard-go` (root and wireguard-go on PATH; skipped otherwise): a real daemon in
//!   a network namespace of its own, the socket forwarded to its own. Its peers have no
//!   session (nothing here can shake hands with them), so each one is made anew to take
//!   its endpoint, which reads the peer's full configuration right before the write.
//!
//! The answers come from an in-memory registry, so the figures are the engine's and the
//! device's cost alone. Each pass runs on a fresh engine (one that just set an endpoint
//! holds the next one back until a handshake follows) and moves every endpoint; a pass
//! that leaves a peer unsettled or on another endpoint is an error.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use punchwire_discovery::{Config, Engine, MemorySource};
use punchwire_wg::{Backend, PublicKey, UapiBackend};

type Error = Box<dyn std::error::Error>;

const REGISTRY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let peers: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let passes: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    if peers == 0 || peers > 60_000 || passes == 0 {
        return Err("PEERS must be 1 to 60000 and PASSES at least 1".into());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let keys: Vec<PublicKey> = (0..peers).map(key).collect();

    let dir = tempfile::tempdir()?;
    let counts = Counts::default();
    let fake = FakeDaemon::new(&keys);
    serve(&dir.path().join("pwfake.sock"), counts.clone(), move |s| {
        fake.clone().answer(s)
    })?;
    let figures = runtime.block_on(bench(dir.path(), "pwfake", &keys, passes, &counts))?;
    figures.print(&format!("fake daemon, {peers} peers with a session"));

    match WireguardGo::start("pwbench0", &keys)? {
        None => println!("wireguard-go: skipped (needs root and wireguard-go on PATH)"),
        Some(daemon) => {
            let counts = Counts::default();
            let upstream = daemon.socket.clone();
            serve(
                &dir.path().join("pwbench0.sock"),
                counts.clone(),
                move |s| forward(s, &upstream),
            )?;
            let figures = runtime.block_on(bench(dir.path(), "pwbench0", &keys, passes, &counts));
            drop(daemon);
            figures?.print(&format!("wireguard-go, {peers} peers without a session"));
        }
    }
    Ok(())
}

/// What the passes cost: requests are per pass, the same in every pass.
struct Figures {
    reads: Vec<usize>,
    writes: Vec<usize>,
    times: Vec<Duration>,
}

impl Figures {
    fn print(mut self, what: &str) {
        self.times.sort();
        let pick = |q: f64| self.times[((self.times.len() - 1) as f64 * q).round() as usize];
        println!(
            "{what}, all endpoints changing, {} passes: device reads per pass {}, writes per \
             pass {}; pass time min {}  p50 {}  max {}",
            self.times.len(),
            spread(&self.reads),
            spread(&self.writes),
            ms(self.times[0]),
            ms(pick(0.5)),
            ms(self.times[self.times.len() - 1]),
        );
    }
}

async fn bench(
    dir: &Path,
    iface: &str,
    keys: &[PublicKey],
    passes: usize,
    counts: &Counts,
) -> Result<Figures, Error> {
    let backend = Backend::new(UapiBackend::with_dir(dir)).with_deadline(Duration::from_secs(30));
    let source = MemorySource::new();
    let mut figures = Figures {
        reads: Vec::new(),
        writes: Vec::new(),
        times: Vec::new(),
    };
    for round in 0..passes {
        for (i, key) in keys.iter().enumerate() {
            source.publish(REGISTRY, *key, endpoint(i, round));
        }
        let mut engine = Engine::new(
            backend.clone(),
            source.clone(),
            // No nudge: these devices have no interface to send through.
            Config {
                nudge: false,
                ..Config::new(iface, vec![REGISTRY])
            },
        );
        let (reads, writes) = counts.take();
        let started = Instant::now();
        let pass = engine.pass().await?;
        let took = started.elapsed();
        let (reads, writes) = (counts.take().0 - reads, counts.take().1 - writes);
        for (i, key) in keys.iter().enumerate() {
            let outcome = pass.outcomes.iter().find(|o| o.peer == *key);
            let ok =
                outcome.is_some_and(|o| o.is_settled() && o.endpoint == Some(endpoint(i, round)));
            if !ok {
                return Err(format!("pass {round}, peer {i}: {outcome:?}").into());
            }
        }
        figures.reads.push(reads);
        figures.writes.push(writes);
        figures.times.push(took);
    }
    Ok(figures)
}

/// Requests seen on a socket this program serves, by kind; cumulative.
#[derive(Clone, Default)]
struct Counts {
    gets: Arc<AtomicUsize>,
    sets: Arc<AtomicUsize>,
}

impl Counts {
    fn count(&self, request: &str) {
        if request.starts_with("get=1") {
            self.gets.fetch_add(1, Ordering::Relaxed);
        } else if request.starts_with("set=1") {
            self.sets.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (reads, writes) so far.
    fn take(&self) -> (usize, usize) {
        (
            self.gets.load(Ordering::Relaxed),
            self.sets.load(Ordering::Relaxed),
        )
    }
}

/// Serves `socket`, one thread per connection, counting each request before `handle`
/// answers it.
fn serve(
    socket: &Path,
    counts: Counts,
    handle: impl Fn(&str) -> Result<String, Error> + Send + Sync + 'static,
) -> Result<(), Error> {
    let listener = UnixListener::bind(socket)?;
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (counts, handle) = (counts.clone(), Arc::clone(&handle));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                while let Some(request) = read_request(&mut reader) {
                    counts.count(&request);
                    let answer = match handle(&request) {
                        Ok(answer) => answer,
                        Err(err) => {
                            eprintln!("serving a request failed: {err}");
                            return;
                        }
                    };
                    if (&stream).write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(())
}

/// One request, its lines up to the blank one included; `None` at the end.
fn read_request(reader: &mut impl BufRead) -> Option<String> {
    let mut request = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        request.push_str(&line);
        if line == "\n" {
            return Some(request);
        }
    }
}

/// Sends `request` to the daemon at `upstream` and hands back its answer, up to and
/// including the blank line after `errno=`.
fn forward(request: &str, upstream: &Path) -> Result<String, Error> {
    let mut stream = UnixStream::connect(upstream)?;
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    let mut errno_seen = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err("the daemon closed the connection mid-answer".into());
        }
        errno_seen |= line.starts_with("errno=");
        answer.push_str(&line);
        if errno_seen && line == "\n" {
            return Ok(answer);
        }
    }
}

/// A peer of the fake daemon: its key in hex and its endpoint.
type FakePeer = (String, Option<SocketAddr>);

/// A compliant userspace daemon that knows UAPI's peer lines: it answers `get=1` with
/// every peer and applies `set=1` endpoint lines (a `remove=true` followed by the same
/// key re-adds, which here only moves the endpoint).
#[derive(Clone)]
struct FakeDaemon {
    peers: Arc<Mutex<Vec<FakePeer>>>,
    handshake_sec: u64,
}

impl FakeDaemon {
    fn new(keys: &[PublicKey]) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            peers: Arc::new(Mutex::new(keys.iter().map(|k| (hex(k), None)).collect())),
            handshake_sec: now.as_secs() - 160,
        }
    }

    fn answer(self, request: &str) -> Result<String, Error> {
        let mut peers = self.peers.lock().map_err(|_| "a poisoned lock")?;
        if request.starts_with("get=1") {
            let mut answer = format!("private_key={}\nlisten_port=51820\n", "11".repeat(32));
            for (i, (key, endpoint)) in peers.iter().enumerate() {
                answer.push_str(&format!("public_key={key}\n"));
                if let Some(endpoint) = endpoint {
                    answer.push_str(&format!("endpoint={endpoint}\n"));
                }
                answer.push_str(&format!(
                    "persistent_keepalive_interval=25\nallowed_ip=10.100.{}.{}/32\n\
                     last_handshake_time_sec={}\nlast_handshake_time_nsec=0\n\
                     rx_bytes=0\ntx_bytes=0\nprotocol_version=1\n",
                    i / 250,
                    i % 250 + 1,
                    self.handshake_sec
                ));
            }
            answer.push_str("errno=0\n\n");
            return Ok(answer);
        }
        let mut current = None;
        for line in request.lines() {
            match line.split_once('=') {
                Some(("public_key", key)) => current = peers.iter().position(|(k, _)| k == key),
                Some(("endpoint", addr)) => {
                    if let Some(i) = current {
                        peers[i].1 = Some(addr.parse()?);
                    }
                }
                _ => {}
            }
        }
        Ok("errno=0\n\n".into())
    }
}

/// wireguard-go in a namespace of its own, with the peers configured; killed, with its
/// namespace and socket gone, when dropped.
struct WireguardGo {
    child: Child,
    ns: String,
    socket: PathBuf,
}

impl WireguardGo {
    fn start(iface: &str, keys: &[PublicKey]) -> Result<Option<Self>, Error> {
        let found = Command::new("wireguard-go")
            .arg("--version")
            .output()
            .is_ok();
        // Only root can make a namespace.
        let root = std::fs::read_to_string("/proc/self/status")?
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        if !found || !root {
            return Ok(None);
        }
        let ns = format!("pwbench{}", std::process::id());
        run(&["ip", "netns", "add", &ns])?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, "wireguard-go", "-f", iface])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let daemon = Self {
            child,
            ns,
            socket: Path::new(UapiBackend::DEFAULT_DIR).join(format!("{iface}.sock")),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while UnixStream::connect(&daemon.socket).is_err() {
            if Instant::now() > deadline {
                return Err("wireguard-go did not open its socket within 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut request = format!("set=1\nprivate_key={}\n", "18".repeat(32));
        for (i, key) in keys.iter().enumerate() {
            request.push_str(&format!(
                "public_key={}\nallowed_ip=10.100.{}.{}/32\n",
                hex(key),
                i / 250,
                i % 250 + 1
            ));
        }
        request.push('\n');
        let answer = forward(&request, &daemon.socket)?;
        if answer != "errno=0\n\n" {
            return Err(format!("wireguard-go refused the peers: {answer:?}").into());
        }
        Ok(Some(daemon))
    }
}

impl Drop for WireguardGo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

fn run(args: &[&str]) -> Result<(), Error> {
    let status = Command::new(args[0]).args(&args[1..]).status()?;
    if !status.success() {
        return Err(format!("{args:?} failed: {status}").into());
    }
    Ok(())
}

/// A distinct key per peer; wireguard-go takes any 32 bytes.
fn key(i: usize) -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[31] = 0x5a;
    PublicKey::from_bytes(bytes)
}

fn hex(key: &PublicKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Peer `i`'s endpoint in round `round`: a documentation address, a port per round.
fn endpoint(i: usize, round: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1);
    SocketAddr::new(
        IpAddr::V4(ip),
        20_000 + (i / 250 * 100 + round % 100) as u16,
    )
}

/// "1001", or "1000–1001" when passes differ.
fn spread(values: &[usize]) -> String {
    let (min, max) = (values.iter().min(), values.iter().max());
    match (min, max) {
        (Some(min), Some(max)) if min == max => min.to_string(),
        (Some(min), Some(max)) => format!("{min}–{max}"),
        _ => "none".into(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

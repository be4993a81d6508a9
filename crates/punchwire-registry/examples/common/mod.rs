//! What the registry's benchmarks share: a wireguard-go device with N peers in a private
//! network namespace, the registry serving it from a child process pinned to one CPU,
//! the peers' names, and dnsperf.
//!
//! `soak` uses it; `bench` still carries its own copy of these (it also drives boringtun
//! and Knot) and can include this module instead with `mod common;`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use punchwire_registry::{raise_open_file_limit, Registry, RegistryConfig};
use punchwire_wg::backend::UapiBackend;
use punchwire_wg::{Backend, PublicKey, SystemBackend};

pub const ZONE: &str = "example.com";
pub const REGISTRY_PORT: u16 = 5300;
pub const SERVER_CPU: &str = "1";
pub const LOAD_CPU: &str = "0";
/// wireguard-go's `MaxPeers` (1 << 16).
pub const WIREGUARD_GO_MAX_PEERS: usize = 1 << 16;

pub type Result<T> = std::result::Result<T, String>;

/// Everything one run creates, removed on drop (also when the run fails or is
/// interrupted: the caller turns Ctrl-C into an ordinary return).
pub struct Scene {
    pub ns: String,
    pub iface: String,
    pub dir: PathBuf,
    pub children: Vec<Child>,
}

impl Scene {
    /// A namespace with loopback up and a temp directory, both named after this process.
    pub fn new(name: &str) -> Result<Self> {
        let tag = format!("{:x}", std::process::id() & 0xffff);
        let scene = Scene {
            ns: format!("pw{name}{tag}"),
            iface: format!("pw{}{tag}", &name[..1]),
            dir: std::env::temp_dir().join(format!("pw{name}-{tag}")),
            children: Vec::new(),
        };
        std::fs::create_dir_all(&scene.dir).map_err(|e| e.to_string())?;
        run(Command::new("ip").args(["netns", "add", &scene.ns]))?;
        run(Command::new("ip").args(["-n", &scene.ns, "link", "set", "lo", "up"]))?;
        Ok(scene)
    }

    /// `argv` run to completion in the namespace.
    pub fn exec(&self, argv: &[&str]) -> Result<()> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(argv))
    }

    /// `argv` in the namespace, pinned to `cpu` (`ip netns exec` and `taskset` both exec,
    /// so the child's pid is the program's own).
    pub fn pinned(&self, cpu: &str, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "taskset", "-c", cpu])
            .arg(program);
        cmd
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for child in &mut self.children {
            stop(child);
        }
        // wireguard-go daemonizes and stops when its interface goes.
        let _ = Command::new("ip")
            .args(["-n", &self.ns, "link", "del", &self.iface])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.iface));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGINT (the registry shuts down cleanly on it), then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A wireguard-go device in the scene's namespace (pinned to the server's CPU) holding
/// `peers`, with an IPv4 address so that dnsperf's resolver (AI_ADDRCONFIG) accepts
/// 127.0.0.1.
pub fn build_device(scene: &Scene, peers: &[(PublicKey, String)]) -> Result<()> {
    scene.exec(&["taskset", "-c", SERVER_CPU, "wireguard-go", &scene.iface])?;
    let conf = scene.dir.join("wg.conf");
    std::fs::write(&conf, wg_conf(peers)).map_err(|e| e.to_string())?;
    scene.exec(&["wg", "setconf", &scene.iface, &conf.to_string_lossy()])?;
    scene.exec(&["ip", "addr", "add", "10.0.0.1/8", "dev", &scene.iface])?;
    scene.exec(&["ip", "link", "set", &scene.iface, "up"])
}

/// `n` peers with reproducible keys and endpoints in 198.51.100.0/24.
pub fn peers(n: usize) -> Vec<(PublicKey, String)> {
    (0..n).map(|i| (pseudo_key(i), endpoint(i))).collect()
}

/// Distinct, reproducible 32-byte keys (they need not be real Curve25519 keys: nobody
/// handshakes with them).
pub fn pseudo_key(i: usize) -> PublicKey {
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    PublicKey::from_bytes(bytes)
}

/// A 16-letter name that is the same on every run.
pub fn random_word(i: usize) -> String {
    pseudo_key(i).as_bytes()[..16]
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

fn endpoint(i: usize) -> String {
    format!("198.51.100.{}:{}", i % 250 + 1, 10_000 + i % 50_000)
}

fn tunnel_ip(i: usize) -> String {
    let i = i + 2;
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

fn wg_conf(peers: &[(PublicKey, String)]) -> String {
    // A fixed private key: only its public half matters to nobody here.
    let mut conf = String::from(
        "[Interface]\nPrivateKey = eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=\nListenPort = 0\n",
    );
    for (i, (key, endpoint)) in peers.iter().enumerate() {
        let _ = write!(
            conf,
            "[Peer]\nPublicKey = {key}\nEndpoint = {endpoint}\nAllowedIPs = {}/32\n",
            tunnel_ip(i)
        );
    }
    conf
}

/// Child mode: the registry alone in this process, one thread (pinned by the parent),
/// on 127.0.0.1:[`REGISTRY_PORT`], answering all of 127.0.0.0/8 with no per-source
/// response limit (the load generator asks from one address far faster than any peer).
/// Prints `ready` once serving; on SIGINT shuts down and prints `stats <RegistryStats>`.
pub fn serve(iface: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("punchwire_registry=info")
        .init();
    // As `punchwire registry` does at start.
    let _ = raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = RegistryConfig::new(ZONE.parse().expect("a zone"), iface);
        config.listen = vec![SocketAddr::from(([127, 0, 0, 1], REGISTRY_PORT))];
        config.allow = vec!["127.0.0.0/8".parse().expect("a range")];
        config.response_rate = None;
        // A read of tens of thousands of peers takes wireguard-go longer than the
        // default 2 s UAPI timeout.
        let userspace = UapiBackend::new().with_timeout(Duration::from_secs(30));
        let backend = Backend::new(SystemBackend::with_userspace(userspace))
            .with_deadline(Duration::from_secs(30));
        let registry = Registry::start(config, backend)
            .await
            .unwrap_or_else(|e| panic!("registry: {e}"));
        println!("ready");
        let _ = tokio::signal::ctrl_c().await;
        let stats = registry.stats();
        registry.shutdown().await;
        println!("stats {stats:?}");
    });
}

/// Starts `<this example> serve <iface>` in the namespace on the server CPU; returns its
/// stdout (past the `ready` line) once it serves. The child is the scene's last.
pub fn start_registry(scene: &mut Scene) -> Result<BufReader<ChildStdout>> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = scene
        .pinned(SERVER_CPU, &exe)
        .args(["serve", &scene.iface])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("registry: {e}"))?;
    let stdout = child.stdout.take();
    scene.children.push(child);
    let mut stdout = BufReader::new(stdout.ok_or("registry has no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() != "ready" {
        return Err(format!("registry did not start (said {line:?})"));
    }
    Ok(stdout)
}

/// Waits (up to a minute) for an SRV answer about `key`.
pub fn wait_answering(scene: &Scene, key: &PublicKey) -> Result<()> {
    let name = format!("{}._wireguard._udp.{ZONE}", key.to_dns_label());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &scene.ns, "dig", "@127.0.0.1", "-p"])
            .arg(REGISTRY_PORT.to_string())
            .args(["+short", "+time=1", "+tries=1", "SRV", &name])
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&out.stdout).starts_with("0 0 ") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "nothing answers SRV {name} on port {REGISTRY_PORT}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What dnsperf measured.
pub struct Load {
    pub qps: f64,
    pub avg_ms: f64,
    pub lost: f64,
}

/// dnsperf on the load CPU against the registry: `queries` (one `name TYPE` a line) for
/// `seconds`, as fast as answers come back (4 clients, 200 queries in flight).
pub fn dnsperf(scene: &Scene, queries: &Path, seconds: u64) -> Result<Load> {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns", "exec", &scene.ns, "taskset", "-c", LOAD_CPU, "dnsperf",
    ])
    .args(["-f", "inet", "-s", "127.0.0.1", "-p"])
    .arg(REGISTRY_PORT.to_string())
    .arg("-d")
    .arg(queries)
    .args([
        "-l",
        &seconds.to_string(),
        "-c",
        "4",
        "-q",
        "200",
        "-t",
        "2",
    ]);
    let out = cmd.output().map_err(|e| format!("dnsperf: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let qps = field("Queries per second")
        .filter(|&q| q > 0.0)
        .ok_or_else(|| {
            format!(
                "{cmd:?}: no answers; dnsperf said:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(Load {
        qps,
        avg_ms: field("Average Latency (s)").unwrap_or(f64::NAN) * 1000.0,
        lost: field("Queries lost").unwrap_or(0.0),
    })
}

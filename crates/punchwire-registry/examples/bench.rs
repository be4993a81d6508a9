//! Registry vs Knot DNS, side by side, on the same records (a benchmark, not a test).
//!
//! For each peer count N it builds a real userspace WireGuard device with N peers (`wg
//! setconf`) in a private network namespace, serves it with the registry, writes the same
//! SRV/A/TXT records as a zone file for Knot, and loads each server in turn with dnsperf,
//! twice: SRV queries for random existing peers (hits), then a miss mix (half hits, half
//! names that do not exist: unknown peers' SRV and random names' A, answered NXDOMAIN with
//! the SOA), the cheapest flood an attacker can send an authoritative server. Each server
//! and its device are pinned to CPU 1, dnsperf to CPU 0. Prints qps, latency and the
//! registry/Knot ratio for each.
//!
//!     cargo run --release -p punchwire-registry --example bench -- 1000 10000 65536
//!
//! The device is wireguard-go's, which holds at most 65,536 peers; `BENCH_WG=boringtun`
//! uses boringtun-cli instead, which takes more (see `device_cpu` for where it runs):
//!
//!     BENCH_WG=boringtun BENCH_DEVICE_CPU=0 cargo run --release -p punchwire-registry \
//!         --example bench -- 1000 100000
//!
//! Needs root, wireguard-go (or boringtun-cli), wg, knotd, dnsperf, taskset. Every run is
//! bounded in time and cleans up its namespace, device, Knot and temp files, also on
//! failure.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use punchwire_registry::{Registry, RegistryConfig};
use punchwire_wg::backend::UapiBackend;
use punchwire_wg::{Backend, PublicKey, SystemBackend};

const ZONE: &str = "example.com";
const REGISTRY_PORT: u16 = 5300;
const KNOT_PORT: u16 = 5301;
const SERVER_CPU: &str = "1";
const LOAD_CPU: &str = "0";
/// wireguard-go's `MaxPeers` (1 << 16): `wg setconf` with more dies of SIGPIPE when the
/// daemon hangs up at peer 65,537.
const WIREGUARD_GO_MAX_PEERS: usize = 1 << 16;

type Result<T> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1]);
        return;
    }
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let counts: Vec<usize> = if args.is_empty() {
        vec![1000, 10_000]
    } else {
        args.iter()
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|_| panic!("not a peer count: {a}"))
            })
            .collect()
    };
    let wg = match std::env::var("BENCH_WG").as_deref() {
        Err(_) | Ok("wireguard-go") => Wg::WireguardGo,
        Ok("boringtun") => Wg::Boringtun,
        Ok(other) => {
            eprintln!("BENCH_WG={other:?}: use wireguard-go (the default) or boringtun");
            std::process::exit(2);
        }
    };
    if let Some(n) = counts.iter().find(|&&n| n == 0) {
        eprintln!("cannot bench {n} peers: give at least one");
        std::process::exit(2);
    }
    if let Some(n) = counts
        .iter()
        .find(|&&n| wg == Wg::WireguardGo && n > WIREGUARD_GO_MAX_PEERS)
    {
        eprintln!(
            "cannot bench {n} peers: a wireguard-go device holds at most {WIREGUARD_GO_MAX_PEERS}; BENCH_WG=boringtun takes more"
        );
        std::process::exit(2);
    }
    let mut rows = Vec::new();
    for n in counts {
        match run_one(n, seconds, wg) {
            Ok(row) => {
                eprintln!(
                    "N={n}: registry {:.0} qps, knot {:.0} qps",
                    row.registry.qps, row.knot.qps
                );
                rows.push(row)
            }
            Err(e) => {
                eprintln!("bench N={n} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "\nSRV queries, {seconds} s each, server on CPU {SERVER_CPU}, dnsperf on CPU {LOAD_CPU}, device: {} on CPU {}",
        wg.name(),
        device_cpu()
    );
    println!(
        "{:>7} | {:>12} {:>10} | {:>12} {:>10} | {:>6} | {:>14} {:>14}",
        "peers",
        "registry qps",
        "avg ms",
        "knot qps",
        "avg ms",
        "ratio",
        "reg idle avg",
        "knot idle avg"
    );
    for r in &rows {
        println!(
            "{:>7} | {:>12.0} {:>10.3} | {:>12.0} {:>10.3} | {:>6.2} | {:>11.3} ms {:>11.3} ms",
            r.peers,
            r.registry.qps,
            r.registry.avg_ms,
            r.knot.qps,
            r.knot.avg_ms,
            r.registry.qps / r.knot.qps,
            r.registry_idle_ms,
            r.knot_idle_ms
        );
    }
    println!("\nMiss mix (half hits, half NXDOMAIN), {seconds} s each");
    println!(
        "{:>7} | {:>12} {:>10} | {:>12} {:>10} | {:>6} | {:>15}",
        "peers", "registry qps", "avg ms", "knot qps", "avg ms", "ratio", "vs its hits"
    );
    for r in &rows {
        println!(
            "{:>7} | {:>12.0} {:>10.3} | {:>12.0} {:>10.3} | {:>6.2} | {:>14.0}%",
            r.peers,
            r.registry_mix.qps,
            r.registry_mix.avg_ms,
            r.knot_mix.qps,
            r.knot_mix.avg_ms,
            r.registry_mix.qps / r.knot_mix.qps,
            100.0 * r.registry_mix.qps / r.registry.qps
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if rows.len() > 1 {
            println!(
                "registry qps at {} peers is {:.0}% of qps at {} peers",
                last.peers,
                100.0 * last.registry.qps / first.registry.qps,
                first.peers
            );
        }
    }
}

/// Child mode: the registry alone in this process, one thread (pinned by the parent).
fn serve(iface: &str) {
    // The registry's own word on how long reading the device takes (stderr, info).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("punchwire_registry=info")
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = RegistryConfig::new(ZONE.parse().expect("a zone"), iface);
        config.listen = vec![SocketAddr::from(([127, 0, 0, 1], REGISTRY_PORT))];
        config.allow = vec!["127.0.0.0/8".parse().unwrap()];
        // dnsperf asks from one address far faster than any peer: no per-source limit.
        config.response_rate = None;
        // BENCH_REFRESH_MS isolates the cost of reading the device (default: the real 1 s).
        if let Some(ms) = std::env::var("BENCH_REFRESH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            config.refresh = Duration::from_millis(ms);
        }
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
        registry.shutdown().await;
    });
}

/// The userspace WireGuard that holds the benchmark's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wg {
    WireguardGo,
    Boringtun,
}

impl Wg {
    fn name(self) -> &'static str {
        match self {
            Wg::WireguardGo => "wireguard-go",
            Wg::Boringtun => "boringtun-cli",
        }
    }
}

struct Load {
    qps: f64,
    avg_ms: f64,
}

struct Row {
    peers: usize,
    registry: Load,
    knot: Load,
    registry_idle_ms: f64,
    knot_idle_ms: f64,
    /// The miss mix (see `miss_mix`).
    registry_mix: Load,
    knot_mix: Load,
}

/// Everything one run creates, removed on drop (also when the run fails).
struct Scene {
    ns: String,
    iface: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Scene {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Gone already when its daemon (boringtun) was stopped above.
        let _ = Command::new("ip")
            .args(["-n", &self.ns, "link", "del", &self.iface])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.iface));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_one(n: usize, seconds: u64, wg: Wg) -> Result<Row> {
    let tag = format!("{:x}{n:x}", std::process::id() & 0xfff);
    let mut scene = Scene {
        ns: format!("pwbench{tag}"),
        iface: format!("pwb{tag}"),
        dir: std::env::temp_dir().join(format!("pwbench-{tag}")),
        children: Vec::new(),
    };
    std::fs::create_dir_all(&scene.dir).map_err(|e| e.to_string())?;
    run(Command::new("ip").args(["netns", "add", &scene.ns]))?;
    run(Command::new("ip").args(["-n", &scene.ns, "link", "set", "lo", "up"]))?;

    let peers: Vec<(PublicKey, String)> = (0..n).map(|i| (pseudo_key(i), endpoint(i))).collect();
    eprintln!("N={n}: building the {} device", wg.name());
    let started = Instant::now();
    start_device(&mut scene, wg)?;
    let conf = scene.dir.join("wg.conf");
    std::fs::write(&conf, wg_conf(&peers)).map_err(|e| e.to_string())?;
    in_ns(
        &scene,
        &["wg", "setconf", &scene.iface, &conf.to_string_lossy()],
    )?;
    // An IPv4 address on a non-loopback interface: without one, dnsperf's resolver
    // (AI_ADDRCONFIG) refuses even 127.0.0.1.
    in_ns(
        &scene,
        &["ip", "addr", "add", "10.0.0.1/8", "dev", &scene.iface],
    )?;
    in_ns(&scene, &["ip", "link", "set", &scene.iface, "up"])?;
    eprintln!("N={n}: device ready in {:?}", started.elapsed());
    let started = Instant::now();
    in_ns(&scene, &["wg", "show", &scene.iface, "dump"])?;
    eprintln!(
        "N={n}: one full read of the device (wg show dump) takes {:?}; the registry does one per refresh",
        started.elapsed()
    );

    let queries = scene.dir.join("queries.txt");
    std::fs::write(&queries, hits(&peers)).map_err(|e| e.to_string())?;
    let mix = scene.dir.join("miss-mix.txt");
    std::fs::write(&mix, miss_mix(&peers)).map_err(|e| e.to_string())?;

    // The registry, in a child process pinned to the server CPU.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &scene.ns, "taskset", "-c", SERVER_CPU])
        .arg(&exe)
        .args(["serve", &scene.iface])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("registry: {e}"))?;
    let ready = wait_ready(&mut child);
    scene.children.push(child);
    ready?;
    wait_answering(&scene, REGISTRY_PORT, &peers[0].0)?;
    let registry = dnsperf(&scene, REGISTRY_PORT, &queries, seconds, None)?;
    let registry_idle = dnsperf(&scene, REGISTRY_PORT, &queries, 3, Some(2000))?;
    let registry_mix = dnsperf(&scene, REGISTRY_PORT, &mix, seconds, None)?;
    if let Some(mut child) = scene.children.pop() {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }

    // Knot with the same records from a zone file.
    let knot_conf = knot_setup(&scene.dir, &peers)?;
    let knot = Command::new("ip")
        .args([
            "netns", "exec", &scene.ns, "taskset", "-a", "-c", SERVER_CPU, "knotd", "-c",
        ])
        .arg(&knot_conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("knotd: {e}"))?;
    scene.children.push(knot);
    wait_answering(&scene, KNOT_PORT, &peers[0].0)?;
    // Knot pins its UDP worker to CPU 0 by itself: move all of its threads back. (`ip
    // netns exec` and taskset exec, so the child's pid is knotd's.)
    if let Some(knot) = scene.children.last() {
        run(Command::new("taskset").args(["-a", "-p", "-c", SERVER_CPU, &knot.id().to_string()]))?;
    }
    let knot = dnsperf(&scene, KNOT_PORT, &queries, seconds, None)?;
    let knot_idle = dnsperf(&scene, KNOT_PORT, &queries, 3, Some(2000))?;
    let knot_mix = dnsperf(&scene, KNOT_PORT, &mix, seconds, None)?;

    Ok(Row {
        peers: n,
        registry,
        knot,
        registry_idle_ms: registry_idle.avg_ms,
        knot_idle_ms: knot_idle.avg_ms,
        registry_mix,
        knot_mix,
    })
}

/// The CPU the device runs on: the server's, unless `BENCH_DEVICE_CPU` says otherwise.
/// boringtun with 100,000 peers keeps ~40% of a core busy on its timers even when idle,
/// which takes that much from whichever server shares its core;
/// `BENCH_DEVICE_CPU=0` moves it beside dnsperf to see the server's own scaling.
fn device_cpu() -> String {
    std::env::var("BENCH_DEVICE_CPU").unwrap_or_else(|_| SERVER_CPU.to_owned())
}

/// Starts the userspace device and returns once its UAPI socket is there.
fn start_device(scene: &mut Scene, wg: Wg) -> Result<()> {
    match wg {
        // wireguard-go daemonizes, and is stopped by deleting its interface.
        Wg::WireguardGo => in_ns(
            scene,
            &["taskset", "-c", &device_cpu(), "wireguard-go", &scene.iface],
        ),
        Wg::Boringtun => {
            let child = Command::new("ip")
                .args(["netns", "exec", &scene.ns, "taskset", "-c", &device_cpu()])
                .args(["boringtun-cli", "--foreground", "--disable-drop-privileges"])
                .arg(&scene.iface)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("boringtun-cli: {e}"))?;
            scene.children.push(child);
            let socket = PathBuf::from(format!("/var/run/wireguard/{}.sock", scene.iface));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !socket.exists() {
                if Instant::now() > deadline {
                    return Err(format!("boringtun-cli made no {}", socket.display()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn in_ns(scene: &Scene, argv: &[&str]) -> Result<()> {
    run(Command::new("ip")
        .args(["netns", "exec", &scene.ns])
        .args(argv))
}

/// Distinct, reproducible 32-byte keys (they need not be real Curve25519 keys: nobody
/// handshakes with them).
fn pseudo_key(i: usize) -> PublicKey {
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
fn random_word(i: usize) -> String {
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

fn hits(peers: &[(PublicKey, String)]) -> String {
    // A fixed shuffle, so both servers get the same sequence.
    let mut out = String::new();
    let count = peers.len().min(100_000);
    for j in 0..count {
        let i = (j * 7919 + 13) % peers.len();
        let _ = writeln!(out, "{}", hit(peers, i));
    }
    out
}

fn hit(peers: &[(PublicKey, String)], i: usize) -> String {
    format!("{}._wireguard._udp.{ZONE} SRV", peers[i].0.to_dns_label())
}

/// Half hits, a quarter SRV for peers that do not exist, a quarter A for random names in
/// the zone: the same fixed sequence for both servers.
fn miss_mix(peers: &[(PublicKey, String)]) -> String {
    let mut out = String::new();
    let count = peers.len().clamp(10_000, 100_000);
    for j in 0..count {
        let i = (j * 7919 + 13) % peers.len();
        let line = match j % 4 {
            0 | 2 => hit(peers, i),
            // Keys past the device's peers: same shape, never published.
            1 => format!(
                "{}._wireguard._udp.{ZONE} SRV",
                pseudo_key(peers.len() + j).to_dns_label()
            ),
            _ => format!("{}.{ZONE} A", random_word(j)),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

fn knot_setup(dir: &Path, peers: &[(PublicKey, String)]) -> Result<PathBuf> {
    let mut zone = format!(
        "$ORIGIN {ZONE}.\n$TTL 0\n@ SOA ns1 postmaster 1 86400 7200 3600000 0\n@ NS ns1\nns1 A 127.0.0.1\n"
    );
    for (i, (key, endpoint)) in peers.iter().enumerate() {
        // Knot's zone parser needs '=' escaped in owner names.
        let label = key.to_dns_label().replace('=', "\\=");
        let (ip, port) = endpoint.rsplit_once(':').unwrap_or((endpoint, "0"));
        let name = format!("{label}._wireguard._udp");
        let _ = writeln!(zone, "{name} SRV 0 0 {port} {name}");
        let _ = writeln!(zone, "{name} A {ip}");
        let _ = writeln!(
            zone,
            "{name} TXT \"txtvers=1\" \"pub={}\" \"allowed={}/32\"",
            key.to_base64(),
            tunnel_ip(i)
        );
    }
    let zone_file = dir.join("example.com.zone");
    std::fs::write(&zone_file, zone).map_err(|e| e.to_string())?;
    let conf = format!(
        "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{KNOT_PORT}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         database:\n  storage: \"{d}\"\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n\
         zone:\n  - domain: {ZONE}\n    file: \"{z}\"\n",
        d = dir.display(),
        z = zone_file.display()
    );
    let path = dir.join("knot.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    Ok(path)
}

fn wait_ready(child: &mut Child) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().ok_or("registry has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.trim() == "ready" {
        Ok(())
    } else {
        Err(format!("registry did not start (said {line:?})"))
    }
}

/// Waits (up to a minute: a big zone takes Knot a while to load) for an SRV answer.
fn wait_answering(scene: &Scene, port: u16, key: &PublicKey) -> Result<()> {
    let name = format!("{}._wireguard._udp.{ZONE}", key.to_dns_label());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &scene.ns, "dig", "@127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["+short", "+time=1", "+tries=1", "SRV", &name])
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&out.stdout).starts_with("0 0 ") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing answers SRV {name} on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dnsperf(
    scene: &Scene,
    port: u16,
    queries: &Path,
    seconds: u64,
    max_qps: Option<u32>,
) -> Result<Load> {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns", "exec", &scene.ns, "taskset", "-c", LOAD_CPU, "dnsperf",
    ])
    .args([
        "-f",
        "inet",
        "-s",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-d",
    ])
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
    if let Some(q) = max_qps {
        cmd.args(["-Q", &q.to_string()]);
    }
    let out = cmd.output().map_err(|e| format!("dnsperf: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let qps = field("Queries per second").ok_or_else(|| {
        format!(
            "{cmd:?}: dnsperf said:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let avg = field("Average Latency (s)").unwrap_or(f64::NAN);
    if qps == 0.0 {
        return Err(format!(
            "no answers on port {port}; dnsperf said:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lost = field("Queries lost").unwrap_or(0.0);
    if lost > 0.0 {
        eprintln!("  (port {port}: {lost} queries lost)");
    }
    Ok(Load {
        qps,
        avg_ms: avg * 1000.0,
    })
}

//! Interop: `punchwire client --once` against Knot DNS serving a static wgsd-layout zone,
//! steering a real userspace WireGuard device (wireguard-go), checked with `wg show`.
//!
//! Needs root (network namespace, TUN device). Without root it skips loudly, unless
//! CI=true, where skipping would hide a broken setup and so it fails.

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use punchwire_wg::PublicKey;

const ZONE: &str = "example.test";
/// A second zone on the same server: an SRV target there is not in the additional
/// section, so the client has to ask for its address.
const HOSTS_ZONE: &str = "hosts.test";

#[test]
fn once_sets_exactly_the_published_endpoints_on_wireguard_go() {
    if !can_run() {
        return;
    }
    let tag = tag();
    let dir = TempDir::new(&format!("punchwire-client-knot-{tag}"));
    let device = WireGuardGo::start(&tag);

    let registry = Key::generate();
    let new_layout = Key::generate();
    let old_layout = Key::generate();
    let elsewhere = Key::generate();
    let unpublished = Key::generate();
    let port_zero = Key::generate();
    let in_tunnel = Key::generate();

    // The registry peer is the one whose AllowedIPs hold the DNS server's address.
    device.wg(&[
        "set",
        &device.iface,
        "peer",
        &registry.b64,
        "allowed-ips",
        "127.0.0.1/32",
        "endpoint",
        "192.0.2.1:51820",
    ]);
    for (n, key) in [
        &new_layout,
        &old_layout,
        &elsewhere,
        &unpublished,
        &port_zero,
        &in_tunnel,
    ]
    .into_iter()
    .enumerate()
    {
        let allowed = format!("10.77.0.{}/32", n + 2);
        device.wg(&[
            "set",
            &device.iface,
            "peer",
            &key.b64,
            "allowed-ips",
            &allowed,
        ]);
    }

    let zone = format!(
        "$ORIGIN {ZONE}.\n$TTL 60\n\
         @ SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 60\n\
         @ NS ns\n\
         ns A 127.0.0.1\n\
         ; the registry publishes itself too; the client must leave it alone\n\
         {reg}._wireguard._udp SRV 0 0 51820 {reg}._wireguard._udp\n\
         {reg}._wireguard._udp A 203.0.113.1\n\
         ; new wgsd: the SRV target is the instance name\n\
         _wireguard._udp PTR {new}._wireguard._udp\n\
         {new}._wireguard._udp SRV 0 0 51001 {new}._wireguard._udp\n\
         {new}._wireguard._udp A 198.51.100.11\n\
         {new}._wireguard._udp TXT \"txtvers=1\" \"pub={new_b64}\"\n\
         ; old wgsd: the SRV target is <b32>.<zone>, upper case as wgsd wrote it\n\
         {old_upper}._wireguard._udp SRV 0 0 51002 {old_upper}\n\
         {old_upper} AAAA 2001:db8::12\n\
         ; a target in another zone: no additional record, a further query\n\
         {far}._wireguard._udp SRV 0 0 51003 far.{HOSTS_ZONE}.\n\
         ; unusable answers\n\
         {zero}._wireguard._udp SRV 0 0 0 {zero}._wireguard._udp\n\
         {zero}._wireguard._udp A 198.51.100.14\n\
         {tun}._wireguard._udp SRV 0 0 51005 {tun}._wireguard._udp\n\
         {tun}._wireguard._udp A 10.77.0.3\n",
        reg = registry.knot_label(),
        new = new_layout.knot_label(),
        new_b64 = new_layout.b64,
        old_upper = old_layout.knot_label().to_ascii_uppercase(),
        far = elsewhere.knot_label(),
        zero = port_zero.knot_label(),
        tun = in_tunnel.knot_label(),
    );
    let hosts = format!(
        "$ORIGIN {HOSTS_ZONE}.\n$TTL 60\n\
         @ SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 60\n\
         @ NS ns.{ZONE}.\n\
         far A 203.0.113.13\n"
    );
    let knot = Knot::start(&dir.path, &[(ZONE, &zone), (HOSTS_ZONE, &hosts)]);

    let out = Command::new(env!("CARGO_BIN_EXE_punchwire"))
        .args([
            "client",
            "--device",
            &device.iface,
            "--zone",
            ZONE,
            "--once",
        ])
        .args(["--dns", &knot.addr])
        .output()
        .expect("running punchwire client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let trail = format!(
        "punchwire client --once:\n{stdout}\nstderr:\n{}\nwg show:\n{}",
        String::from_utf8_lossy(&out.stderr),
        device.wg(&["show", &device.iface]),
    );
    assert!(out.status.success(), "exit {:?}\n{trail}", out.status);

    let line = |key: &Key| {
        stdout
            .lines()
            .find(|l| l.starts_with(&key.b64))
            .unwrap_or_else(|| panic!("no line for {}\n{trail}", key.b64))
            .to_owned()
    };
    assert_eq!(
        line(&registry),
        format!("{} 192.0.2.1:51820 registry-peer", registry.b64),
        "\n{trail}"
    );
    assert_eq!(
        line(&new_layout),
        format!("{} 198.51.100.11:51001 set", new_layout.b64),
        "\n{trail}"
    );
    assert_eq!(
        line(&old_layout),
        format!("{} [2001:db8::12]:51002 set", old_layout.b64),
        "\n{trail}"
    );
    assert_eq!(
        line(&elsewhere),
        format!("{} 203.0.113.13:51003 set", elsewhere.b64),
        "\n{trail}"
    );
    assert_eq!(
        line(&unpublished),
        format!("{} - no-record", unpublished.b64),
        "\n{trail}"
    );
    assert_eq!(
        line(&port_zero),
        format!(
            "{} - rejected: 198.51.100.14:0: port 0 is not a reachable port",
            port_zero.b64
        ),
        "\n{trail}"
    );
    assert_eq!(
        line(&in_tunnel),
        format!(
            "{} - rejected: 10.77.0.3 is inside this device's tunnel range 10.77.0.3/32",
            in_tunnel.b64
        ),
        "\n{trail}"
    );

    // What WireGuard itself says: exactly these endpoints, nothing else touched.
    let endpoints = device.wg(&["show", &device.iface, "endpoints"]);
    let mut got: Vec<String> = endpoints.lines().map(str::to_owned).collect();
    got.sort();
    let mut want: Vec<String> = [
        (&registry, "192.0.2.1:51820"),
        (&new_layout, "198.51.100.11:51001"),
        (&old_layout, "[2001:db8::12]:51002"),
        (&elsewhere, "203.0.113.13:51003"),
        (&unpublished, "(none)"),
        (&port_zero, "(none)"),
        (&in_tunnel, "(none)"),
    ]
    .iter()
    .map(|(k, e)| format!("{}\t{e}", k.b64))
    .collect();
    want.sort();
    assert_eq!(got, want, "\n{trail}");
    let allowed = device.wg(&["show", &device.iface, "allowed-ips"]);
    assert!(
        allowed.contains(&format!("{}\t127.0.0.1/32", registry.b64))
            && allowed.contains(&format!("{}\t10.77.0.2/32", new_layout.b64)),
        "allowed IPs changed:\n{allowed}"
    );

    // A second pass finds nothing to do.
    let out = Command::new(env!("CARGO_BIN_EXE_punchwire"))
        .args([
            "client",
            "--device",
            &device.iface,
            "--zone",
            ZONE,
            "--once",
        ])
        .args(["--dns", &knot.addr])
        .output()
        .expect("running punchwire client");
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{again}");
    assert!(
        again.contains(&format!("{} 198.51.100.11:51001 unchanged", new_layout.b64)),
        "{again}"
    );
}

#[test]
fn once_fails_and_clears_nothing_when_the_registry_does_not_answer() {
    if !can_run() {
        return;
    }
    let device = WireGuardGo::start(&tag());
    let peer = Key::generate();
    device.wg(&[
        "set",
        &device.iface,
        "peer",
        &peer.b64,
        "allowed-ips",
        "10.77.0.2/32",
        "endpoint",
        "198.51.100.2:1111",
    ]);
    // A port nobody listens on: each question times out.
    let silent = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_punchwire"))
        .args([
            "client",
            "--device",
            &device.iface,
            "--zone",
            ZONE,
            "--once",
        ])
        .args([
            "--dns",
            &format!("127.0.0.1:{silent}"),
            "--timeout",
            "300ms",
        ])
        .output()
        .expect("running punchwire client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.trim(),
        format!("{} 198.51.100.2:1111 registry-unreachable", peer.b64)
    );
    assert_eq!(
        device.wg(&["show", &device.iface, "endpoints"]).trim(),
        format!("{}\t198.51.100.2:1111", peer.b64)
    );
}

#[test]
fn a_registry_outside_the_tunnel_is_refused_unless_allowed() {
    if !can_run() {
        return;
    }
    let device = WireGuardGo::start(&tag());
    let peer = Key::generate();
    device.wg(&[
        "set",
        &device.iface,
        "peer",
        &peer.b64,
        "allowed-ips",
        "10.77.0.2/32",
        "endpoint",
        "198.51.100.2:1111",
    ]);
    // TEST-NET-3, which no peer routes: the queries would leave the tunnel.
    let client = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_punchwire"))
            .args([
                "client",
                "--device",
                &device.iface,
                "--zone",
                ZONE,
                "--once",
            ])
            .args(["--dns", "203.0.113.53:53", "--timeout", "300ms"])
            .args(extra)
            .output()
            .expect("running punchwire client")
    };
    let out = client(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
    let outside = format!(
        "registry 203.0.113.53:53 is outside the tunnel of {}",
        device.iface
    );
    for part in [
        outside.as_str(),
        "unauthenticated",
        "--allow-registry-outside-tunnel",
    ] {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }

    // Allowed: it is asked, and the pass reports on the peer (whatever, if anything,
    // answers at that address: the endpoint stays, as no record for the peer is there).
    let out = client(&["--allow-registry-outside-tunnel"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.starts_with(&format!("{} 198.51.100.2:1111 ", peer.b64)),
        "{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("outside the tunnel"), "{stderr}");
}

#[test]
fn running_follows_the_zone_serial_and_stops_on_sigterm() {
    if !can_run() {
        return;
    }
    let tag = tag();
    let dir = TempDir::new(&format!("punchwire-client-run-{tag}"));
    let device = WireGuardGo::start(&tag);
    let peer = Key::generate();
    device.wg(&[
        "set",
        &device.iface,
        "peer",
        &peer.b64,
        "allowed-ips",
        "10.77.0.2/32",
    ]);
    let zone = |serial: u32, port: u16| {
        format!(
            "$ORIGIN {ZONE}.\n$TTL 60\n\
             @ SOA ns.{ZONE}. admin.{ZONE}. {serial} 3600 600 86400 60\n\
             @ NS ns\n\
             ns A 127.0.0.1\n\
             {p}._wireguard._udp SRV 0 0 {port} {p}._wireguard._udp\n\
             {p}._wireguard._udp A 198.51.100.21\n",
            p = peer.knot_label(),
        )
    };
    let knot = Knot::start(&dir.path, &[(ZONE, &zone(1, 51001))]);
    let endpoint = || device.wg(&["show", &device.iface, "endpoints"]);

    // Only the SOA poll can notice the change: the full interval is an hour.
    let mut client = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_punchwire"))
            .args(["client", "--device", &device.iface, "--zone", ZONE])
            .args(["--dns", &knot.addr, "--poll", "200ms", "--interval", "1h"])
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path.join("client.log")).unwrap())
            .spawn()
            .expect("starting punchwire client"),
    );
    let first = format!("{}\t198.51.100.21:51001", peer.b64);
    wait_until("the first endpoint", Duration::from_secs(10), || {
        endpoint().trim() == first
    });

    knot.replace_zone(ZONE, &zone(2, 51002));
    let changed = Instant::now();
    let second = format!("{}\t198.51.100.21:51002", peer.b64);
    wait_until("the moved endpoint", Duration::from_secs(5), || {
        endpoint().trim() == second
    });
    eprintln!("serial change to endpoint set: {:?}", changed.elapsed());

    run(Command::new("kill").args(["-TERM", &client.0.id().to_string()]));
    let status = wait_for_exit(&mut client.0, Duration::from_secs(5));
    let log = fs::read_to_string(dir.path.join("client.log")).unwrap_or_default();
    assert!(
        status.success(),
        "exit {status:?} after SIGTERM; log:\n{log}"
    );
    assert!(
        log.contains("198.51.100.21:51002"),
        "the change is logged:\n{log}"
    );
}

/// Kills the child if the test ends before it does.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < deadline,
            "still running after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this machine can run the test: root, Knot, wireguard-go and wg.
fn can_run() -> bool {
    let tools = ["/usr/sbin/knotd", "/usr/bin/wireguard-go", "/usr/bin/wg"]
        .iter()
        .all(|t| Path::new(t).exists());
    let missing =
        punchwire_testkit::missing_root("a network namespace and a TUN device").or_else(|| {
            (!tools).then(|| {
                "knotd, wireguard-go and wg (apt-get install knot wireguard-go wireguard-tools)"
                    .to_owned()
            })
        });
    punchwire_testkit::can_run("the Knot interop test", missing)
}

/// A short tag unique to this process and moment: names must not collide with other
/// test runs on the machine (the UAPI socket directory is shared across namespaces).
fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mixed = (std::process::id() as u64).wrapping_mul(2_654_435_761) ^ u64::from(nanos);
    format!("{:06x}", mixed & 0xff_ffff)
}

fn free_port() -> u16 {
    // Tests run in parallel and each lets go of its port before Knot (or nobody, for
    // the silent registry) takes it: without this record two tests could be handed the
    // same port, and one would talk to the other's Knot.
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    // Free for both UDP and TCP, since Knot listens on both.
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < deadline,
            "{what} not ready after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Key {
    b64: String,
}

impl Key {
    fn generate() -> Self {
        let private = run(Command::new("wg").arg("genkey"));
        let mut child = Command::new("wg")
            .arg("pubkey")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(private.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Self {
            b64: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }

    /// The label as a Knot zone file needs it: `=` escaped.
    fn knot_label(&self) -> String {
        let key: PublicKey = self.b64.parse().unwrap();
        key.to_dns_label().replace('=', "\\=")
    }
}

struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).unwrap();
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// wireguard-go in a namespace of its own, so that its TUN device touches nothing else.
struct WireGuardGo {
    iface: String,
    netns: String,
    child: Option<Child>,
}

impl WireGuardGo {
    fn start(tag: &str) -> Self {
        let netns = format!("pwtest-{tag}");
        run(Command::new("ip").args(["netns", "add", &netns]));
        let mut guard = Self {
            iface: format!("pwtd{tag}"),
            netns,
            child: None,
        };
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &guard.netns,
                "wireguard-go",
                "-f",
                &guard.iface,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting wireguard-go");
        guard.child = Some(child);
        let socket = PathBuf::from(format!("/var/run/wireguard/{}.sock", guard.iface));
        wait_until(
            "wireguard-go's UAPI socket",
            Duration::from_secs(10),
            || {
                socket.exists()
                    && Command::new("wg")
                        .args(["show", &guard.iface])
                        .output()
                        .is_ok_and(|o| o.status.success())
            },
        );
        guard
    }

    fn wg(&self, args: &[&str]) -> String {
        run(Command::new("wg").args(args))
    }
}

impl Drop for WireGuardGo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `ip netns exec` waits on wireguard-go, which is its child; should it survive,
        // removing its socket makes it exit, and deleting the namespace takes the TUN.
        let _ = fs::remove_file(format!("/var/run/wireguard/{}.sock", self.iface));
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.netns])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").arg(pid).status();
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// knotd with its own configuration, run directory and zones, in the foreground.
struct Knot {
    addr: String,
    dir: PathBuf,
    child: Child,
}

impl Knot {
    fn start(dir: &Path, zones: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut zone_conf = String::new();
        for (name, text) in zones {
            fs::write(dir.join(format!("{name}.zone")), text).unwrap();
            zone_conf.push_str(&format!("  - domain: {name}\n"));
        }
        let conf = format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  \
             udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
             database:\n  storage: \"{d}\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n\
             zone:\n{zone_conf}",
            d = dir.display()
        );
        let conf_path = dir.join("knot.conf");
        fs::write(&conf_path, conf).unwrap();
        let log = fs::File::create(dir.join("knotd.log")).unwrap();
        let child = Command::new("/usr/sbin/knotd")
            .arg("-c")
            .arg(&conf_path)
            .arg("-s")
            .arg(dir.join("knot.sock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting knotd");
        let knot = Self {
            addr: format!("127.0.0.1:{port}"),
            dir: dir.to_owned(),
            child,
        };
        let log_path = dir.join("knotd.log");
        for (name, _) in zones {
            wait_until(
                &format!("knotd serving {name}"),
                Duration::from_secs(10),
                || {
                    let out = Command::new("dig")
                        .args(["+short", "+time=1", "+tries=1", "-p", &port.to_string()])
                        .args(["@127.0.0.1", name, "SOA"])
                        .output()
                        .unwrap();
                    let ok = !out.stdout.is_empty();
                    if !ok {
                        let log = fs::read_to_string(&log_path).unwrap_or_default();
                        assert!(!log.contains("error"), "knotd failed:\n{log}");
                    }
                    ok
                },
            );
        }
        knot
    }
}

impl Knot {
    /// Replaces a zone's file and waits until Knot serves the new version.
    fn replace_zone(&self, name: &str, text: &str) {
        fs::write(self.dir.join(format!("{name}.zone")), text).unwrap();
        run(Command::new("/usr/sbin/knotc")
            .arg("-c")
            .arg(self.dir.join("knot.conf"))
            .arg("-s")
            .arg(self.dir.join("knot.sock"))
            .args(["-b", "zone-reload", name]));
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

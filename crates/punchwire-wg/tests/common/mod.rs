//! Real userspace WireGuard daemons in network namespaces that a test creates and
//! removes again (even when it panics): the ground the backend tests stand on.
//!
//! The UAPI socket directory `/var/run/wireguard` is shared by every namespace, so
//! every interface name carries a tag unique to this process and call.
#![allow(dead_code)] // each test binary uses a different part

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use punchwire_wg::{PublicKey, UapiBackend, WireGuard};

/// The userspace implementations the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    WireguardGo,
    Boringtun,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::WireguardGo => 'g',
            Kind::Boringtun => 'b',
        }
    }

    fn binary_name(self) -> &'static str {
        match self {
            Kind::WireguardGo => "wireguard-go",
            Kind::Boringtun => "boringtun-cli",
        }
    }

    fn binary(self) -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        dirs.push("/usr/bin".into());
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".cargo/bin"));
        }
        dirs.push("/root/.cargo/bin".into());
        dirs.into_iter()
            .map(|d| d.join(self.binary_name()))
            .find(|p| p.is_file())
    }

    fn command(self, binary: &Path, iface: &str) -> Vec<String> {
        let mut args = vec![binary.display().to_string()];
        match self {
            Kind::WireguardGo => args.push("-f".into()),
            // Without a login tty boringtun fails to drop privileges and exits.
            Kind::Boringtun => {
                args.extend(["--foreground".into(), "--disable-drop-privileges".into()])
            }
        }
        args.push(iface.into());
        args
    }
}

/// Whether this test can run: root and the daemon's binary (see `punchwire_testkit::can_run`).
pub fn require(kind: Kind) -> Option<PathBuf> {
    let binary = kind.binary();
    let missing =
        punchwire_testkit::missing_root("network namespaces and TUN devices").or_else(|| {
            binary.is_none().then(|| {
                format!(
                    "{} (not found on PATH or in ~/.cargo/bin)",
                    kind.binary_name()
                )
            })
        });
    if !punchwire_testkit::can_run(kind.binary_name(), missing) {
        return None;
    }
    binary
}

/// A tag unique to this process and call, short enough for a 15-character
/// interface name: `pw` + kind + tag stays below 12.
pub fn tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:x}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command to completion; panics with its stderr if it fails.
pub fn run(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits for `condition`, failing with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = format!("pwtest-{tag}");
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> …`
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `ip netns exec <ns> …`
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Whether one ping to `addr` from inside the namespace gets an answer.
    pub fn ping(&self, addr: &str) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.name, "ping", "-c1", "-W1", "-q", addr,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A key pair made by `wg`, the private half in a file for `wg set`.
pub struct Keys {
    pub file: tempfile::NamedTempFile,
    pub public: PublicKey,
}

impl Keys {
    pub fn generate() -> Self {
        let private = run(&["wg", "genkey"]);
        Self::from_private(private.trim())
    }

    pub fn from_private(private: &str) -> Self {
        let file = secret_file(private);
        let public = run_with_input(&["wg", "pubkey"], private);
        Self {
            file,
            public: public.trim().parse().expect("wg pubkey prints a key"),
        }
    }

    pub fn path(&self) -> &str {
        self.file.path().to_str().unwrap()
    }
}

/// A preshared key from `wg genpsk`, in a file for `wg set`.
pub fn preshared_key() -> (tempfile::NamedTempFile, String) {
    let psk = run(&["wg", "genpsk"]).trim().to_owned();
    (secret_file(&psk), psk)
}

fn secret_file(content: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{content}").unwrap();
    file
}

fn run_with_input(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{args:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A userspace WireGuard daemon serving one interface in a namespace. Dropping it
/// kills it by PID and removes its socket.
pub struct Daemon {
    pub kind: Kind,
    pub iface: String,
    pub ns: String,
    pub socket: PathBuf,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Starts the daemon and waits until its UAPI socket answers.
    pub fn start(kind: Kind, binary: &Path, ns: &Netns, iface: &str) -> Self {
        assert!(iface.len() <= 15, "interface name {iface:?} is too long");
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut args = vec!["netns".to_owned(), "exec".into(), ns.name.clone()];
        args.extend(kind.command(binary, iface));
        // `ip netns exec` execs the daemon in place, so the child's PID is the daemon's.
        let child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(File::create(log.path()).unwrap()))
            .stderr(Stdio::from(File::create(log.path()).unwrap()))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        let mut daemon = Self {
            kind,
            iface: iface.to_owned(),
            ns: ns.name.clone(),
            socket: UapiBackend::new().socket_path(iface),
            child,
            log,
        };
        let uapi = UapiBackend::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while uapi.device(iface).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("{kind:?} for {iface} exited ({status}): {}", daemon.log());
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?} for {iface} did not answer on {} within 15 s: {}",
                daemon.socket.display(),
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ns.ip(&["link", "set", iface, "mtu", "1420", "up"]);
        daemon
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `wg <args…>` inside the daemon's namespace.
    pub fn wg(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.ns, "wg"];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The peer lines of `wg show <iface> dump`, keyed by peer.
    pub fn dump(&self) -> Vec<DumpPeer> {
        self.wg(&["show", &self.iface, "dump"])
            .lines()
            .skip(1)
            .map(DumpPeer::parse)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One peer line of `wg show <iface> dump`, as wg-tools reads it over UAPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpPeer {
    pub public_key: String,
    pub preshared_key: String,
    pub endpoint: String,
    /// Sorted: implementations list them in different orders.
    pub allowed_ips: Vec<String>,
    pub latest_handshake: u64,
    pub keepalive: String,
}

impl DumpPeer {
    fn parse(line: &str) -> Self {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 8, "unexpected wg dump line {line:?}");
        let mut allowed_ips: Vec<String> = f[3].split(',').map(str::to_owned).collect();
        allowed_ips.sort();
        Self {
            public_key: f[0].into(),
            preshared_key: f[1].into(),
            endpoint: f[2].into(),
            allowed_ips,
            latest_handshake: f[4].parse().unwrap(),
            keepalive: f[7].into(),
        }
    }
}

/// Two namespaces joined by a veth pair (`192.0.2.1` ↔ `192.0.2.2`), a daemon of `kind` in each, configured as
/// each other's peer with a preshared key; the left side also routes `10.98.0.0/16`
/// to the right and keeps the tunnel alive every 25 s.
///
/// Fields drop in order: daemons before their namespaces.
pub struct Pair {
    pub left: Daemon,
    pub right: Daemon,
    pub left_keys: Keys,
    pub right_keys: Keys,
    pub psk: String,
    _psk_file: tempfile::NamedTempFile,
    pub left_ns: Netns,
    pub right_ns: Netns,
}

pub const LEFT_TUNNEL: &str = "10.99.0.1";
pub const RIGHT_TUNNEL: &str = "10.99.0.2";
pub const RIGHT_PUBLIC: &str = "192.0.2.2:51820";
/// On the link, but nobody there.
pub const NOWHERE: &str = "192.0.2.99:51820";

impl Pair {
    pub fn new(kind: Kind, binary: &Path) -> Self {
        let t = tag();
        let left_ns = Netns::new(&format!("{t}l"));
        let right_ns = Netns::new(&format!("{t}r"));
        left_ns.ip(&[
            "link",
            "add",
            "veth-l",
            "type",
            "veth",
            "peer",
            "name",
            "veth-r",
            "netns",
            &right_ns.name,
        ]);
        left_ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "veth-l"]);
        left_ns.ip(&["link", "set", "veth-l", "up"]);
        right_ns.ip(&["addr", "add", "192.0.2.2/24", "dev", "veth-r"]);
        right_ns.ip(&["link", "set", "veth-r", "up"]);

        let letter = kind.letter();
        let left = Daemon::start(kind, binary, &left_ns, &format!("pw{letter}{t}l"));
        let right = Daemon::start(kind, binary, &right_ns, &format!("pw{letter}{t}r"));
        let left_keys = Keys::generate();
        let right_keys = Keys::generate();
        let (psk_file, psk) = preshared_key();
        let psk_path = psk_file.path().to_str().unwrap().to_owned();

        left.wg(&[
            "set",
            &left.iface,
            "private-key",
            left_keys.path(),
            "listen-port",
            "51820",
            "peer",
            &right_keys.public.to_base64(),
            "preshared-key",
            &psk_path,
            "allowed-ips",
            "10.99.0.2/32,10.98.0.0/16",
            "persistent-keepalive",
            "25",
            "endpoint",
            RIGHT_PUBLIC,
        ]);
        right.wg(&[
            "set",
            &right.iface,
            "private-key",
            right_keys.path(),
            "listen-port",
            "51820",
            "peer",
            &left_keys.public.to_base64(),
            "preshared-key",
            &psk_path,
            "allowed-ips",
            "10.99.0.1/32",
            "endpoint",
            "192.0.2.1:51820",
        ]);
        left_ns.ip(&[
            "addr",
            "add",
            &format!("{LEFT_TUNNEL}/24"),
            "dev",
            &left.iface,
        ]);
        right_ns.ip(&[
            "addr",
            "add",
            &format!("{RIGHT_TUNNEL}/24"),
            "dev",
            &right.iface,
        ]);

        Self {
            left,
            right,
            left_keys,
            right_keys,
            psk,
            _psk_file: psk_file,
            left_ns,
            right_ns,
        }
    }

    /// Pings through the tunnel until an answer comes back, which takes a handshake.
    pub fn ping_through_tunnel(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.left_ns.ping(RIGHT_TUNNEL) {
            assert!(
                Instant::now() < deadline,
                "no ping from {} to {RIGHT_TUNNEL} through the tunnel within 20 s\n{}",
                self.left.iface,
                self.trail()
            );
        }
    }

    /// What each side holds and logged, for a failing test's trail.
    pub fn trail(&self) -> String {
        let show = |d: &Daemon| {
            Command::new("ip")
                .args(["netns", "exec", &d.ns, "wg", "show", &d.iface])
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_else(|e| e.to_string())
        };
        format!(
            "--- wg show {}:\n{}--- log:\n{}\n--- wg show {}:\n{}--- log:\n{}",
            self.left.iface,
            show(&self.left),
            self.left.log(),
            self.right.iface,
            show(&self.right),
            self.right.log()
        )
    }
}

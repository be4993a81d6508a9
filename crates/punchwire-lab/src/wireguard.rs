//! Userspace WireGuard in a namespace: which implementation, starting and stopping its
//! daemon, keys, and the `wg set` requests that configure it.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use punchwire_wg::PublicKey;

use crate::command::{self, place};
use crate::error::{LabError, Result};

/// The environment variable that picks the implementation: `wireguard-go` (default) or
/// `boringtun`.
pub const WG_IMPL_ENV: &str = "PUNCHWIRE_LAB_WG";
/// Overrides where `boringtun-cli` is looked for.
pub const BORINGTUN_ENV: &str = "PUNCHWIRE_LAB_BORINGTUN";

/// Where every userspace implementation puts its UAPI socket. One directory for all
/// namespaces, hence interface names unique across labs.
pub const SOCKET_DIR: &str = "/var/run/wireguard";

/// The MTU of every tunnel device.
pub const MTU: u16 = 1420;

/// Which userspace WireGuard runs in the lab's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WgImpl {
    #[default]
    WireguardGo,
    /// boringtun-cli 0.7.1. Modifying an existing peer panics its event loop, so the lab
    /// changes a peer by removing and re-adding it in two requests.
    Boringtun,
}

impl WgImpl {
    /// The implementation named by `PUNCHWIRE_LAB_WG`, wireguard-go when unset.
    pub fn from_env() -> Result<Self> {
        match std::env::var(WG_IMPL_ENV) {
            Err(_) => Ok(Self::default()),
            Ok(v) => v.parse(),
        }
    }

    /// The daemon's command line for `iface`, in the foreground.
    fn daemon_args(self, iface: &str) -> Vec<String> {
        match self {
            WgImpl::WireguardGo => vec!["wireguard-go".into(), "-f".into(), iface.into()],
            WgImpl::Boringtun => vec![
                boringtun_path(),
                "--foreground".into(),
                "--disable-drop-privileges".into(),
                iface.into(),
            ],
        }
    }
}

impl std::str::FromStr for WgImpl {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "" | "wireguard-go" => Ok(WgImpl::WireguardGo),
            "boringtun" => Ok(WgImpl::Boringtun),
            other => Err(LabError::Usage(format!(
                "{WG_IMPL_ENV}={other:?} names no WireGuard implementation the lab knows; \
                 use \"wireguard-go\" or \"boringtun\""
            ))),
        }
    }
}

impl fmt::Display for WgImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WgImpl::WireguardGo => "wireguard-go",
            WgImpl::Boringtun => "boringtun",
        })
    }
}

/// `boringtun-cli` from `PUNCHWIRE_LAB_BORINGTUN`, else `$PATH`, else where
/// `cargo install` puts it (tests often run without ~/.cargo/bin in `$PATH`).
fn boringtun_path() -> String {
    if let Ok(p) = std::env::var(BORINGTUN_ENV) {
        return p;
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("boringtun-cli"))
            .find(|p| p.is_file())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    in_path
        .or_else(|| {
            cargo_home
                .map(|c| c.join("bin/boringtun-cli"))
                .filter(|p| p.is_file())
        })
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "boringtun-cli".into())
}

pub(crate) fn socket_path(iface: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{iface}.sock"))
}

/// A fresh key pair from `wg genkey`/`wg pubkey`; the private key is written to
/// `key_file` (mode 0600) for `wg set … private-key`.
pub(crate) fn generate_key(key_file: &Path) -> Result<PublicKey> {
    let private = command::run(None, &["wg", "genkey"], None)?;
    let public = command::run(None, &["wg", "pubkey"], Some(private.as_bytes()))?;
    let key = public.trim().parse().map_err(|e| LabError::Parse {
        command: "wg pubkey".into(),
        reason: format!("{e}"),
    })?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(key_file)?;
        f.write_all(private.as_bytes())
    };
    write().map_err(|e| LabError::io(format!("writing {}", key_file.display()), e))?;
    Ok(key)
}

/// Starts the daemon for `iface` in `namespace`, its output appended to `log`, and
/// waits for its UAPI socket.
pub(crate) fn start_daemon(
    wg: WgImpl,
    namespace: &str,
    iface: &str,
    log: &Path,
    timeout: Duration,
) -> Result<Child> {
    let sock = socket_path(iface);
    // A socket left by a SIGKILLed daemon of the same name would look ready at once.
    let _ = fs::remove_file(&sock);
    let args = wg.daemon_args(iface);
    let log_file = |what| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| LabError::io(format!("opening {} for {what}", log.display()), e))
    };
    let mut child = command::in_namespace(Some(namespace), &args)
        .stdin(Stdio::null())
        .stdout(log_file("stdout")?)
        .stderr(log_file("stderr")?)
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: command::display(&args),
            place: place(Some(namespace)),
            source,
        })?;
    let started = Instant::now();
    loop {
        if sock.exists() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(LabError::DaemonExited {
                daemon: command::display(&args),
                place: place(Some(namespace)),
                status: status.to_string(),
                log: tail(log, 40),
            });
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError::Timeout {
                what: format!(
                    "{} appearing for `{}` in {}",
                    sock.display(),
                    command::display(&args),
                    place(Some(namespace))
                ),
                waited: timeout,
                last_error: Some(tail(log, 10)),
            });
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Kills a daemon, reaps it and removes its socket (SIGKILL leaves it behind).
pub(crate) fn stop_daemon(mut child: Child, iface: &str) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_file(socket_path(iface));
}

/// How one device knows one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerConfig {
    pub key: PublicKey,
    pub allowed_ip: String,
    pub endpoint: Option<SocketAddr>,
    pub keepalive: Option<u16>,
}

impl PeerConfig {
    /// The `peer …` words of a `wg set` request that creates this peer.
    pub fn set_args(&self) -> Vec<String> {
        let mut args = vec![
            "peer".into(),
            self.key.to_base64(),
            "allowed-ips".into(),
            self.allowed_ip.clone(),
        ];
        if let Some(e) = self.endpoint {
            args.extend(["endpoint".into(), e.to_string()]);
        }
        if let Some(k) = self.keepalive {
            args.extend(["persistent-keepalive".into(), k.to_string()]);
        }
        args
    }
}

/// The last `lines` lines of a log file, or why it cannot be read.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({} unreadable: {e})", path.display()),
    }
}

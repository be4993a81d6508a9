//! Userspace WireGuard (wireguard-go, boringtun, the macOS app) through its UAPI socket,
//! `<dir>/<iface>.sock`, speaking the protocol of <https://www.wireguard.com/xplatform/>.
//!
//! Written here rather than taken from wireguard-control 2.0, whose userspace backend
//! has no timeout (it blocks forever on a wedged daemon), cannot list sockets on Linux,
//! prints to stdout on keys it does not know, and misreads boringtun's handshake times.

mod config;
mod implementation;
mod names;
mod request;
mod socket;

pub use implementation::Implementation;

/// Reads the lines of a `get=1` answer (the errno line taken off) as [`UapiBackend`]
/// does, into the public view: for the fuzz targets, which cannot reach the parser.
pub(crate) fn read_get_answer(lines: &[String], now: SystemTime) -> Result<Device, String> {
    config::parse_get(lines, now).map(|device| device.to_device("wg0"))
}

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use self::config::{UapiDevice, UapiPeer};
use self::implementation::ServingProcess;
use self::socket::Connection;
use super::{allowed_ips, BackendError, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

/// Userspace WireGuard daemons reached through their UAPI sockets in one directory.
#[derive(Debug, Clone)]
pub struct UapiBackend {
    dir: PathBuf,
    timeout: Duration,
    /// Per interface, the implementation its latest read found and the PID of the
    /// process that answered: a daemon whose name says nothing (another program, a
    /// test's fake) is known again by its PID, so that a write need not read to tell.
    detected: Arc<Mutex<HashMap<String, (i32, Implementation)>>>,
    /// Held for writing across boringtun's re-add (a removal, then an add, in two
    /// requests) and for reading by every read, so that this process never reads a
    /// device whose peer is between the two: the status would show it gone.
    re_adding: Arc<RwLock<()>>,
}

impl UapiBackend {
    /// Where every userspace implementation puts its sockets.
    pub const DEFAULT_DIR: &'static str = "/var/run/wireguard";

    /// The deadline of one request, kept below [`super::DEFAULT_DEADLINE`] so that the
    /// error which names the socket is the one a user sees.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Sockets in [`UapiBackend::DEFAULT_DIR`].
    pub fn new() -> Self {
        Self::with_dir(Self::DEFAULT_DIR)
    }

    /// Sockets in `dir` instead (tests, unusual installs).
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            detected: Arc::default(),
            re_adding: Arc::default(),
        }
    }

    /// How long one request may take, connecting included.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The socket of `iface`, whether or not it exists: `<iface>.sock`, or on macOS
    /// the `utunN.sock` that `<iface>.name` points to.
    pub fn socket_path(&self, iface: &str) -> PathBuf {
        let own = self.dir.join(format!("{iface}.sock"));
        if own.exists() || !valid_name(iface) {
            return own;
        }
        match names::real_name(&self.dir, iface) {
            Some(real) => self.dir.join(format!("{real}.sock")),
            None => own,
        }
    }

    /// Whether a socket for `iface` exists (without asking the daemon anything).
    pub fn has_interface(&self, iface: &str) -> bool {
        valid_name(iface)
            && std::fs::metadata(self.socket_path(iface))
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false)
    }

    /// Which implementation serves `iface`.
    pub fn implementation(&self, iface: &str) -> Result<Implementation, BackendError> {
        Ok(self.read(iface)?.1)
    }

    fn connect(&self, iface: &str) -> Result<Connection, BackendError> {
        if !valid_name(iface) {
            return Err(BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            });
        }
        Connection::open(iface, &self.socket_path(iface), self.timeout)
    }

    fn read(&self, iface: &str) -> Result<(UapiDevice, Implementation), BackendError> {
        let _whole = self.re_adding.read().unwrap_or_else(|p| p.into_inner());
        let connection = self.connect(iface)?;
        let process = implementation::serving_process(connection.stream());
        self.read_on(iface, connection, &process)
    }

    /// Reads the device on an open `connection` to the daemon, `process`.
    fn read_on(
        &self,
        iface: &str,
        connection: Connection,
        process: &ServingProcess,
    ) -> Result<(UapiDevice, Implementation), BackendError> {
        let lines = connection.exchange(request::GET)?;
        let device = config::parse_get(&lines, SystemTime::now()).map_err(|detail| {
            BackendError::Protocol {
                iface: iface.to_owned(),
                problem: format!(
                    "the daemon on {} answered get=1 with {detail}",
                    self.socket_path(iface).display()
                ),
            }
        })?;
        let implementation = Implementation::detect(process.name.as_deref(), &device.signature);
        if let Some(pid) = process.pid {
            self.detected()
                .insert(iface.to_owned(), (pid, implementation));
        }
        tracing::debug!(iface, ?process, %implementation, "read userspace device");
        Ok((device, implementation))
    }

    /// The implementation of the daemon `process` on `iface`, when it is known without
    /// a read: by its name, or by its PID from an earlier read.
    fn known_implementation(
        &self,
        iface: &str,
        process: &ServingProcess,
    ) -> Option<Implementation> {
        if let Some(by_name) = process
            .name
            .as_deref()
            .and_then(Implementation::from_process_name)
        {
            return Some(by_name);
        }
        let pid = process.pid?;
        self.detected()
            .get(iface)
            .filter(|(read_from, _)| *read_from == pid)
            .map(|(_, implementation)| *implementation)
    }

    fn detected(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i32, Implementation)>> {
        // A panic elsewhere while holding it leaves a map that is still whole.
        self.detected.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, iface: &str, request: &str) -> Result<(), BackendError> {
        self.connect(iface)?.exchange(request).map(drop)
    }

    /// boringtun's endpoint change: remove the peer, then add it back with everything
    /// it had at `endpoint` (see [`UapiBackend::swap`]).
    fn re_add(&self, iface: &str, peer: &UapiPeer, endpoint: Endpoint) -> Result<(), BackendError> {
        let _reads_wait = self.re_adding.write().unwrap_or_else(|p| p.into_inner());
        let add = request::add_peer(peer, Some(endpoint.addr()));
        self.swap(iface, peer, &add, "endpoint").map_err(|failure| {
            failure.into_error(|add| BackendError::EndpointNotChanged {
                iface: iface.to_owned(),
                peer: peer.peer.public_key,
                add: Box::new(add),
            })
        })
    }

    /// boringtun's change of allowed IPs: every peer whose allowed IPs the change
    /// touches, the listed ones and those a listed network is taken from, is removed and
    /// added back with its new allowed IPs and everything else it had, one peer at a
    /// time. boringtun keeps each peer's own list beside its routing table, so a peer
    /// that only loses a network must be re-added too, or it would still list it and
    /// accept packets from it. Its routing table takes a network from the peer that
    /// held it when another peer is added with it, and a removal drops only the removed
    /// peer's own routes, so any order ends with each network at the peer listed last.
    fn re_add_with_allowed_ips(
        &self,
        iface: &str,
        device: &UapiDevice,
        changes: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        let current: Vec<_> = device
            .peers
            .iter()
            .map(|p| (p.peer.public_key, p.peer.allowed_ips.clone()))
            .collect();
        let after = allowed_ips::after(&current, changes);
        let _reads_wait = self.re_adding.write().unwrap_or_else(|p| p.into_inner());
        for (old, (_, nets)) in device.peers.iter().zip(after) {
            if same_networks(&old.peer.allowed_ips, &nets) {
                continue;
            }
            let mut new = old.clone();
            new.peer.allowed_ips = nets;
            let add = request::add_peer(&new, new.peer.endpoint);
            self.swap(iface, old, &add, "allowed IPs")
                .map_err(|failure| {
                    failure.into_error(|add| BackendError::AllowedIpsNotChanged {
                        iface: iface.to_owned(),
                        peer: old.peer.public_key,
                        add: Box::new(add),
                    })
                })?;
        }
        Ok(())
    }

    /// Removes `peer` and sends `add`, which adds it back changed, in two requests,
    /// because boringtun panics when one request removes and re-adds. When the add
    /// fails the peer would be gone, preshared key and allowed IPs with it, so a third
    /// request restores it exactly as it was. The caller holds `re_adding` for writing.
    fn swap(
        &self,
        iface: &str,
        peer: &UapiPeer,
        add: &str,
        change: &'static str,
    ) -> Result<(), SwapFailure> {
        let key = peer.peer.public_key;
        self.set(iface, &request::remove_peer(&key))
            .map_err(SwapFailure::Final)?;
        let Err(add) = self.set(iface, add) else {
            return Ok(());
        };
        tracing::warn!(iface, peer = %key, error = %add, "re-adding a peer failed; restoring it");
        match self.set(iface, &request::add_peer(peer, peer.peer.endpoint)) {
            Ok(()) => Err(SwapFailure::Restored(add)),
            Err(restore) => Err(SwapFailure::Final(BackendError::PeerLost {
                iface: iface.to_owned(),
                peer: key,
                change,
                add: Box::new(add),
                restore: Box::new(restore),
            })),
        }
    }
}

/// Why [`UapiBackend::swap`] did not change a peer.
enum SwapFailure {
    /// Adding it back changed failed; it is back as it was. The add's error.
    Restored(BackendError),
    /// The error to report as it is: the removal failed, or the peer is lost.
    Final(BackendError),
}

impl SwapFailure {
    /// The error to report, made by `restored` from the add's error when the peer is
    /// back as it was.
    fn into_error(self, restored: impl FnOnce(BackendError) -> BackendError) -> BackendError {
        match self {
            Self::Restored(add) => restored(add),
            Self::Final(err) => err,
        }
    }
}

/// Whether two lists hold the same networks, in any order (daemons list them in their
/// routing table's order, not the order they were given).
fn same_networks(a: &[IpNet], b: &[IpNet]) -> bool {
    let sorted = |nets: &[IpNet]| {
        let mut nets: Vec<IpNet> = nets.iter().map(IpNet::trunc).collect();
        nets.sort();
        nets.dedup();
        nets
    };
    sorted(a) == sorted(b)
}

impl Default for UapiBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl WireGuard for UapiBackend {
    fn kind(&self) -> &'static str {
        "userspace"
    }

    /// Every `*.sock` in the directory that is a socket, by the name the user gave it
    /// where a `.name` file says (macOS); a missing directory means no userspace
    /// interfaces.
    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(BackendError::from_io(
                    &self.dir.display().to_string(),
                    "listing UAPI sockets",
                    err,
                ))
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_socket()).unwrap_or(false))
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".sock")
                    .filter(|name| valid_name(name))
                    .map(str::to_owned)
            })
            .collect();
        // A socket known by another name (macOS: utunN for wg0) is listed by that name.
        for (name, real) in names::mappings(&self.dir) {
            if let Some(slot) = names.iter_mut().find(|n| **n == real) {
                *slot = name;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        Ok(self.read(iface)?.0.to_device(iface))
    }

    /// A peer with a session on a compliant daemon only has its endpoint moved, by one
    /// `update_only` request and no read: the snapshot says all that this needs.
    ///
    /// Every other write reads the device first, on the same connection, and works from
    /// the peer as it is then. Making a peer anew (compliant, no session) or re-adding it
    /// (boringtun) writes its whole configuration: its preshared key, which a snapshot
    /// never holds, and its allowed IPs and keepalive, which may have changed since the
    /// snapshot; written from anything older, the write would lose or undo them. A
    /// daemon not known by name or from an earlier read also has to be read, to be
    /// told apart by its answer.
    fn set_endpoint(
        &self,
        iface: &str,
        snapshot: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        // Setting the endpoint a peer already has writes nothing: on boringtun a write
        // re-creates the peer and so drops its session.
        if snapshot.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        let key = &snapshot.public_key;
        let connection = self.connect(iface)?;
        let process = implementation::serving_process(connection.stream());
        if self.known_implementation(iface, &process) == Some(Implementation::Compliant)
            && snapshot.has_session(SystemTime::now())
        {
            // `update_only` keeps a peer removed since the snapshot from coming back.
            return connection
                .exchange(&request::update_endpoint(key, endpoint))
                .map(drop);
        }
        let (device, implementation) = self.read_on(iface, connection, &process)?;
        let peer = device.peer(key).ok_or_else(|| BackendError::NoSuchPeer {
            iface: iface.to_owned(),
            peer: *key,
        })?;
        if peer.peer.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        match implementation {
            // A live session is left alone: only the endpoint moves.
            Implementation::Compliant if peer.peer.has_session(SystemTime::now()) => {
                self.set(iface, &request::update_endpoint(key, endpoint))
            }
            Implementation::Compliant => self.set(iface, &request::replace_peer(peer, endpoint)),
            Implementation::Boringtun => self.re_add(iface, peer, endpoint),
        }
    }

    /// Both userspace implementations keep something of the old network (see
    /// [`request::rebind`]); opening the sockets again on the same port drops it.
    fn rebind(&self, iface: &str) -> Result<(), BackendError> {
        match self.device(iface)?.listen_port {
            Some(port) => self.set(iface, &request::rebind(port)),
            // A device that listens nowhere has no socket to let go of.
            None => Ok(()),
        }
    }

    /// Reads the device first, as an `update_only` write skips a missing peer and
    /// reports success; the write keeps `update_only`, so a peer removed after the read
    /// is not created again. A compliant daemon gets one request (see
    /// [`request::set_allowed_ips`]); boringtun, which knows neither `update_only` nor a
    /// change to an existing peer, has each touched peer re-added (see
    /// [`UapiBackend::re_add_with_allowed_ips`]), which restarts those peers' sessions.
    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        let connection = self.connect(iface)?;
        let process = implementation::serving_process(connection.stream());
        let (device, implementation) = self.read_on(iface, connection, &process)?;
        crate::backend::every_listed_peer_present(iface, peers, |key| device.peer(key).is_some())?;
        if peers.is_empty() {
            return Ok(());
        }
        match implementation {
            Implementation::Compliant => self.set(iface, &request::set_allowed_ips(peers)),
            Implementation::Boringtun => self.re_add_with_allowed_ips(iface, &device, peers),
        }
    }
}

/// A name that maps to a file directly inside the socket directory.
fn valid_name(iface: &str) -> bool {
    !iface.is_empty() && iface != "." && iface != ".." && !iface.contains(['/', '\0'])
}

//! [`NtBackend`]: the [`WireGuard`] trait on wireguard-nt adapters.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ipnet::IpNet;

use super::driver::{CallError, Driver};
use super::remake::{self, EndpointWrite};
use super::{layout, tunnels};
use crate::backend::{BackendError, LoadFailure, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

/// Windows' "file not found", "path not found" and "element not found": what opening
/// an adapter that does not exist returns.
const NOT_FOUND: [i32; 3] = [2, 3, 1168];
const ACCESS_DENIED: i32 = 5;

/// wireguard-nt adapters, reached through `wireguard.dll`.
#[derive(Clone)]
pub struct NtBackend {
    dll: Vec<PathBuf>,
    tunnels: PathBuf,
    /// Loaded on first use and kept; a failed load is retried on the next call, so
    /// installing the DLL needs no restart.
    driver: Arc<Mutex<Option<Arc<Driver>>>>,
}

impl NtBackend {
    pub const DLL: &'static str = "wireguard.dll";

    /// `wireguard.dll` next to the running program, then on Windows' DLL search path;
    /// tunnels from the official client's configuration directory.
    pub fn new() -> Self {
        let mut dll = Vec::new();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        {
            dll.push(dir.join(Self::DLL));
        }
        dll.push(PathBuf::from(Self::DLL));
        Self {
            dll,
            tunnels: tunnels::official_dir(),
            driver: Arc::default(),
        }
    }

    /// Exactly this DLL (tests, unusual installs).
    pub fn with_dll(mut self, path: impl Into<PathBuf>) -> Self {
        self.dll = vec![path.into()];
        self
    }

    /// Tunnel names from this directory instead of the official client's.
    pub fn with_tunnels_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tunnels = dir.into();
        self
    }

    fn driver(&self) -> Result<Arc<Driver>, BackendError> {
        let mut slot = self.driver.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(driver) = slot.as_ref() {
            return Ok(Arc::clone(driver));
        }
        let mut tried = Vec::new();
        for path in &self.dll {
            match Driver::load(path) {
                Ok(driver) => {
                    tracing::debug!(dll = %driver.path().display(), "loaded wireguard-nt");
                    let driver = Arc::new(driver);
                    *slot = Some(Arc::clone(&driver));
                    return Ok(driver);
                }
                Err(source) => tried.push(LoadFailure {
                    path: path.clone(),
                    source,
                }),
            }
        }
        Err(BackendError::DriverMissing {
            dll: Self::DLL.to_owned(),
            tried,
        })
    }

    fn error(&self, iface: &str, err: CallError) -> BackendError {
        match err.source.raw_os_error() {
            Some(code) if NOT_FOUND.contains(&code) && err.step == "opening the adapter" => {
                BackendError::NoSuchInterface {
                    iface: iface.to_owned(),
                }
            }
            Some(ACCESS_DENIED) => BackendError::PermissionDenied {
                iface: iface.to_owned(),
            },
            _ if err.source.kind() == io::ErrorKind::InvalidInput => {
                BackendError::NoSuchInterface {
                    iface: iface.to_owned(),
                }
            }
            _ => BackendError::Io {
                iface: iface.to_owned(),
                context: format!("wireguard-nt failed {}", err.step),
                source: err.source,
            },
        }
    }

    fn read(&self, iface: &str) -> Result<Device, BackendError> {
        let bytes = self
            .driver()?
            .get_configuration(iface)
            .map_err(|e| self.error(iface, e))?;
        layout::parse_device(iface, &bytes).map_err(|detail| protocol_error(iface, &detail))
    }
}

impl Default for NtBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for NtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtBackend")
            .field("dll", &self.dll)
            .field("tunnels", &self.tunnels)
            .finish_non_exhaustive()
    }
}

impl WireGuard for NtBackend {
    fn kind(&self) -> &'static str {
        "wireguard-nt"
    }

    /// The official client's tunnels whose adapter exists now, sorted.
    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        let driver = self.driver()?;
        let mut names: Vec<String> = tunnels::names(&self.tunnels)
            .into_iter()
            .filter(|name| driver.probe(name).is_ok())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        self.read(iface)
    }

    /// A peer with a session only has its endpoint moved, with no read: the write is
    /// "update only", which moves an endpoint in place and never re-creates a peer
    /// removed since the snapshot (the driver skips it, so this reports success and
    /// the next read no longer lists the peer). A peer without one is read first and
    /// made anew at the endpoint, from the peer as the driver has it then (see
    /// [`remake`]); a peer gone by then is [`BackendError::NoSuchPeer`].
    fn set_endpoint(
        &self,
        iface: &str,
        snapshot: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        if snapshot.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        let driver = self.driver()?;
        let key = &snapshot.public_key;
        let now = SystemTime::now();
        let write = if snapshot.has_session(now) {
            EndpointWrite::Move
        } else {
            let config = driver
                .get_configuration(iface)
                .map_err(|e| self.error(iface, e))?;
            remake::endpoint_write(&config, key, endpoint, now)
                .map_err(|detail| protocol_error(iface, &detail))?
        };
        let config = match write {
            EndpointWrite::Nothing => return Ok(()),
            EndpointWrite::PeerGone => {
                return Err(BackendError::NoSuchPeer {
                    iface: iface.to_owned(),
                    peer: *key,
                })
            }
            EndpointWrite::Move => layout::endpoint_update(key, endpoint),
            EndpointWrite::Remake(config) => config,
        };
        driver
            .set_configuration(iface, &config)
            .map_err(|e| self.error(iface, e))
    }

    /// Nothing to let go of: the driver, the kernel's code ported, routes every packet
    /// afresh.
    fn rebind(&self, _iface: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// Reads the adapter first, as the driver skips an update-only peer it does not
    /// have and reports success; then one configuration (see
    /// [`layout::allowed_ips_update`]), which the driver applies under one lock.
    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        let device = self.read(iface)?;
        crate::backend::every_listed_peer_present(iface, peers, |key| device.peer(key).is_some())?;
        if peers.is_empty() {
            return Ok(());
        }
        self.driver()?
            .set_configuration(iface, &layout::allowed_ips_update(peers))
            .map_err(|e| self.error(iface, e))
    }
}

fn protocol_error(iface: &str, detail: &str) -> BackendError {
    BackendError::Protocol {
        iface: iface.to_owned(),
        problem: format!("wireguard-nt answered with {detail}"),
    }
}

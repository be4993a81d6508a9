//! The Linux kernel's WireGuard, over generic netlink: read through wireguard-control,
//! written with the requests of [`request`].

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use wireguard_control::{Backend as WgcBackend, Device as WgcDevice, InterfaceName, Key, PeerInfo};

use ipnet::IpNet;

use super::{BackendError, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;
use request::SetDevice;

mod request;

// Netlink answers with these when the kernel has no WireGuard for the request.
const ENOENT: i32 = 2;
const ENODEV: i32 = 19;
const EOPNOTSUPP: i32 = 95;

/// Kernel WireGuard interfaces (`ip link add … type wireguard`).
#[derive(Debug, Clone, Default)]
pub struct KernelBackend {
    _private: (),
}

impl KernelBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, iface: &str) -> Result<WgcDevice, BackendError> {
        let name = interface_name(iface)?;
        WgcDevice::get(&name, WgcBackend::Kernel).map_err(|err| device_error(iface, err))
    }
}

impl WireGuard for KernelBackend {
    fn kind(&self) -> &'static str {
        "kernel"
    }

    /// Without the kernel module there are simply no kernel interfaces.
    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        let mut names: Vec<String> = WgcDevice::list(WgcBackend::Kernel)
            .map_err(|err| netlink_error("*", err))?
            .iter()
            .map(|name| name.as_str_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        let device = self.get(iface)?;
        Ok(Device {
            name: iface.to_owned(),
            public_key: device.public_key.as_ref().and_then(public_key),
            listen_port: device.listen_port.filter(|&p| p != 0),
            fwmark: device.fwmark.filter(|&m| m != 0),
            peers: device.peers.iter().map(peer).collect(),
        })
    }

    /// A peer with a session only has its endpoint moved, with no read: the snapshot
    /// says all that this needs. A peer without one is read first and made anew at
    /// the endpoint (see [`SetDevice::remake_peer`]), from the peer as it is then:
    /// its preshared key, which a snapshot never holds, and its allowed IPs and
    /// keepalive, which may have changed since the snapshot.
    ///
    /// Neither write creates the interface: a missing one is
    /// [`BackendError::NoSuchInterface`]. A peer removed since the snapshot is
    /// [`BackendError::NoSuchPeer`] when the write reads first; a move skips it (the
    /// kernel answers success for WGPEER_F_UPDATE_ONLY), so the next read no longer
    /// lists it. Between the read and the remake, a removal by someone else would be
    /// undone; the window is one netlink round trip, as on wireguard-go.
    fn set_endpoint(
        &self,
        iface: &str,
        snapshot: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        if snapshot.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        let name = interface_name(iface)?;
        let key = &snapshot.public_key;
        let request = if snapshot.has_session(SystemTime::now()) {
            SetDevice::move_endpoint(&name, key, endpoint)
        } else {
            let device = self.get(iface)?;
            let info = device
                .peers
                .iter()
                .find(|info| info.config.public_key.0 == *key.as_bytes())
                .ok_or_else(|| BackendError::NoSuchPeer {
                    iface: iface.to_owned(),
                    peer: *key,
                })?;
            let current = peer(info);
            if current.endpoint == Some(endpoint.addr()) {
                return Ok(());
            }
            let remake = SetDevice::remake_peer(&name, &info.config, endpoint);
            if current.has_session(SystemTime::now()) || !remake.fits() {
                SetDevice::move_endpoint(&name, key, endpoint)
            } else {
                remake
            }
        };
        request.send().map_err(|err| device_error(iface, err))
    }

    /// Nothing to let go of: the kernel routes every packet afresh and drops a cached
    /// source address when the routes change.
    fn rebind(&self, _iface: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// Reads the device first, as the kernel skips an update-only entry for a missing
    /// peer and answers success; then one message (see [`SetDevice::set_allowed_ips`]),
    /// which the kernel applies under one lock. A change too large for one message is
    /// refused rather than split, since split messages would be applied one at a time
    /// and a network could be seen at neither peer in between.
    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        let name = interface_name(iface)?;
        let device = self.get(iface)?;
        if let Some((missing, _)) = peers.iter().find(|(key, _)| {
            !device
                .peers
                .iter()
                .any(|info| info.config.public_key.0 == *key.as_bytes())
        }) {
            return Err(BackendError::NoSuchPeer {
                iface: iface.to_owned(),
                peer: *missing,
            });
        }
        if peers.is_empty() {
            return Ok(());
        }
        let request = SetDevice::set_allowed_ips(&name, peers);
        if !request.fits() {
            return Err(BackendError::Protocol {
                iface: iface.to_owned(),
                problem: format!(
                    "the allowed IPs of {} peers ({} networks) do not fit in one netlink message",
                    peers.len(),
                    peers.iter().map(|(_, nets)| nets.len()).sum::<usize>()
                ),
            });
        }
        request.send().map_err(|err| device_error(iface, err))
    }
}

fn interface_name(iface: &str) -> Result<InterfaceName, BackendError> {
    // A name the kernel could not hold cannot be one of its interfaces.
    iface.parse().map_err(|_| BackendError::NoSuchInterface {
        iface: iface.to_owned(),
    })
}

fn public_key(key: &Key) -> Option<PublicKey> {
    (key.0 != [0; 32]).then(|| PublicKey::from_bytes(key.0))
}

fn peer(info: &PeerInfo) -> Peer {
    Peer {
        public_key: PublicKey::from_bytes(info.config.public_key.0),
        // The kernel reports an all-zero key when none is set.
        has_preshared_key: info
            .config
            .preshared_key
            .as_ref()
            .is_some_and(|k| k.0 != [0; 32]),
        endpoint: info.config.endpoint,
        allowed_ips: info
            .config
            .allowed_ips
            .iter()
            .filter_map(|ip| ipnet::IpNet::new(ip.address, ip.cidr).ok())
            .collect(),
        last_handshake: info.stats.last_handshake_time.filter(|&t| t != UNIX_EPOCH),
        rx_bytes: info.stats.rx_bytes,
        tx_bytes: info.stats.tx_bytes,
        persistent_keepalive: info
            .config
            .persistent_keepalive_interval
            .filter(|&k| k != 0),
    }
}

/// An error of a request naming one interface. EOPNOTSUPP is the kernel's answer for
/// a link that exists but is not WireGuard, which reading and writing both meet.
fn device_error(iface: &str, err: io::Error) -> BackendError {
    match err.raw_os_error() {
        Some(EOPNOTSUPP) => BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        },
        _ => netlink_error(iface, err),
    }
}

fn netlink_error(iface: &str, err: io::Error) -> BackendError {
    match err.raw_os_error() {
        // ENOENT: the "wireguard" netlink family is not registered (no module), or
        // the kernel has no such device; either way there is no such interface.
        Some(ENOENT | ENODEV) => BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        },
        Some(EOPNOTSUPP) => BackendError::Unsupported {
            what: "kernel WireGuard".into(),
            why: format!("{iface}: the kernel has no WireGuard support"),
            source: err,
        },
        _ => match err.kind() {
            io::ErrorKind::NotFound => BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            },
            _ => BackendError::from_io(iface, "kernel WireGuard over netlink", err),
        },
    }
}

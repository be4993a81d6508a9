//! The Linux kernel's WireGuard, over generic netlink (through wireguard-control).

use std::io;
use std::time::UNIX_EPOCH;

use wireguard_control::{
    Backend as WgcBackend, Device as WgcDevice, DeviceUpdate, InterfaceName, Key,
    PeerConfigBuilder, PeerInfo,
};

use super::{BackendError, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

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
        WgcDevice::get(&name, WgcBackend::Kernel).map_err(|err| match err.raw_os_error() {
            // The kernel's answer for a link that exists but is not WireGuard.
            Some(EOPNOTSUPP) => BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            },
            _ => netlink_error(iface, err),
        })
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

    fn set_endpoint(
        &self,
        iface: &str,
        key: &PublicKey,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        // Read first: `DeviceUpdate::apply` creates the interface when it is missing
        // and adds the peer when it is missing, and neither may happen here.
        let device = self.get(iface)?;
        let existing = device
            .peers
            .iter()
            .find(|p| p.config.public_key.as_bytes() == key.as_bytes())
            .ok_or_else(|| BackendError::NoSuchPeer {
                iface: iface.to_owned(),
                peer: *key,
            })?;
        if existing.config.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        // A builder with only the endpoint: no allowed IPs (and no replace flag), no
        // keepalive, no preshared key, so the kernel keeps the ones it has.
        let update = PeerConfigBuilder::new(&Key(*key.as_bytes())).set_endpoint(endpoint.addr());
        DeviceUpdate::new()
            .add_peer(update)
            .apply(&interface_name(iface)?, WgcBackend::Kernel)
            .map_err(|err| netlink_error(iface, err))
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

fn netlink_error(iface: &str, err: io::Error) -> BackendError {
    match err.raw_os_error() {
        // ENOENT: the "wireguard" netlink family is not registered (no module), or
        // the kernel has no such device; either way there is no such interface.
        Some(ENOENT | ENODEV) => BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        },
        Some(EOPNOTSUPP) => BackendError::Unsupported {
            what: "kernel WireGuard".into(),
            detail: format!("{iface}: the kernel has no WireGuard support ({err})"),
        },
        _ => match err.kind() {
            io::ErrorKind::NotFound => BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            },
            _ => BackendError::from_io(iface, "kernel WireGuard over netlink", err),
        },
    }
}

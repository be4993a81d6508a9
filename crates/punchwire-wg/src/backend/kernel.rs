//! The Linux kernel's WireGuard, over generic netlink (through wireguard-control).

use std::io;
use std::time::UNIX_EPOCH;

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::constants::WGPEER_F_UPDATE_ONLY;
use netlink_packet_wireguard::nlas::{WgDeviceAttrs, WgPeer, WgPeerAttrs};
use netlink_packet_wireguard::{Wireguard, WireguardCmd};
use wireguard_control::{Backend as WgcBackend, Device as WgcDevice, InterfaceName, Key, PeerInfo};

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

    /// Writes without reading: the snapshot says whether the endpoint already is
    /// `endpoint`, and the kernel moves an endpoint in place whatever the session, so
    /// nothing else is needed. The write cannot create the interface or the peer (see
    /// [`EndpointUpdate`]): a missing interface is [`BackendError::NoSuchInterface`]
    /// (ENODEV), while a peer removed since the snapshot is skipped by the kernel,
    /// which answers success for WGPEER_F_UPDATE_ONLY, so this reports success too and
    /// the next read no longer lists the peer.
    fn set_endpoint(
        &self,
        iface: &str,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        if peer.endpoint == Some(endpoint.addr()) {
            return Ok(());
        }
        let update = EndpointUpdate::new(&interface_name(iface)?, &peer.public_key, endpoint);
        netlink_request::netlink_request_genl(update.message, Some(update.flags))
            .map(drop)
            .map_err(|err| device_error(iface, err))
    }
}

/// The one netlink request that points an existing peer at a new endpoint.
///
/// Built by hand because wireguard-control's `DeviceUpdate::apply` first sends an
/// RTM_NEWLINK that creates the interface when it is missing, and has no way to ask for
/// WGPEER_F_UPDATE_ONLY, so it adds the peer when it is missing. Racing `wg-quick down`
/// or `wg set … remove` would bring either back. This request is a generic-netlink
/// WG_CMD_SET_DEVICE alone, which the kernel answers with ENODEV for a missing
/// interface, and its peer carries WGPEER_F_UPDATE_ONLY, with which the kernel skips a
/// missing peer instead of creating it. It names only the endpoint, so the kernel keeps
/// the peer's allowed IPs, keepalive and preshared key.
struct EndpointUpdate {
    message: GenlMessage<Wireguard>,
    /// Netlink header flags: a request that wants an acknowledgement (so errors come
    /// back), without NLM_F_CREATE or NLM_F_EXCL.
    flags: u16,
}

impl EndpointUpdate {
    fn new(iface: &InterfaceName, key: &PublicKey, endpoint: Endpoint) -> Self {
        let peer = WgPeer(vec![
            WgPeerAttrs::PublicKey(*key.as_bytes()),
            WgPeerAttrs::Endpoint(endpoint.addr()),
            WgPeerAttrs::Flags(WGPEER_F_UPDATE_ONLY),
        ]);
        let message = GenlMessage::from_payload(Wireguard {
            cmd: WireguardCmd::SetDevice,
            nlas: vec![
                WgDeviceAttrs::IfName(iface.as_str_lossy().into_owned()),
                WgDeviceAttrs::Peers(vec![peer]),
            ],
        });
        Self {
            message,
            flags: NLM_F_REQUEST | NLM_F_ACK,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_CREATE, NLM_F_EXCL};

    /// The request as the kernel receives it: serialized and parsed back, so the test
    /// proves what goes on the wire rather than what the builder holds.
    fn on_the_wire(update: EndpointUpdate) -> NetlinkMessage<GenlMessage<Wireguard>> {
        let mut message = update.message;
        // The family id is resolved from the kernel at send time; any will do here.
        message.set_resolved_family_id(0x1d);
        let mut request = NetlinkMessage::from(message);
        request.header.flags = update.flags;
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        NetlinkMessage::deserialize(&bytes).unwrap()
    }

    #[test]
    fn endpoint_write_updates_only_and_never_creates() {
        let key = PublicKey::from_bytes([7; 32]);
        let endpoint: Endpoint = "[2001:db8::7]:51820".parse().unwrap();
        let sent = on_the_wire(EndpointUpdate::new(&"wg0".parse().unwrap(), &key, endpoint));

        // No NLM_F_CREATE/NLM_F_EXCL: nothing in the header asks for creation.
        assert_eq!(sent.header.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(sent.header.flags & (NLM_F_CREATE | NLM_F_EXCL), 0);
        let NetlinkPayload::InnerMessage(genl) = sent.payload else {
            panic!("not a generic netlink message: {sent:?}");
        };
        // WG_CMD_SET_DEVICE (never RTM_NEWLINK, the message that creates links), for
        // exactly one interface and one peer, with no device-wide flags such as
        // WGDEVICE_F_REPLACE_PEERS.
        assert_eq!(genl.payload.cmd, WireguardCmd::SetDevice);
        let [WgDeviceAttrs::IfName(name), WgDeviceAttrs::Peers(peers)] =
            genl.payload.nlas.as_slice()
        else {
            panic!("unexpected device attributes: {:?}", genl.payload.nlas);
        };
        assert_eq!(name, "wg0");
        // The key, the endpoint and WGPEER_F_UPDATE_ONLY alone: no allowed IPs (so
        // the kernel keeps them), no keepalive, no preshared key, no remove or
        // replace flags.
        assert_eq!(
            peers.as_slice(),
            [WgPeer(vec![
                WgPeerAttrs::PublicKey([7; 32]),
                WgPeerAttrs::Endpoint(endpoint.addr()),
                WgPeerAttrs::Flags(WGPEER_F_UPDATE_ONLY),
            ])]
        );
    }
}

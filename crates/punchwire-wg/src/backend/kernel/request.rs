//! The netlink requests the kernel backend writes, built by hand.
//!
//! wireguard-control's `DeviceUpdate::apply` first sends an RTM_NEWLINK that creates the
//! interface when it is missing, and has no way to ask for WGPEER_F_UPDATE_ONLY, so it
//! adds a peer that is missing. Racing `wg-quick down` or `wg set … remove` would bring
//! either back. Each request here is a generic-netlink WG_CMD_SET_DEVICE alone, which
//! the kernel answers with ENODEV for a missing interface, with no device-wide flags
//! (never WGDEVICE_F_REPLACE_PEERS), in one message, which the kernel applies under one
//! lock, peer entry after peer entry.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::constants::{
    AF_INET, AF_INET6, WGPEER_F_REMOVE_ME, WGPEER_F_REPLACE_ALLOWEDIPS, WGPEER_F_UPDATE_ONLY,
};
use netlink_packet_wireguard::nlas::{
    WgAllowedIp, WgAllowedIpAttrs, WgDeviceAttrs, WgPeer, WgPeerAttrs,
};
use netlink_packet_wireguard::{Wireguard, WireguardCmd};
use wireguard_control::{AllowedIp, InterfaceName, PeerConfig};

use crate::device::Endpoint;
use crate::key::PublicKey;

/// One WG_CMD_SET_DEVICE for one interface, ready to send.
pub(super) struct SetDevice {
    pub(super) message: GenlMessage<Wireguard>,
    /// Netlink header flags: a request that wants an acknowledgement (so errors come
    /// back), without NLM_F_CREATE or NLM_F_EXCL.
    pub(super) flags: u16,
}

impl SetDevice {
    fn new(iface: &InterfaceName, peers: Vec<WgPeer>) -> Self {
        let message = GenlMessage::from_payload(Wireguard {
            cmd: WireguardCmd::SetDevice,
            nlas: vec![
                WgDeviceAttrs::IfName(iface.as_str_lossy().into_owned()),
                WgDeviceAttrs::Peers(peers),
            ],
        });
        Self {
            message,
            flags: NLM_F_REQUEST | NLM_F_ACK,
        }
    }

    /// Points an existing peer at a new endpoint, and nothing else: it names only the
    /// endpoint, so the kernel keeps the peer's allowed IPs, keepalive, preshared key
    /// and session, and it carries WGPEER_F_UPDATE_ONLY, with which the kernel skips a
    /// peer that is gone instead of creating it.
    pub(super) fn move_endpoint(iface: &InterfaceName, key: &PublicKey, to: Endpoint) -> Self {
        let peer = WgPeer(vec![
            WgPeerAttrs::PublicKey(*key.as_bytes()),
            WgPeerAttrs::Endpoint(to.addr()),
            WgPeerAttrs::Flags(WGPEER_F_UPDATE_ONLY),
        ]);
        Self::new(iface, vec![peer])
    }

    /// Makes a peer that has no session anew at a new endpoint, so that its handshake
    /// starts now. The kernel sends at most one initiation per REKEY_TIMEOUT (5 s) and a
    /// peer with no endpoint has usually just tried one; a peer the kernel creates may
    /// initiate at once, and one with a keepalive does. The first entry removes the
    /// peer, the second creates it with everything `config` holds as read (preshared
    /// key, keepalive, allowed IPs) and the new endpoint, so nothing but the counters
    /// and the session it did not have is lost.
    pub(super) fn remake_peer(iface: &InterfaceName, config: &PeerConfig, to: Endpoint) -> Self {
        let key = config.public_key.0;
        let remove = WgPeer(vec![
            WgPeerAttrs::PublicKey(key),
            WgPeerAttrs::Flags(WGPEER_F_REMOVE_ME),
        ]);
        let mut create = vec![WgPeerAttrs::PublicKey(key)];
        // The kernel reads back an all-zero key when none is set; writing it would set
        // none, but leaving it out says so plainly.
        if let Some(psk) = config.preshared_key.as_ref().filter(|k| k.0 != [0; 32]) {
            create.push(WgPeerAttrs::PresharedKey(psk.0));
        }
        create.push(WgPeerAttrs::Endpoint(to.addr()));
        if let Some(interval) = config.persistent_keepalive_interval.filter(|&k| k != 0) {
            create.push(WgPeerAttrs::PersistentKeepalive(interval));
        }
        if !config.allowed_ips.is_empty() {
            create.push(WgPeerAttrs::AllowedIps(
                config.allowed_ips.iter().map(allowed_ip).collect(),
            ));
        }
        Self::new(iface, vec![remove, WgPeer(create)])
    }

    /// Sets each listed peer's allowed IPs to exactly its list: one entry per peer, in
    /// the order given, with WGPEER_F_REPLACE_ALLOWEDIPS (what the peer had goes) and
    /// WGPEER_F_UPDATE_ONLY (a peer that is gone is skipped, not created), and nothing
    /// else, so endpoint, keepalive, preshared key and session stay. The kernel takes
    /// each network from whichever peer held it.
    pub(super) fn set_allowed_ips(
        iface: &InterfaceName,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Self {
        let entries = peers
            .iter()
            .map(|(key, nets)| {
                let mut attrs = vec![
                    WgPeerAttrs::PublicKey(*key.as_bytes()),
                    WgPeerAttrs::Flags(WGPEER_F_REPLACE_ALLOWEDIPS | WGPEER_F_UPDATE_ONLY),
                ];
                if !nets.is_empty() {
                    attrs.push(WgPeerAttrs::AllowedIps(
                        nets.iter()
                            .map(|net| {
                                allowed_ip(&AllowedIp {
                                    address: net.trunc().addr(),
                                    cidr: net.prefix_len(),
                                })
                            })
                            .collect(),
                    ));
                }
                WgPeer(attrs)
            })
            .collect();
        Self::new(iface, entries)
    }

    /// Whether the request fits in one netlink message. A peer with hundreds of
    /// allowed IPs does not; wireguard-tools would split it over several messages,
    /// which the kernel applies one at a time, so a remade peer would be seen without
    /// all its allowed IPs for a moment. Such a peer only has its endpoint moved.
    pub(super) fn fits(&self) -> bool {
        let mut message = NetlinkMessage::from(self.message.clone());
        message.finalize();
        message.buffer_len() <= netlink_request::max_netlink_buffer_length()
    }

    pub(super) fn send(self) -> std::io::Result<()> {
        netlink_request::netlink_request_genl(self.message, Some(self.flags)).map(drop)
    }
}

fn allowed_ip(ip: &AllowedIp) -> WgAllowedIp {
    let family = match ip.address {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    };
    WgAllowedIp(vec![
        WgAllowedIpAttrs::Family(family),
        WgAllowedIpAttrs::IpAddr(ip.address),
        WgAllowedIpAttrs::Cidr(ip.cidr),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkPayload, NLM_F_CREATE, NLM_F_EXCL};
    use wireguard_control::{Key, PeerInfo};

    /// A peer's configuration as the kernel reads it back (the struct is
    /// non-exhaustive, so it is built from an empty one).
    fn read_back(
        preshared_key: Option<[u8; 32]>,
        endpoint: Option<&str>,
        keepalive: Option<u16>,
        allowed_ips: Vec<AllowedIp>,
    ) -> PeerConfig {
        let mut config = PeerInfo::from_public_key(Key([7; 32])).config;
        config.preshared_key = preshared_key.map(Key);
        config.endpoint = endpoint.map(|e| e.parse().unwrap());
        config.persistent_keepalive_interval = keepalive;
        config.allowed_ips = allowed_ips;
        config
    }

    /// The request as the kernel receives it: serialized and parsed back, so the tests
    /// prove what goes on the wire rather than what the builder holds.
    fn on_the_wire(request: SetDevice) -> (String, Vec<WgPeer>) {
        let mut message = request.message;
        // The family id is resolved from the kernel at send time; any will do here.
        message.set_resolved_family_id(0x1d);
        let mut sent = NetlinkMessage::from(message);
        sent.header.flags = request.flags;
        sent.finalize();
        let mut bytes = vec![0; sent.buffer_len()];
        sent.serialize(&mut bytes);
        let sent = NetlinkMessage::<GenlMessage<Wireguard>>::deserialize(&bytes).unwrap();

        // No NLM_F_CREATE/NLM_F_EXCL: nothing in the header asks for creation.
        assert_eq!(sent.header.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(sent.header.flags & (NLM_F_CREATE | NLM_F_EXCL), 0);
        let NetlinkPayload::InnerMessage(genl) = sent.payload else {
            panic!("not a generic netlink message: {sent:?}");
        };
        // WG_CMD_SET_DEVICE (never RTM_NEWLINK, the message that creates links), for
        // exactly one interface, with no device-wide flags such as
        // WGDEVICE_F_REPLACE_PEERS.
        assert_eq!(genl.payload.cmd, WireguardCmd::SetDevice);
        let [WgDeviceAttrs::IfName(name), WgDeviceAttrs::Peers(peers)] =
            genl.payload.nlas.as_slice()
        else {
            panic!("unexpected device attributes: {:?}", genl.payload.nlas);
        };
        (name.clone(), peers.clone())
    }

    fn allowed(address: &str, cidr: u8) -> AllowedIp {
        AllowedIp {
            address: address.parse().unwrap(),
            cidr,
        }
    }

    fn wire_allowed(address: &str, cidr: u8) -> WgAllowedIp {
        let address: IpAddr = address.parse().unwrap();
        let family = if address.is_ipv4() { AF_INET } else { AF_INET6 };
        WgAllowedIp(vec![
            WgAllowedIpAttrs::Family(family),
            WgAllowedIpAttrs::IpAddr(address),
            WgAllowedIpAttrs::Cidr(cidr),
        ])
    }

    #[test]
    fn moving_an_endpoint_updates_only_and_never_creates() {
        let key = PublicKey::from_bytes([7; 32]);
        let endpoint: Endpoint = "[2001:db8::7]:51820".parse().unwrap();
        let (name, peers) = on_the_wire(SetDevice::move_endpoint(
            &"wg0".parse().unwrap(),
            &key,
            endpoint,
        ));
        assert_eq!(name, "wg0");
        // The key, the endpoint and WGPEER_F_UPDATE_ONLY alone: no allowed IPs (so
        // the kernel keeps them), no keepalive, no preshared key, no remove or
        // replace flags.
        assert_eq!(
            peers,
            [WgPeer(vec![
                WgPeerAttrs::PublicKey([7; 32]),
                WgPeerAttrs::Endpoint(endpoint.addr()),
                WgPeerAttrs::Flags(WGPEER_F_UPDATE_ONLY),
            ])]
        );
    }

    #[test]
    fn a_remade_peer_keeps_its_preshared_key_allowed_ips_and_keepalive() {
        let config = read_back(
            Some([9; 32]),
            None,
            Some(25),
            vec![allowed("10.99.0.2", 32), allowed("fd00:99::2", 128)],
        );
        let endpoint: Endpoint = "198.51.100.7:40001".parse().unwrap();
        let request = SetDevice::remake_peer(&"wg0".parse().unwrap(), &config, endpoint);
        assert!(request.fits());
        let (name, peers) = on_the_wire(request);
        assert_eq!(name, "wg0");
        // The kernel applies the entries in order: the peer goes, then comes back
        // whole. Without WGPEER_F_UPDATE_ONLY on the second entry, or the first would
        // make it a no-op.
        assert_eq!(
            peers,
            [
                WgPeer(vec![
                    WgPeerAttrs::PublicKey([7; 32]),
                    WgPeerAttrs::Flags(WGPEER_F_REMOVE_ME),
                ]),
                WgPeer(vec![
                    WgPeerAttrs::PublicKey([7; 32]),
                    WgPeerAttrs::PresharedKey([9; 32]),
                    WgPeerAttrs::Endpoint(endpoint.addr()),
                    WgPeerAttrs::PersistentKeepalive(25),
                    WgPeerAttrs::AllowedIps(vec![
                        wire_allowed("10.99.0.2", 32),
                        wire_allowed("fd00:99::2", 128),
                    ]),
                ]),
            ]
        );
    }

    #[test]
    fn a_remade_peer_without_a_preshared_key_or_keepalive_gets_none() {
        // All zeros and 0: what the kernel reads back for a peer without them.
        let config = read_back(Some([0; 32]), Some("192.0.2.1:51820"), Some(0), vec![]);
        let endpoint: Endpoint = "198.51.100.7:40001".parse().unwrap();
        let (_, peers) = on_the_wire(SetDevice::remake_peer(
            &"wg0".parse().unwrap(),
            &config,
            endpoint,
        ));
        assert_eq!(
            peers[1],
            WgPeer(vec![
                WgPeerAttrs::PublicKey([7; 32]),
                WgPeerAttrs::Endpoint(endpoint.addr()),
            ])
        );
    }

    #[test]
    fn allowed_ips_are_replaced_per_peer_in_one_message_that_creates_nobody() {
        let relay = PublicKey::from_bytes([7; 32]);
        let other = PublicKey::from_bytes([8; 32]);
        let request = SetDevice::set_allowed_ips(
            &"wg0".parse().unwrap(),
            &[
                (
                    relay,
                    vec![
                        "10.99.0.1/32".parse().unwrap(),
                        // Host bits go, as the kernel would drop them.
                        "fd00:99::5/64".parse().unwrap(),
                    ],
                ),
                (other, vec![]),
            ],
        );
        assert!(request.fits());
        let (name, peers) = on_the_wire(request);
        assert_eq!(name, "wg0");
        // In the order given; only the key, the two flags and the new list: no
        // endpoint, keepalive or preshared key, so the kernel keeps them. An empty list
        // sends no allowed IPs at all, which with the replace flag leaves the peer none.
        let flags = WgPeerAttrs::Flags(WGPEER_F_REPLACE_ALLOWEDIPS | WGPEER_F_UPDATE_ONLY);
        assert_eq!(
            peers,
            [
                WgPeer(vec![
                    WgPeerAttrs::PublicKey([7; 32]),
                    flags.clone(),
                    WgPeerAttrs::AllowedIps(vec![
                        wire_allowed("10.99.0.1", 32),
                        wire_allowed("fd00:99::", 64),
                    ]),
                ]),
                WgPeer(vec![WgPeerAttrs::PublicKey([8; 32]), flags]),
            ]
        );
    }

    #[test]
    fn allowed_ips_too_many_for_one_message_do_not_fit() {
        let many: Vec<IpNet> = (0..=255u8)
            .flat_map(|a| (0..4u8).map(move |b| format!("10.{a}.{b}.0/24").parse().unwrap()))
            .collect();
        let request = SetDevice::set_allowed_ips(
            &"wg0".parse().unwrap(),
            &[(PublicKey::from_bytes([7; 32]), many)],
        );
        assert!(!request.fits());
    }

    #[test]
    fn a_peer_with_too_many_allowed_ips_for_one_message_is_not_remade() {
        let many = (0..=255u8)
            .flat_map(|a| (0..4u8).map(move |b| allowed(&format!("10.{a}.{b}.0"), 24)))
            .collect();
        let config = read_back(None, None, None, many);
        let request = SetDevice::remake_peer(
            &"wg0".parse().unwrap(),
            &config,
            "198.51.100.7:40001".parse().unwrap(),
        );
        assert!(!request.fits());
    }
}

//! The byte layout wireguard-nt reads and writes (`WIREGUARD_INTERFACE` followed by its
//! `WIREGUARD_PEER`s, each followed by its `WIREGUARD_ALLOWED_IP`s, as in wireguard.h),
//! parsed and built in safe code so that it is tested on every platform.
//!
//! Written here rather than taken from the wireguard-nt crate: its `get_config` panics on
//! a peer without an endpoint (the usual state of a Punchwire peer before discovery), and
//! its `set_config` always sets `REPLACE_PEERS`, which would delete every other peer.
//! Offsets are those of the x86-64 and ARM64 Windows ABI, checked against the crate's
//! bindgen layout tests (interface 80 bytes, peer 136, allowed IP 24, all 8-aligned).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

pub(super) const INTERFACE_SIZE: usize = 80;
pub(super) const PEER_SIZE: usize = 136;
pub(super) const ALLOWED_IP_SIZE: usize = 24;

// WIREGUARD_INTERFACE_FLAG
pub(super) const INTERFACE_HAS_PUBLIC_KEY: u32 = 1 << 0;
pub(super) const INTERFACE_HAS_LISTEN_PORT: u32 = 1 << 2;
// WIREGUARD_PEER_FLAG
pub(super) const PEER_HAS_PUBLIC_KEY: u32 = 1 << 0;
pub(super) const PEER_HAS_PRESHARED_KEY: u32 = 1 << 1;
pub(super) const PEER_HAS_PERSISTENT_KEEPALIVE: u32 = 1 << 2;
pub(super) const PEER_HAS_ENDPOINT: u32 = 1 << 3;
/// The peer's allowed IPs are the ones that follow it, and only those.
pub(super) const PEER_REPLACE_ALLOWED_IPS: u32 = 1 << 5;
pub(super) const PEER_REMOVE: u32 = 1 << 6;
/// "Do not add a new peer": an update for a key the adapter does not have is ignored.
pub(super) const PEER_UPDATE: u32 = 1 << 7;

// Windows' address families.
pub(super) const AF_INET: u16 = 2;
pub(super) const AF_INET6: u16 = 23;

/// 100 ns intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// Reads what `WireGuardGetConfiguration` wrote. The private key is never looked at.
pub(super) fn parse_device(name: &str, buf: &[u8]) -> Result<Device, String> {
    let (iface, peers) = split(buf)?;
    let flags = u32_at(iface, 0);
    let listen_port = u16_at(iface, 4);
    let public_key = key_at(iface, 38);
    Ok(Device {
        name: name.to_owned(),
        public_key: (flags & INTERFACE_HAS_PUBLIC_KEY != 0).then_some(public_key),
        listen_port: (flags & INTERFACE_HAS_LISTEN_PORT != 0).then_some(listen_port),
        fwmark: None,
        peers: peers
            .iter()
            .map(RawPeer::to_peer)
            .collect::<Result<_, _>>()?,
    })
}

/// One `WIREGUARD_PEER` as the driver wrote it, and its `WIREGUARD_ALLOWED_IP`s.
pub(super) struct RawPeer<'a> {
    pub(super) fixed: &'a [u8],
    pub(super) allowed_ips: Vec<&'a [u8]>,
    /// "peer N of M", for errors.
    what: String,
}

impl RawPeer<'_> {
    pub(super) fn flags(&self) -> u32 {
        u32_at(self.fixed, 0)
    }

    pub(super) fn public_key(&self) -> PublicKey {
        key_at(self.fixed, 8)
    }

    pub(super) fn to_peer(&self) -> Result<Peer, String> {
        let flags = self.flags();
        let allowed_ips = self
            .allowed_ips
            .iter()
            .map(|ip| allowed_ip(ip).map_err(|e| format!("{}: {e}", self.what)))
            .collect::<Result<_, _>>()?;
        let endpoint = if flags & PEER_HAS_ENDPOINT != 0 {
            sockaddr(&self.fixed[76..104])
        } else {
            None
        };
        let keepalive = u16_at(self.fixed, 72);
        Ok(Peer {
            public_key: self.public_key(),
            has_preshared_key: flags & PEER_HAS_PRESHARED_KEY != 0,
            endpoint,
            allowed_ips,
            last_handshake: filetime(u64_at(self.fixed, 120)),
            tx_bytes: u64_at(self.fixed, 104),
            rx_bytes: u64_at(self.fixed, 112),
            persistent_keepalive: (flags & PEER_HAS_PERSISTENT_KEEPALIVE != 0 && keepalive != 0)
                .then_some(keepalive),
        })
    }
}

/// The interface, then each peer with its allowed IPs, checked against the length.
pub(super) fn split(buf: &[u8]) -> Result<(&[u8], Vec<RawPeer<'_>>), String> {
    let mut r = Reader { buf, at: 0 };
    let iface = r.take(INTERFACE_SIZE, "the interface")?;
    let peers_count = u32_at(iface, 72);
    let mut peers = Vec::new();
    for index in 0..peers_count {
        let what = format!("peer {index} of {peers_count}");
        let fixed = r.take(PEER_SIZE, &what)?;
        let allowed_count = u32_at(fixed, 128);
        let allowed_ips = (0..allowed_count)
            .map(|_| r.take(ALLOWED_IP_SIZE, &what))
            .collect::<Result<_, _>>()?;
        peers.push(RawPeer {
            fixed,
            allowed_ips,
            what,
        });
    }
    Ok((iface, peers))
}

/// A configuration that changes one thing: the endpoint of the peer `key`. No interface
/// flag (so peers are not replaced, keys and port stay), and for the peer only "has
/// public key", "has endpoint" and "update only" (so its allowed IPs, keepalive and
/// preshared key stay, and a peer that is gone is not re-created).
pub(super) fn endpoint_update(key: &PublicKey, endpoint: Endpoint) -> Vec<u8> {
    let mut buf = vec![0u8; INTERFACE_SIZE + PEER_SIZE];
    buf[72..76].copy_from_slice(&1u32.to_le_bytes());
    let peer = &mut buf[INTERFACE_SIZE..];
    let flags = PEER_HAS_PUBLIC_KEY | PEER_HAS_ENDPOINT | PEER_UPDATE;
    peer[0..4].copy_from_slice(&flags.to_le_bytes());
    peer[8..40].copy_from_slice(key.as_bytes());
    write_sockaddr(&mut peer[76..104], endpoint.addr());
    buf
}

/// A configuration that sets each listed peer's allowed IPs to exactly its list, peers
/// in the order given: no interface flag, and per peer only "has public key",
/// "replace allowed IPs" and "update only", followed by its allowed IPs, so its
/// endpoint, keepalive, preshared key and session stay and a peer that is gone is not
/// re-created. The driver takes each network from whichever peer held it.
pub(super) fn allowed_ips_update(peers: &[(PublicKey, Vec<IpNet>)]) -> Vec<u8> {
    let mut buf = vec![0u8; INTERFACE_SIZE];
    buf[72..76].copy_from_slice(&(peers.len() as u32).to_le_bytes());
    for (key, nets) in peers {
        let mut peer = vec![0u8; PEER_SIZE];
        let flags = PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWED_IPS | PEER_UPDATE;
        peer[0..4].copy_from_slice(&flags.to_le_bytes());
        peer[8..40].copy_from_slice(key.as_bytes());
        peer[128..132].copy_from_slice(&(nets.len() as u32).to_le_bytes());
        buf.extend(peer);
        for net in nets {
            buf.extend(write_allowed_ip(net.trunc()));
        }
    }
    buf
}

/// One `WIREGUARD_ALLOWED_IP`: address, family, prefix length; its flags 0 ("add").
fn write_allowed_ip(net: IpNet) -> [u8; ALLOWED_IP_SIZE] {
    let mut b = [0u8; ALLOWED_IP_SIZE];
    match net.addr() {
        IpAddr::V4(v4) => {
            b[0..4].copy_from_slice(&v4.octets());
            b[16..18].copy_from_slice(&AF_INET.to_le_bytes());
        }
        IpAddr::V6(v6) => {
            b[0..16].copy_from_slice(&v6.octets());
            b[16..18].copy_from_slice(&AF_INET6.to_le_bytes());
        }
    }
    b[18] = net.prefix_len();
    b
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at + len;
        let part = self.buf.get(self.at..end).ok_or_else(|| {
            format!(
                "the driver's answer ends at byte {} inside {what}",
                self.buf.len()
            )
        })?;
        self.at = end;
        Ok(part)
    }
}

pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn key_at(b: &[u8], at: usize) -> PublicKey {
    PublicKey::from_bytes(b[at..at + 32].try_into().expect("32 bytes"))
}

/// `SOCKADDR_INET` (28 bytes); `None` for a family that is neither IPv4 nor IPv6.
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([b[2], b[3]]);
    match u16_at(b, 0) {
        AF_INET => {
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = b[8..24].try_into().expect("16 bytes");
            let ip = Ipv6Addr::from(octets);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                u32_at(b, 4),
                u32_at(b, 24),
            )))
        }
        _ => None,
    }
}

pub(super) fn write_sockaddr(b: &mut [u8], addr: SocketAddr) {
    b[2..4].copy_from_slice(&addr.port().to_be_bytes());
    match addr {
        SocketAddr::V4(v4) => {
            b[0..2].copy_from_slice(&AF_INET.to_le_bytes());
            b[4..8].copy_from_slice(&v4.ip().octets());
        }
        SocketAddr::V6(v6) => {
            b[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
            b[4..8].copy_from_slice(&v6.flowinfo().to_le_bytes());
            b[8..24].copy_from_slice(&v6.ip().octets());
            b[24..28].copy_from_slice(&v6.scope_id().to_le_bytes());
        }
    }
}

fn allowed_ip(b: &[u8]) -> Result<IpNet, String> {
    let cidr = b[18];
    let ip = match u16_at(b, 16) {
        AF_INET => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        AF_INET6 => {
            let octets: [u8; 16] = b[0..16].try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        family => return Err(format!("an allowed IP of address family {family}")),
    };
    IpNet::new(ip, cidr).map_err(|_| format!("an allowed IP {ip}/{cidr}"))
}

/// FILETIME (100 ns since 1601) to wall-clock time; 0 means never.
fn filetime(value: u64) -> Option<SystemTime> {
    (value != 0).then(|| {
        SystemTime::UNIX_EPOCH
            + Duration::from_nanos(
                value
                    .saturating_sub(FILETIME_UNIX_EPOCH)
                    .saturating_mul(100),
            )
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_config::Builder;
    use super::*;

    #[test]
    fn a_device_reads_with_peers_endpoints_handshakes_and_transfer() {
        let handshake = FILETIME_UNIX_EPOCH + 1_795_000_000 * 10_000_000;
        let buf = Builder::interface(Some(51820), Some([7; 32]), 2)
            .peer(
                1,
                Some("198.51.100.10:40000".parse().unwrap()),
                Some(25),
                handshake,
                100,
                2048,
                &[("10.99.0.3".parse().unwrap(), 32)],
            )
            .peer(
                2,
                None,
                None,
                0,
                0,
                0,
                &[
                    ("10.99.0.4".parse().unwrap(), 32),
                    ("fd00::4".parse().unwrap(), 128),
                ],
            )
            .0;
        let device = parse_device("wg0", &buf).unwrap();
        assert_eq!(device.name, "wg0");
        assert_eq!(device.listen_port, Some(51820));
        assert_eq!(device.public_key, Some(PublicKey::from_bytes([7; 32])));
        let first = &device.peers[0];
        assert_eq!(first.public_key, PublicKey::from_bytes([1; 32]));
        assert_eq!(first.endpoint, Some("198.51.100.10:40000".parse().unwrap()));
        assert_eq!(first.persistent_keepalive, Some(25));
        assert_eq!((first.tx_bytes, first.rx_bytes), (100, 2048));
        assert_eq!(
            first.last_handshake,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000))
        );
        assert_eq!(first.allowed_ips, vec!["10.99.0.3/32".parse().unwrap()]);
        let second = &device.peers[1];
        assert_eq!(second.endpoint, None, "no endpoint is not an error");
        assert_eq!(second.last_handshake, None);
        assert_eq!(second.persistent_keepalive, None);
        assert_eq!(second.allowed_ips.len(), 2);
    }

    #[test]
    fn a_short_answer_is_an_error_not_a_panic() {
        let buf = Builder::interface(None, None, 2)
            .peer(1, None, None, 0, 0, 0, &[])
            .0;
        let err = parse_device("wg0", &buf).unwrap_err();
        assert!(err.contains("peer 1 of 2"), "{err}");
        assert!(parse_device("wg0", &[0; 10]).is_err());
    }

    #[test]
    fn an_allowed_ips_update_replaces_each_listed_peers_list_and_adds_nobody() {
        let relay = PublicKey::from_bytes([1; 32]);
        let other = PublicKey::from_bytes([2; 32]);
        let nets: Vec<IpNet> = vec![
            "10.99.0.1/32".parse().unwrap(),
            // Host bits go, as the driver would drop them.
            "fd00:99::5/64".parse().unwrap(),
        ];
        let buf = allowed_ips_update(&[(relay, nets), (other, vec![])]);
        assert_eq!(
            buf.len(),
            INTERFACE_SIZE + 2 * PEER_SIZE + 2 * ALLOWED_IP_SIZE
        );
        assert_eq!(
            u32_at(&buf, 0),
            0,
            "no interface flag: peers are not replaced"
        );
        assert_eq!(u32_at(&buf, 72), 2);
        let first = &buf[INTERFACE_SIZE..];
        let flags = PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWED_IPS | PEER_UPDATE;
        assert_eq!(u32_at(first, 0), flags, "no endpoint, keepalive or key");
        let second = &buf[INTERFACE_SIZE + PEER_SIZE + 2 * ALLOWED_IP_SIZE..];
        assert_eq!(u32_at(second, 0), flags);
        assert_eq!(u32_at(second, 128), 0, "an empty list leaves the peer none");
        // Read back as the driver would: the lists, in order.
        let device = parse_device("wg0", &buf).unwrap();
        assert_eq!(device.peers[0].public_key, relay);
        assert_eq!(
            device.peers[0].allowed_ips,
            vec![
                "10.99.0.1/32".parse::<IpNet>().unwrap(),
                "fd00:99::/64".parse().unwrap()
            ]
        );
        assert_eq!(device.peers[1].public_key, other);
        assert_eq!(device.peers[1].allowed_ips, vec![]);
        assert_eq!(device.peers[1].endpoint, None);
    }

    #[test]
    fn an_endpoint_update_touches_only_that_peer_and_never_adds_one() {
        let key = PublicKey::from_bytes([9; 32]);
        let buf = endpoint_update(&key, "[2001:db8::1]:51820".parse().unwrap());
        assert_eq!(buf.len(), INTERFACE_SIZE + PEER_SIZE);
        assert_eq!(
            u32_at(&buf, 0),
            0,
            "no interface flag: peers are not replaced"
        );
        assert_eq!(u32_at(&buf, 72), 1);
        let peer = &buf[INTERFACE_SIZE..];
        assert_eq!(
            u32_at(peer, 0),
            PEER_HAS_PUBLIC_KEY | PEER_HAS_ENDPOINT | PEER_UPDATE
        );
        assert_eq!(u32_at(peer, 128), 0, "allowed IPs untouched");
        // What we write reads back as the same peer and endpoint.
        let device = parse_device("wg0", &buf).unwrap();
        assert_eq!(device.peers[0].public_key, key);
        assert_eq!(
            device.peers[0].endpoint,
            Some("[2001:db8::1]:51820".parse().unwrap())
        );
        let v4 = endpoint_update(&key, "192.0.2.7:1".parse().unwrap());
        assert_eq!(
            parse_device("wg0", &v4).unwrap().peers[0].endpoint,
            Some("192.0.2.7:1".parse().unwrap())
        );
    }
}

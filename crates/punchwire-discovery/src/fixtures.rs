//! The device the engine's and the core's tests share: a registry peer and two peers
//! to discover.

use std::net::SocketAddr;

use punchwire_wg::{Device, Peer, PublicKey};

pub const IFACE: &str = "wg0";

pub fn key(n: u8) -> PublicKey {
    PublicKey::from_bytes([n; 32])
}

pub fn registry(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 99, 0, n], 53))
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn peer(n: u8) -> Peer {
    Peer {
        has_preshared_key: true,
        allowed_ips: vec![format!("10.99.0.{n}/32").parse().unwrap()],
        persistent_keepalive: Some(5),
        ..Peer::new(key(n))
    }
}

/// A device whose peer 1 is the registry (at 203.0.113.1, DNS on 10.99.0.1) and peers
/// 2 and 3 are to be discovered.
pub fn device() -> Device {
    let mut reg = peer(1);
    reg.endpoint = Some(addr("203.0.113.1:51820"));
    Device {
        name: IFACE.into(),
        public_key: Some(key(100)),
        listen_port: Some(51820),
        fwmark: None,
        peers: vec![reg, peer(2), peer(3)],
    }
}

//! What a WireGuard device holds, as every backend reports it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::key::PublicKey;

/// One WireGuard interface and its peers, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    /// `None` where the implementation does not say (boringtun omits its own key).
    pub public_key: Option<PublicKey>,
    pub listen_port: Option<u16>,
    pub fwmark: Option<u32>,
    pub peers: Vec<Peer>,
}

impl Device {
    pub fn peer(&self, key: &PublicKey) -> Option<&Peer> {
        self.peers.iter().find(|p| &p.public_key == key)
    }

    /// Every AllowedIPs range of every peer: the tunnel's address space as this device
    /// routes it.
    pub fn allowed_ips(&self) -> impl Iterator<Item = &IpNet> {
        self.peers.iter().flat_map(|p| p.allowed_ips.iter())
    }
}

/// One peer of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub public_key: PublicKey,
    /// Whether a preshared key is configured; the key itself never leaves the backend.
    pub has_preshared_key: bool,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    /// When the latest handshake completed, as wall-clock time; `None` if never.
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Seconds between keepalives; `None` when off.
    pub persistent_keepalive: Option<u16>,
}

/// WireGuard's REJECT_AFTER_TIME: no packet is accepted on a session's keys after this
/// long, so a peer whose latest handshake is older has no session.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

impl Peer {
    /// A peer with this key and nothing else: no endpoint, no allowed IPs, never a
    /// handshake, no traffic. Tests and readers start from it and set what they know.
    pub const fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            has_preshared_key: false,
            endpoint: None,
            allowed_ips: Vec::new(),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: None,
        }
    }

    /// Whether WireGuard holds a session with this peer at `now`: a handshake younger
    /// than REJECT_AFTER_TIME (180 s), after which WireGuard drops a session's keys.
    pub fn has_session(&self, now: SystemTime) -> bool {
        self.handshake_age(now)
            .is_some_and(|age| age < REJECT_AFTER_TIME)
    }

    /// How long ago the latest handshake was, or `None` if there never was one. A
    /// handshake stamped in the future (clock steps) counts as just now.
    pub fn handshake_age(&self, now: SystemTime) -> Option<Duration> {
        self.last_handshake
            .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
    }
}

/// An address a peer can be reached at: a unicast IP and a port that is not 0.
///
/// Built at the edge (DNS answers, the command line), so that nothing deeper ever has
/// to ask whether a `SocketAddr` is usable as a WireGuard endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "SocketAddr", into = "SocketAddr")]
pub struct Endpoint(SocketAddr);

/// Why an address cannot be a WireGuard endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("port 0 is not a reachable port")]
    PortZero,
    #[error("{0} is the unspecified address")]
    Unspecified(IpAddr),
    #[error("{0} is a multicast address")]
    Multicast(IpAddr),
    #[error("{0} is the broadcast address")]
    Broadcast(IpAddr),
    #[error("{input:?} is not an address:port ({reason})")]
    Syntax { input: String, reason: String },
}

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Result<Self, EndpointError> {
        let ip = addr.ip().to_canonical();
        if addr.port() == 0 {
            return Err(EndpointError::PortZero);
        }
        if ip.is_unspecified() {
            return Err(EndpointError::Unspecified(ip));
        }
        if ip.is_multicast() {
            return Err(EndpointError::Multicast(ip));
        }
        if let IpAddr::V4(v4) = ip {
            if v4.is_broadcast() {
                return Err(EndpointError::Broadcast(ip));
            }
        }
        Ok(Self(SocketAddr::new(ip, addr.port())))
    }

    pub fn addr(&self) -> SocketAddr {
        self.0
    }

    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }
}

impl TryFrom<SocketAddr> for Endpoint {
    type Error = EndpointError;

    fn try_from(addr: SocketAddr) -> Result<Self, Self::Error> {
        Self::new(addr)
    }
}

impl From<Endpoint> for SocketAddr {
    fn from(e: Endpoint) -> Self {
        e.0
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let addr: SocketAddr =
            s.parse()
                .map_err(|e: std::net::AddrParseError| EndpointError::Syntax {
                    input: s.to_owned(),
                    reason: e.to_string(),
                })?;
        Self::new(addr)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_rejects_what_cannot_be_reached() {
        assert_eq!(
            "192.0.2.1:0".parse::<Endpoint>(),
            Err(EndpointError::PortZero)
        );
        assert!(matches!(
            "0.0.0.0:51820".parse::<Endpoint>(),
            Err(EndpointError::Unspecified(_))
        ));
        assert!(matches!(
            "[::]:51820".parse::<Endpoint>(),
            Err(EndpointError::Unspecified(_))
        ));
        assert!(matches!(
            "224.0.0.1:51820".parse::<Endpoint>(),
            Err(EndpointError::Multicast(_))
        ));
        assert!(matches!(
            "[ff02::1]:51820".parse::<Endpoint>(),
            Err(EndpointError::Multicast(_))
        ));
        assert!(matches!(
            "255.255.255.255:51820".parse::<Endpoint>(),
            Err(EndpointError::Broadcast(_))
        ));
        let err = "nonsense".parse::<Endpoint>().unwrap_err().to_string();
        assert!(err.contains("\"nonsense\""), "{err}");
    }

    #[test]
    fn endpoint_accepts_unicast_and_unmaps_v4_in_v6() {
        let e: Endpoint = "[::ffff:198.51.100.10]:51820".parse().unwrap();
        assert_eq!(e.to_string(), "198.51.100.10:51820");
        let e: Endpoint = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(e.port(), 1);
    }

    #[test]
    fn handshake_age_is_never_negative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut peer = Peer {
            public_key: PublicKey::from_bytes([1; 32]),
            has_preshared_key: false,
            endpoint: None,
            allowed_ips: vec![],
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: None,
        };
        assert_eq!(peer.handshake_age(now), None);
        peer.last_handshake = Some(now - Duration::from_secs(30));
        assert_eq!(peer.handshake_age(now), Some(Duration::from_secs(30)));
        peer.last_handshake = Some(now + Duration::from_secs(5));
        assert_eq!(peer.handshake_age(now), Some(Duration::ZERO));
    }
}

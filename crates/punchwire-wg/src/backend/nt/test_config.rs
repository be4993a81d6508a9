//! Configurations as the driver writes them, for the tests of this backend.

use std::net::{IpAddr, SocketAddr};

use super::layout::{
    u32_at, write_sockaddr, AF_INET, AF_INET6, ALLOWED_IP_SIZE, INTERFACE_HAS_LISTEN_PORT,
    INTERFACE_HAS_PUBLIC_KEY, INTERFACE_SIZE, PEER_HAS_ENDPOINT, PEER_HAS_PERSISTENT_KEEPALIVE,
    PEER_HAS_PRESHARED_KEY, PEER_HAS_PUBLIC_KEY, PEER_SIZE,
};

/// A configuration as the driver writes it: one interface, then each peer with its
/// allowed IPs.
pub(crate) struct Builder(pub(crate) Vec<u8>, usize);

impl Builder {
    pub(crate) fn interface(port: Option<u16>, public: Option<[u8; 32]>, peers: u32) -> Self {
        let mut b = vec![0u8; INTERFACE_SIZE];
        let mut flags = 2; // has private key: present, never read
        if let Some(port) = port {
            flags |= INTERFACE_HAS_LISTEN_PORT;
            b[4..6].copy_from_slice(&port.to_le_bytes());
        }
        if let Some(key) = public {
            flags |= INTERFACE_HAS_PUBLIC_KEY;
            b[38..70].copy_from_slice(&key);
        }
        b[6..38].copy_from_slice(&[0xAA; 32]);
        b[0..4].copy_from_slice(&flags.to_le_bytes());
        b[72..76].copy_from_slice(&peers.to_le_bytes());
        Self(b, 0)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn peer(
        mut self,
        key: u8,
        endpoint: Option<SocketAddr>,
        keepalive: Option<u16>,
        handshake: u64,
        tx: u64,
        rx: u64,
        allowed: &[(IpAddr, u8)],
    ) -> Self {
        let mut p = vec![0u8; PEER_SIZE];
        let mut flags = PEER_HAS_PUBLIC_KEY;
        p[8..40].copy_from_slice(&[key; 32]);
        if let Some(addr) = endpoint {
            flags |= PEER_HAS_ENDPOINT;
            write_sockaddr(&mut p[76..104], addr);
        }
        if let Some(k) = keepalive {
            flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
            p[72..74].copy_from_slice(&k.to_le_bytes());
        }
        p[0..4].copy_from_slice(&flags.to_le_bytes());
        p[104..112].copy_from_slice(&tx.to_le_bytes());
        p[112..120].copy_from_slice(&rx.to_le_bytes());
        p[120..128].copy_from_slice(&handshake.to_le_bytes());
        p[128..132].copy_from_slice(&(allowed.len() as u32).to_le_bytes());
        self.1 = self.0.len();
        self.0.extend(p);
        for (ip, cidr) in allowed {
            let mut a = vec![0u8; ALLOWED_IP_SIZE];
            match ip {
                IpAddr::V4(v4) => {
                    a[0..4].copy_from_slice(&v4.octets());
                    a[16..18].copy_from_slice(&AF_INET.to_le_bytes());
                }
                IpAddr::V6(v6) => {
                    a[0..16].copy_from_slice(&v6.octets());
                    a[16..18].copy_from_slice(&AF_INET6.to_le_bytes());
                }
            }
            a[18] = *cidr;
            self.0.extend(a);
        }
        self
    }

    /// Gives the peer added last this preshared key.
    pub(crate) fn with_preshared_key(mut self, key: [u8; 32]) -> Self {
        let peer = &mut self.0[self.1..self.1 + PEER_SIZE];
        let flags = u32_at(peer, 0) | PEER_HAS_PRESHARED_KEY;
        peer[0..4].copy_from_slice(&flags.to_le_bytes());
        peer[40..72].copy_from_slice(&key);
        self
    }
}

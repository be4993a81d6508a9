//! A nudge: one small UDP datagram into the tunnel, to the peer's own tunnel address,
//! right after its endpoint is set. WireGuard starts a handshake only when it has a
//! packet to send, so without this the hole is punched at the next keepalive or
//! handshake retry (wireguard-go retries every 5 s); with it, at once. Both sides learn
//! each other's endpoint from the registry at about the same time, so both send, and
//! both NATs open.
//!
//! The datagram goes to the discard port and is bound to the WireGuard interface, so it
//! can only ever travel through the tunnel: if the interface cannot be bound, nothing
//! is sent rather than risk the packet leaving by the default route.

use std::net::SocketAddr;

use punchwire_wg::Peer;

/// RFC 863's discard service: whatever answers (or refuses) there, nothing happens.
const DISCARD_PORT: u16 = 9;

/// Where to send the nudge: the peer's first single-host tunnel address (a /32 or a
/// /128). A peer that routes whole networks has no address of its own we could name.
pub fn target(peer: &Peer) -> Option<SocketAddr> {
    peer.allowed_ips
        .iter()
        .find(|net| net.prefix_len() == net.max_prefix_len())
        .map(|net| SocketAddr::new(net.addr(), DISCARD_PORT))
}

/// Sends the nudge through `iface`. Failing to is not an error anyone must act on: the
/// keepalive punches the hole a little later.
pub async fn send(iface: &str, target: SocketAddr) {
    if let Err(e) = try_send(iface, target).await {
        tracing::debug!(%iface, %target, error = %e, "no nudge sent; the keepalive will do");
    }
}

#[cfg(target_os = "linux")]
async fn try_send(iface: &str, target: SocketAddr) -> std::io::Result<()> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    let any: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    socket.bind_device(Some(iface.as_bytes()))?;
    socket.send_to(b"punchwire", target).await?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn try_send(_iface: &str, _target: SocketAddr) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "binding a socket to an interface is only done on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::PublicKey;

    fn peer(allowed: &[&str]) -> Peer {
        Peer {
            allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
            persistent_keepalive: Some(25),
            ..Peer::new(PublicKey::from_bytes([1; 32]))
        }
    }

    #[test]
    fn the_nudge_goes_to_the_peer_s_own_address_only() {
        assert_eq!(
            target(&peer(&["10.99.0.0/24", "10.99.0.3/32"])),
            Some("10.99.0.3:9".parse().unwrap())
        );
        assert_eq!(
            target(&peer(&["fd00::3/128"])),
            Some("[fd00::3]:9".parse().unwrap())
        );
        assert_eq!(target(&peer(&["0.0.0.0/0", "192.168.5.0/24"])), None);
        assert_eq!(target(&peer(&[])), None);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn without_its_interface_nothing_is_sent() {
        // No such interface: binding fails, so the datagram cannot take another route.
        let sent = try_send("pwnudge-none0", "192.0.2.1:9".parse().unwrap()).await;
        assert!(sent.is_err(), "a nudge left without its interface");
    }
}

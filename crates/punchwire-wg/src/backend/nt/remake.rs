//! First contact on wireguard-nt: which write gives a peer its new endpoint, decided on
//! the configuration as the driver has it right now.
//!
//! wireguard-nt, a port of the Linux kernel's WireGuard, sends at most one handshake
//! initiation per REKEY_TIMEOUT (5 s), and a peer with no endpoint has usually just
//! tried one, so a first endpoint would wait up to 5 s. A peer the driver creates may
//! initiate at once, and one with a keepalive does. So a peer without a session is made
//! anew: one `WireGuardSetConfiguration` whose first peer removes it and whose second
//! creates it with its preshared key, keepalive and allowed IPs as read and the new
//! endpoint. The driver applies a configuration's peers in order under one lock (its
//! `SetInterface` holds the device update lock over every `SetPeer`).

use std::time::SystemTime;

use super::layout::{
    self, split, RawPeer, ALLOWED_IP_SIZE, INTERFACE_SIZE, PEER_HAS_ENDPOINT,
    PEER_HAS_PERSISTENT_KEEPALIVE, PEER_HAS_PRESHARED_KEY, PEER_HAS_PUBLIC_KEY, PEER_REMOVE,
    PEER_SIZE,
};
use crate::device::Endpoint;
use crate::key::PublicKey;

/// The write that gives a peer its endpoint.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EndpointWrite {
    /// The peer already has it.
    Nothing,
    /// The peer has a session: only its endpoint moves (see [`layout::endpoint_update`]).
    Move,
    /// The peer has no session: this configuration makes it anew.
    Remake(Vec<u8>),
    /// The adapter no longer has the peer.
    PeerGone,
}

/// Decides on `config`, the bytes `WireGuardGetConfiguration` wrote just now.
pub(super) fn endpoint_write(
    config: &[u8],
    key: &PublicKey,
    endpoint: Endpoint,
    now: SystemTime,
) -> Result<EndpointWrite, String> {
    let (_, peers) = split(config)?;
    let Some(raw) = peers.iter().find(|raw| raw.public_key() == *key) else {
        return Ok(EndpointWrite::PeerGone);
    };
    let peer = raw.to_peer()?;
    Ok(if peer.endpoint == Some(endpoint.addr()) {
        EndpointWrite::Nothing
    } else if peer.has_session(now) {
        EndpointWrite::Move
    } else {
        EndpointWrite::Remake(remake(raw, endpoint))
    })
}

/// Remove, then create with everything the driver reported but the counters and the
/// handshake time (a new peer has neither).
fn remake(raw: &RawPeer<'_>, endpoint: Endpoint) -> Vec<u8> {
    let mut buf = vec![0u8; INTERFACE_SIZE];
    // No interface flag: the interface and every other peer stay as they are.
    buf[72..76].copy_from_slice(&2u32.to_le_bytes());

    let mut remove = vec![0u8; PEER_SIZE];
    remove[0..4].copy_from_slice(&(PEER_HAS_PUBLIC_KEY | PEER_REMOVE).to_le_bytes());
    remove[8..40].copy_from_slice(&raw.fixed[8..40]);
    buf.extend(remove);

    let read_flags = raw.flags();
    let mut create = vec![0u8; PEER_SIZE];
    let mut flags = PEER_HAS_PUBLIC_KEY | PEER_HAS_ENDPOINT;
    create[8..40].copy_from_slice(&raw.fixed[8..40]);
    if read_flags & PEER_HAS_PRESHARED_KEY != 0 {
        flags |= PEER_HAS_PRESHARED_KEY;
        create[40..72].copy_from_slice(&raw.fixed[40..72]);
    }
    if read_flags & PEER_HAS_PERSISTENT_KEEPALIVE != 0 {
        flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
        create[72..74].copy_from_slice(&raw.fixed[72..74]);
    }
    create[0..4].copy_from_slice(&flags.to_le_bytes());
    layout::write_sockaddr(&mut create[76..104], endpoint.addr());
    create[128..132].copy_from_slice(&(raw.allowed_ips.len() as u32).to_le_bytes());
    buf.extend(create);
    for ip in &raw.allowed_ips {
        // Address, family and prefix length as read; the flags stay 0 ("add").
        let mut allowed = vec![0u8; ALLOWED_IP_SIZE];
        allowed[..19].copy_from_slice(&ip[..19]);
        buf.extend(allowed);
    }
    buf
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::nt::layout::{parse_device, u16_at, u32_at};
    use crate::backend::nt::test_config::Builder;

    fn remade(write: EndpointWrite) -> Vec<u8> {
        match write {
            EndpointWrite::Remake(config) => config,
            other => panic!("not remade: {other:?}"),
        }
    }

    const NEW: &str = "198.51.100.7:40001";

    #[test]
    fn a_peer_without_a_session_is_removed_then_created_whole() {
        let config = Builder::interface(Some(51820), Some([7; 32]), 2)
            .peer(
                1,
                None,
                Some(25),
                0,
                0,
                0,
                &[("10.99.0.3".parse().unwrap(), 32)],
            )
            .with_preshared_key([5; 32])
            .peer(
                2,
                None,
                None,
                0,
                0,
                0,
                &[("10.99.0.4".parse().unwrap(), 32)],
            )
            .0;
        let key = PublicKey::from_bytes([1; 32]);
        let write = endpoint_write(&config, &key, NEW.parse().unwrap(), SystemTime::now());
        let buf = remade(write.unwrap());

        assert_eq!(u32_at(&buf, 0), 0, "no interface flag: the peers stay");
        assert_eq!(u32_at(&buf, 72), 2);
        let remove = &buf[INTERFACE_SIZE..INTERFACE_SIZE + PEER_SIZE];
        assert_eq!(u32_at(remove, 0), PEER_HAS_PUBLIC_KEY | PEER_REMOVE);
        assert_eq!(&remove[8..40], &[1; 32]);
        assert_eq!(u32_at(remove, 128), 0);

        let create = &buf[INTERFACE_SIZE + PEER_SIZE..];
        assert_eq!(
            u32_at(create, 0),
            PEER_HAS_PUBLIC_KEY
                | PEER_HAS_ENDPOINT
                | PEER_HAS_PRESHARED_KEY
                | PEER_HAS_PERSISTENT_KEEPALIVE
        );
        assert_eq!(&create[40..72], &[5; 32], "the preshared key as read");
        assert_eq!(u16_at(create, 72), 25, "the keepalive as read");
        assert_eq!(
            buf.len(),
            INTERFACE_SIZE + 2 * PEER_SIZE + ALLOWED_IP_SIZE,
            "its one allowed IP follows it"
        );
        // Read back as the driver would: the same peer at the new endpoint, with its
        // allowed IPs, keepalive and preshared key, and no counters or handshake.
        let device = parse_device("wg0", &buf).unwrap();
        let peer = &device.peers[1];
        assert_eq!(peer.public_key, key);
        assert_eq!(peer.endpoint, Some(NEW.parse().unwrap()));
        assert_eq!(peer.allowed_ips, vec!["10.99.0.3/32".parse().unwrap()]);
        assert_eq!(peer.persistent_keepalive, Some(25));
        assert!(peer.has_preshared_key);
        assert_eq!(
            (peer.rx_bytes, peer.tx_bytes, peer.last_handshake),
            (0, 0, None)
        );
    }

    #[test]
    fn a_peer_without_a_preshared_key_or_keepalive_is_created_without() {
        let config = Builder::interface(None, None, 1)
            .peer(
                1,
                Some("192.0.2.1:51820".parse().unwrap()),
                None,
                0,
                10,
                0,
                &[("fd00::3".parse().unwrap(), 128)],
            )
            .0;
        let key = PublicKey::from_bytes([1; 32]);
        let write = endpoint_write(&config, &key, NEW.parse().unwrap(), SystemTime::now());
        let buf = remade(write.unwrap());
        let create = &buf[INTERFACE_SIZE + PEER_SIZE..];
        assert_eq!(u32_at(create, 0), PEER_HAS_PUBLIC_KEY | PEER_HAS_ENDPOINT);
        let peer = &parse_device("wg0", &buf).unwrap().peers[1];
        assert_eq!(peer.allowed_ips, vec!["fd00::3/128".parse().unwrap()]);
    }

    #[test]
    fn a_peer_with_a_session_only_moves_and_one_at_the_endpoint_is_left_alone() {
        let now = SystemTime::now();
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 10;
        let handshake = 116_444_736_000_000_000 + seconds * 10_000_000;
        let at = "192.0.2.1:51820";
        let config = Builder::interface(None, None, 1)
            .peer(1, Some(at.parse().unwrap()), None, handshake, 1, 1, &[])
            .0;
        let key = PublicKey::from_bytes([1; 32]);
        let write = |to: &str| endpoint_write(&config, &key, to.parse().unwrap(), now).unwrap();
        assert_eq!(write(NEW), EndpointWrite::Move);
        assert_eq!(write(at), EndpointWrite::Nothing);
        // 180 s on, the session is gone and the peer is made anew.
        let later = endpoint_write(
            &config,
            &key,
            NEW.parse().unwrap(),
            now + Duration::from_secs(180),
        );
        remade(later.unwrap());
    }

    #[test]
    fn a_peer_the_adapter_no_longer_has_is_gone_not_created() {
        let config = Builder::interface(None, None, 1)
            .peer(1, None, None, 0, 0, 0, &[])
            .0;
        let stranger = PublicKey::from_bytes([9; 32]);
        let write = endpoint_write(&config, &stranger, NEW.parse().unwrap(), SystemTime::now());
        assert_eq!(write.unwrap(), EndpointWrite::PeerGone);
        assert!(endpoint_write(
            &config[..100],
            &stranger,
            NEW.parse().unwrap(),
            SystemTime::now()
        )
        .is_err());
    }
}

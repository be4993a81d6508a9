//! Test keys and peers, so that every crate's tests build them alike.

use punchwire_wg::{Peer, PublicKey};

/// Test key number `n`. Keys sort as their numbers do (`n` is the first two bytes, big
/// endian), and the other bytes are not zero, so that no test key is the all-zero key that
/// WireGuard reads as "no key".
pub fn key(n: u16) -> PublicKey {
    let mut bytes = [0x5a; 32];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    PublicKey::from_bytes(bytes)
}

/// A peer with `key`, `endpoint` and `allowed` IPs, as a device lists it; nothing else
/// set (no handshake, no traffic, no keepalive). Panics on an address that does not parse,
/// as a test's literal should.
pub fn peer(key: PublicKey, endpoint: Option<&str>, allowed: &[&str]) -> Peer {
    Peer {
        endpoint: endpoint.map(|e| {
            e.parse()
                .unwrap_or_else(|err| panic!("endpoint {e:?}: {err}"))
        }),
        allowed_ips: allowed
            .iter()
            .map(|net| {
                net.parse()
                    .unwrap_or_else(|err| panic!("allowed IPs {net:?}: {err}"))
            })
            .collect(),
        ..Peer::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_sort_as_their_numbers() {
        let keys: Vec<PublicKey> = [0, 1, 2, 255, 256, u16::MAX].map(key).to_vec();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys.iter().all(|k| k.as_bytes() != &[0; 32]));
    }

    #[test]
    fn a_peer_has_what_it_was_given_and_nothing_else() {
        let p = peer(
            key(1),
            Some("198.51.100.1:4000"),
            &["10.0.0.1/32", "fd00::1/128"],
        );
        assert_eq!(p.public_key, key(1));
        assert_eq!(p.endpoint, Some("198.51.100.1:4000".parse().unwrap()));
        assert_eq!(p.allowed_ips.len(), 2);
        assert_eq!(p.last_handshake, None);
        assert_eq!(p.persistent_keepalive, None);
        assert_eq!(peer(key(2), None, &[]).endpoint, None);
    }
}

//! What a `set_allowed_ips` request leaves on a device, worked out the way WireGuard
//! applies it: for the backends that must write each peer whole (boringtun) and for
//! the in-memory one.

use ipnet::IpNet;

use crate::key::PublicKey;

/// Each peer's allowed IPs after `changes`, applied in order to `current` (every peer
/// of the device with its allowed IPs): a listed peer gets exactly its list, and a
/// network listed for one peer is taken from every other, as WireGuard's routing table
/// holds each network for one peer only. Networks are kept as WireGuard stores them,
/// without host bits, each once. Peers not in `current` are skipped: the caller says
/// they are missing before it writes anything.
pub(crate) fn after(
    current: &[(PublicKey, Vec<IpNet>)],
    changes: &[(PublicKey, Vec<IpNet>)],
) -> Vec<(PublicKey, Vec<IpNet>)> {
    let mut peers: Vec<(PublicKey, Vec<IpNet>)> = current
        .iter()
        .map(|(key, nets)| (*key, nets.iter().map(IpNet::trunc).collect()))
        .collect();
    for (key, nets) in changes {
        let Some(at) = peers.iter().position(|(k, _)| k == key) else {
            continue;
        };
        peers[at].1.clear();
        for net in nets.iter().map(IpNet::trunc) {
            for (_, held) in &mut peers {
                held.retain(|n| *n != net);
            }
            peers[at].1.push(net);
        }
    }
    peers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_network_listed_for_one_peer_is_taken_from_the_other() {
        let current = [
            (key(1), nets(&["10.99.0.2/32", "10.98.0.0/16"])),
            (key(2), nets(&["10.99.0.1/32"])),
        ];
        let moved = after(
            &current,
            &[(key(2), nets(&["10.99.0.1/32", "10.99.0.2/32"]))],
        );
        assert_eq!(
            moved,
            [
                (key(1), nets(&["10.98.0.0/16"])),
                (key(2), nets(&["10.99.0.1/32", "10.99.0.2/32"])),
            ]
        );
        // And back: exactly as before.
        let back = after(
            &moved,
            &[
                (key(2), nets(&["10.99.0.1/32"])),
                (key(1), nets(&["10.99.0.2/32", "10.98.0.0/16"])),
            ],
        );
        assert_eq!(back, current);
    }

    #[test]
    fn later_entries_win_and_overlapping_networks_stay() {
        let current = [(key(1), nets(&["10.0.0.0/8"])), (key(2), vec![])];
        let result = after(
            &current,
            &[
                (key(1), nets(&["10.0.0.0/8", "10.1.0.0/16"])),
                // Host bits are dropped, as WireGuard does; the same network twice
                // is held once, by the peer listed last.
                (key(2), nets(&["10.1.2.3/16", "10.1.0.0/16"])),
            ],
        );
        assert_eq!(
            result,
            [
                (key(1), nets(&["10.0.0.0/8"])),
                (key(2), nets(&["10.1.0.0/16"])),
            ]
        );
    }

    #[test]
    fn an_empty_list_takes_everything_and_an_unknown_peer_changes_nothing() {
        let current = [(key(1), nets(&["10.99.0.2/32"]))];
        assert_eq!(after(&current, &[(key(1), vec![])]), [(key(1), vec![])]);
        assert_eq!(
            after(&current, &[(key(9), nets(&["10.99.0.2/32"]))]),
            current
        );
    }
}

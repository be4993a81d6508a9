//! Which of this machine's addresses a peer could reach it at, directly.

use std::net::{IpAddr, SocketAddr};

use punchwire_wg::LocalAddresses;

use crate::address_class::{is_global_ipv6, never_a_peer};

/// How many candidates are registered at most: the registry keeps no more.
pub const MAX_CANDIDATES: usize = 8;

/// The addresses of this machine worth a peer's try, each with `port` (the WireGuard
/// listen port), best first: private IPv4 (a LAN, where two peers behind one router
/// meet), then global IPv6 (no NAT in the way), then unique-local IPv6 and any other
/// IPv4 (a public address on an interface needs no NAT traversal either).
///
/// Never the WireGuard interface's own addresses or anything in its subnets (a path
/// through the tunnel is no path to the tunnel), and never an address that is no
/// other machine's way here (loopback, link-local, multicast, unspecified).
pub fn gather(local: &LocalAddresses, port: u16) -> Vec<SocketAddr> {
    let mut found: Vec<(u8, IpAddr)> = local
        .host
        .iter()
        .copied()
        .filter(|ip| !local.interface.iter().any(|net| net.contains(ip)))
        .filter(|&ip| never_a_peer(ip).is_none())
        .filter_map(|ip| rank(ip).map(|rank| (rank, ip)))
        .collect();
    found.sort();
    found.dedup();
    found
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|(_, ip)| SocketAddr::new(ip, port))
        .collect()
}

/// Lower is tried first; `None` is never registered.
fn rank(ip: IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) if v4.is_private() => Some(0),
        IpAddr::V4(_) => Some(3),
        IpAddr::V6(_) if is_global_ipv6(ip) => Some(1),
        IpAddr::V6(v6) if v6.is_unique_local() => Some(2),
        // Link-local, IPv4-mapped and the rest: no peer's way here.
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(host: &[&str], interface: &[&str]) -> LocalAddresses {
        LocalAddresses {
            host: host.iter().map(|ip| ip.parse().unwrap()).collect(),
            interface: interface.iter().map(|net| net.parse().unwrap()).collect(),
        }
    }

    fn addrs(found: Vec<SocketAddr>) -> Vec<String> {
        found.into_iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn lan_first_then_global_ipv6_then_the_rest_with_the_listen_port() {
        let found = gather(
            &local(
                &[
                    "203.0.113.5",
                    "fd12::5",
                    "2001:db8:1::5",
                    "192.168.1.5",
                    "127.0.0.1",
                    "::1",
                    "fe80::5",
                    "169.254.1.1",
                    "10.99.0.2",
                    "fd00:99::2",
                ],
                &["10.99.0.2/24", "fd00:99::2/64"],
            ),
            51820,
        );
        assert_eq!(
            addrs(found),
            [
                "192.168.1.5:51820",
                "[2001:db8:1::5]:51820",
                "[fd12::5]:51820",
                "203.0.113.5:51820",
            ]
        );
    }

    #[test]
    fn nothing_inside_the_tunnel_s_subnets_even_on_another_interface() {
        let found = gather(&local(&["10.99.0.7", "10.1.0.7"], &["10.99.0.2/24"]), 1);
        assert_eq!(addrs(found), ["10.1.0.7:1"]);
    }

    #[test]
    fn at_most_as_many_as_the_registry_keeps_the_best_ones() {
        let mut host: Vec<String> = (1..=10).map(|n| format!("203.0.113.{n}")).collect();
        host.push("192.168.7.7".into());
        let host: Vec<&str> = host.iter().map(String::as_str).collect();
        let found = gather(&local(&host, &[]), 51820);
        assert_eq!(found.len(), MAX_CANDIDATES);
        assert_eq!(found[0].to_string(), "192.168.7.7:51820");
    }
}

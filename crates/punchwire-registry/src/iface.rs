//! The addresses of the WireGuard interface itself: where a registry listens by default.

use std::io;
use std::net::IpAddr;

/// The IP addresses assigned to interface `iface`, IPv6 link-local ones left out (they
/// cannot be bound without a scope and no peer reaches them through the tunnel).
pub fn tunnel_addresses(iface: &str) -> io::Result<Vec<IpAddr>> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| i.name == iface)
        .map(|i| i.ip())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(_) => true,
        })
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_its_address_and_unknown_interfaces_have_none() {
        let lo = tunnel_addresses("lo").unwrap();
        assert!(
            lo.contains(&"127.0.0.1".parse::<IpAddr>().unwrap()),
            "{lo:?}"
        );
        assert!(tunnel_addresses("pw-nonexistent0").unwrap().is_empty());
    }
}

//! Which addresses a peer may give as its candidates: addresses another peer could send
//! WireGuard packets to. The peers' discovery judges every endpoint again; this keeps
//! what can never work out of the zone in the first place.

use std::net::IpAddr;

use ipnet::IpNet;

/// Why an address cannot be a candidate, in a few words; `None` when it can.
pub fn unfit(ip: IpAddr, own_ranges: &[IpNet]) -> Option<&'static str> {
    let why = match ip {
        IpAddr::V4(v4) if v4.octets()[0] == 0 => "unspecified (0.0.0.0/8)",
        IpAddr::V4(v4) if v4.is_loopback() => "loopback",
        IpAddr::V4(v4) if v4.is_multicast() => "multicast",
        IpAddr::V4(v4) if v4.is_link_local() => "link-local",
        IpAddr::V4(v4) if v4.octets()[0] >= 240 => "broadcast or reserved (240.0.0.0/4)",
        IpAddr::V6(v6) if v6.is_unspecified() => "unspecified",
        IpAddr::V6(v6) if v6.is_loopback() => "loopback",
        IpAddr::V6(v6) if v6.is_multicast() => "multicast",
        IpAddr::V6(v6) if v6.is_unicast_link_local() => "link-local",
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            "IPv4-mapped (an IPv4 address goes in an A record)"
        }
        _ if own_ranges.iter().any(|range| range.contains(&ip)) => {
            "inside the peer's own AllowedIPs (its tunnel address)"
        }
        _ => return None,
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unicast_addresses_outside_the_tunnel_are_candidates() {
        let own: Vec<IpNet> = vec![
            "10.9.0.2/32".parse().unwrap(),
            "fd00::2/128".parse().unwrap(),
        ];
        let fit = |ip: &str| unfit(ip.parse().unwrap(), &own).is_none();
        for good in [
            "192.168.1.20",
            "100.64.0.7",
            "203.0.113.9",
            "2001:db8::20",
            "fd12::20",
        ] {
            assert!(fit(good), "{good}");
        }
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "224.0.0.251",
            "169.254.1.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "ff02::1",
            "fe80::1",
            "::ffff:192.168.1.20",
            "10.9.0.2",
            "fd00::2",
        ] {
            assert!(!fit(bad), "{bad}");
        }
    }
}

//! This machine's own addresses, which no peer's endpoint can be: the WireGuard
//! interface's (with their prefix, whose subnet is the tunnel's) and every other
//! interface's. Read from the system each time (one `getifaddrs`), since they change.

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;

/// The addresses of this machine, as of one reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddresses {
    /// Every address of every interface, the WireGuard one included.
    pub host: Vec<IpAddr>,
    /// The WireGuard interface's own addresses with their prefix length, e.g.
    /// `10.99.0.2/24`: the subnet is the tunnel's, the address is this peer's.
    pub interface: Vec<IpNet>,
}

/// Reads this machine's addresses, and which of them interface `iface` holds.
pub fn local_addresses(iface: &str) -> io::Result<LocalAddresses> {
    let mut local = LocalAddresses::default();
    for found in if_addrs::get_if_addrs()? {
        let (ip, prefix) = match &found.addr {
            if_addrs::IfAddr::V4(v4) => (IpAddr::V4(v4.ip), v4.prefixlen),
            if_addrs::IfAddr::V6(v6) => (IpAddr::V6(v6.ip), v6.prefixlen),
        };
        local.host.push(ip);
        if found.name == iface {
            if let Ok(net) = IpNet::new(ip, prefix) {
                local.interface.push(net);
            }
        }
    }
    local.host.sort();
    local.host.dedup();
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_this_machines_and_holds_its_subnet() {
        let local = local_addresses("lo").unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(local.host.contains(&lo), "{local:?}");
        assert!(
            local.interface.contains(&"127.0.0.1/8".parse().unwrap()),
            "{local:?}"
        );
        let none = local_addresses("pw-nonexistent0").unwrap();
        assert!(none.interface.is_empty());
        assert!(none.host.contains(&lo));
    }
}

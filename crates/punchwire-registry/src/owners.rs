//! Which peer a tunnel address belongs to: the peer whose AllowedIPs hold it, as
//! WireGuard itself decides (the longest prefix). A packet from that address can only
//! have come from that peer, so this is who sent an UPDATE.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// AllowedIPs to the index of the peer that has them.
#[derive(Debug, Default)]
pub struct Owners {
    /// Longest prefix first.
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

impl Owners {
    /// `ranges`: each peer's index with one of its ranges.
    pub fn new<'a>(ranges: impl IntoIterator<Item = (usize, &'a IpNet)>) -> Self {
        let mut owners = Self::default();
        for (peer, range) in ranges {
            match range.trunc() {
                IpNet::V4(net) => {
                    slot(&mut owners.v4, net.prefix_len()).insert(u32::from(net.network()), peer);
                }
                IpNet::V6(net) => {
                    slot(&mut owners.v6, net.prefix_len()).insert(u128::from(net.network()), peer);
                }
            }
        }
        owners
            .v4
            .sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        owners
            .v6
            .sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        owners
    }

    /// The index of the peer that owns `ip`. An IPv4-mapped IPv6 source counts as the
    /// IPv4 address it carries.
    pub fn owner(&self, ip: IpAddr) -> Option<usize> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4.iter().find_map(|(len, map)| {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    map.get(&(bits & mask)).copied()
                })
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.v6.iter().find_map(|(len, map)| {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
                    map.get(&(bits & mask)).copied()
                })
            }
        }
    }
}

fn slot<K>(slots: &mut Vec<(u8, HashMap<K, usize>)>, len: u8) -> &mut HashMap<K, usize> {
    let at = match slots.iter().position(|(l, _)| *l == len) {
        Some(at) => at,
        None => {
            slots.push((len, HashMap::new()));
            slots.len() - 1
        }
    };
    &mut slots[at].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_owns_an_address() {
        let ranges: Vec<IpNet> = ["10.0.0.0/8", "10.1.0.5/32", "fd00::/64", "0.0.0.0/0"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        let owners = Owners::new(ranges.iter().enumerate());
        let owner = |ip: &str| owners.owner(ip.parse().unwrap());
        assert_eq!(owner("10.1.0.5"), Some(1));
        assert_eq!(owner("10.1.0.6"), Some(0));
        assert_eq!(owner("::ffff:10.1.0.5"), Some(1));
        assert_eq!(owner("192.0.2.1"), Some(3));
        assert_eq!(owner("fd00::7"), Some(2));
        assert_eq!(owner("fd01::7"), None);
    }
}

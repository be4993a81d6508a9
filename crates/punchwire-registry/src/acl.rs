//! Who may ask: the sources a registry answers, as a set of IP ranges with a lookup whose cost
//! does not grow with the number of peers.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

/// A set of IP ranges. A check costs one hash lookup per distinct prefix length present
/// (typically two: the peers' /32 and /128), not one per range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    v4: Vec<(u8, HashSet<u32>)>,
    v6: Vec<(u8, HashSet<u128>)>,
}

impl AllowList {
    pub fn new<'a>(ranges: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut list = Self::default();
        for range in ranges {
            list.insert(range);
        }
        list
    }

    pub fn insert(&mut self, range: &IpNet) {
        match range.trunc() {
            IpNet::V4(net) => {
                let len = net.prefix_len();
                let key = u32::from(net.network());
                slot(&mut self.v4, len).insert(key);
            }
            IpNet::V6(net) => {
                let len = net.prefix_len();
                let key = u128::from(net.network());
                slot(&mut self.v6, len).insert(key);
            }
        }
    }

    /// Whether `ip` lies in one of the ranges. IPv4-mapped IPv6 sources (a dual-stack
    /// socket) count as the IPv4 address they carry.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4
                    .iter()
                    .any(|(len, set)| set.contains(&(bits & mask32(*len))))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.v6
                    .iter()
                    .any(|(len, set)| set.contains(&(bits & mask128(*len))))
            }
        }
    }
}

fn slot<T>(slots: &mut Vec<(u8, HashSet<T>)>, len: u8) -> &mut HashSet<T> {
    let index = match slots.iter().position(|(l, _)| *l == len) {
        Some(i) => i,
        None => {
            slots.push((len, HashSet::new()));
            // Longest prefixes first: peers' host routes are the common hit.
            slots.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
            slots.iter().position(|(l, _)| *l == len).unwrap_or(0)
        }
    };
    &mut slots[index].1
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ranges: &[&str]) -> AllowList {
        let nets: Vec<IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        AllowList::new(&nets)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_routes_and_wider_ranges_both_match() {
        let acl = list(&["10.99.0.2/32", "10.1.0.0/16", "fd00::5/128", "fd01::/48"]);
        assert!(acl.allows(ip("10.99.0.2")));
        assert!(!acl.allows(ip("10.99.0.3")));
        assert!(acl.allows(ip("10.1.255.7")));
        assert!(!acl.allows(ip("10.2.0.1")));
        assert!(acl.allows(ip("fd00::5")));
        assert!(!acl.allows(ip("fd00::6")));
        assert!(acl.allows(ip("fd01:0:0:1::9")));
        assert!(!acl.allows(ip("fd01:0:1::9")));
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4_and_host_bits_are_ignored() {
        let acl = list(&["10.1.2.3/24"]);
        assert!(acl.allows(ip("::ffff:10.1.2.200")));
        assert!(!acl.allows(ip("::ffff:10.1.3.1")));
    }

    #[test]
    fn zero_length_prefixes_allow_everything_of_their_family() {
        let acl = list(&["0.0.0.0/0"]);
        assert!(acl.allows(ip("203.0.113.9")));
        assert!(!acl.allows(ip("2001:db8::1")));
        assert!(list(&["::/0"]).allows(ip("2001:db8::1")));
    }

    #[test]
    fn empty_list_allows_nobody() {
        let acl = AllowList::default();
        assert!(!acl.allows(ip("127.0.0.1")));
    }
}

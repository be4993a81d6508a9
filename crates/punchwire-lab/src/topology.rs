//! The shape of the lab: who lives where, with which addresses (see docs/lab.md).
//!
//! ```text
//!   registry 192.0.2.10 ── inet ── 198.51.100.10 nat-a 192.168.1.1 ── alice 192.168.1.2
//!                           │
//!                           └───── 203.0.113.10  nat-b 192.168.2.1 ── bob   192.168.2.2
//!   tunnel 10.99.0.0/24: registry .1, alice .2, bob .3
//! ```
//!
//! The grid's variants (docs/lab.md) change one side at a time: a NAT box that only
//! filters routes a public /25 to its host ([`Nat::lan`]); a carrier NAT takes a NAT
//! box's public address and puts it behind shared address space ([`CARRIER_INSIDE`]);
//! with IPv6, every net also gets a /64 of 2001:db8::/32 ([`Host::ipv6`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nat::NatBehaviour;

/// Every namespace of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// The simulated internet: routes between the three public nets.
    Inet,
    Registry,
    NatA,
    NatB,
    Alice,
    Bob,
    /// A carrier-grade NAT in front of one NAT box, when the lab has one.
    Carrier,
}

/// A namespace that runs WireGuard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    Registry,
    Alice,
    Bob,
}

/// One of the two NAT boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nat {
    A,
    B,
}

/// The tunnel's prefix length: every tunnel address is in 10.99.0.0/24.
pub const TUNNEL_PREFIX_LEN: u8 = 24;
/// The port every WireGuard device listens on unless restarted on another one.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;

impl Node {
    /// Every node a lab can have: [`crate::Lab::nodes`] lists those one lab has.
    pub const ALL: [Node; 7] = [
        Node::Inet,
        Node::Registry,
        Node::NatA,
        Node::NatB,
        Node::Alice,
        Node::Bob,
        Node::Carrier,
    ];

    /// The suffix of its namespace name: `pwlab<tag>-<suffix>`.
    pub fn suffix(self) -> &'static str {
        match self {
            Node::Inet => "inet",
            Node::Registry => "reg",
            Node::NatA => "nata",
            Node::NatB => "natb",
            Node::Alice => "alice",
            Node::Bob => "bob",
            Node::Carrier => "cgn",
        }
    }

    /// Routers forward packets; hosts don't.
    pub fn is_router(self) -> bool {
        matches!(self, Node::Inet | Node::NatA | Node::NatB | Node::Carrier)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Node::Inet => "inet",
            Node::Registry => "registry",
            Node::NatA => "nat-a",
            Node::NatB => "nat-b",
            Node::Alice => "alice",
            Node::Bob => "bob",
            Node::Carrier => "carrier",
        })
    }
}

impl Host {
    pub const ALL: [Host; 3] = [Host::Registry, Host::Alice, Host::Bob];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The suffix of its WireGuard interface name: `pwlab<tag><suffix>`.
    pub fn iface_suffix(self) -> &'static str {
        match self {
            Host::Registry => "reg",
            Host::Alice => "a",
            Host::Bob => "b",
        }
    }

    /// The address inside the tunnel.
    pub fn tunnel_ip(self) -> Ipv4Addr {
        match self {
            Host::Registry => Ipv4Addr::new(10, 99, 0, 1),
            Host::Alice => Ipv4Addr::new(10, 99, 0, 2),
            Host::Bob => Ipv4Addr::new(10, 99, 0, 3),
        }
    }

    /// The address on its own link: private behind a NAT, public for the registry.
    /// Behind a NAT box that only filters it is public too: [`crate::HostInfo::lan_ip`]
    /// has each lab's.
    pub fn lan_ip(self) -> Ipv4Addr {
        match self {
            Host::Registry => Ipv4Addr::new(192, 0, 2, 10),
            Host::Alice => Ipv4Addr::new(192, 168, 1, 2),
            Host::Bob => Ipv4Addr::new(192, 168, 2, 2),
        }
    }

    /// Its global IPv6 address, in a lab built with [`crate::LabBuilder::ipv6`]: the
    /// registry's in 2001:db8::/64, alice's and bob's on the LAN of their side's /48.
    pub fn ipv6(self) -> Ipv6Addr {
        match self.nat() {
            Some(nat) => nat.ipv6_net(1, 2),
            None => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
        }
    }

    /// The NAT box in front of it; the registry has none.
    pub fn nat(self) -> Option<Nat> {
        match self {
            Host::Registry => None,
            Host::Alice => Some(Nat::A),
            Host::Bob => Some(Nat::B),
        }
    }

    /// The address the internet sees its packets come from, behind a NAT that
    /// translates ([`crate::HostInfo::public_ip`] has each lab's).
    pub fn public_ip(self) -> Ipv4Addr {
        match self.nat() {
            Some(nat) => nat.public_ip(),
            None => self.lan_ip(),
        }
    }
}

impl From<Host> for Node {
    fn from(host: Host) -> Node {
        match host {
            Host::Registry => Node::Registry,
            Host::Alice => Node::Alice,
            Host::Bob => Node::Bob,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Node::from(*self).fmt(f)
    }
}

impl Nat {
    pub const ALL: [Nat; 2] = [Nat::A, Nat::B];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The public address of its side: its WAN's, or that of the carrier NAT in front
    /// of it.
    pub fn public_ip(self) -> Ipv4Addr {
        match self {
            Nat::A => Ipv4Addr::new(198, 51, 100, 10),
            Nat::B => Ipv4Addr::new(203, 0, 113, 10),
        }
    }

    /// The address of inet on the NAT's public net: its default gateway.
    pub fn upstream_ip(self) -> Ipv4Addr {
        match self {
            Nat::A => Ipv4Addr::new(198, 51, 100, 1),
            Nat::B => Ipv4Addr::new(203, 0, 113, 1),
        }
    }

    /// Its address on the LAN: the host's default gateway.
    pub fn lan_ip(self) -> Ipv4Addr {
        match self {
            Nat::A => Ipv4Addr::new(192, 168, 1, 1),
            Nat::B => Ipv4Addr::new(192, 168, 2, 1),
        }
    }

    /// The LAN behind it, which depends on what it does: private (192.168.1.0/24) when
    /// it translates; a public /25 of its own public net (198.51.100.128/25), routed to
    /// it by inet, when it only filters ([`NatBehaviour::Firewall`]).
    pub fn lan(self, behaviour: NatBehaviour) -> Lan {
        if behaviour.translates() {
            return Lan {
                gateway: self.lan_ip(),
                host: self.host().lan_ip(),
                prefix_len: 24,
            };
        }
        let [a, b, c, _] = self.public_ip().octets();
        Lan {
            gateway: Ipv4Addr::new(a, b, c, 129),
            host: Ipv4Addr::new(a, b, c, 130),
            prefix_len: 25,
        }
    }

    /// Its IPv6 address on the WAN: its side's /48 is 2001:db8:a::/48 (nat-a) or
    /// 2001:db8:b::/48 (nat-b), the WAN link its subnet 0 (inet ::1, the box ::10).
    pub fn ipv6_wan(self) -> Ipv6Addr {
        self.ipv6_net(0, 0x10)
    }

    /// inet's IPv6 address on the NAT box's WAN link: its default gateway.
    pub fn ipv6_upstream(self) -> Ipv6Addr {
        self.ipv6_net(0, 1)
    }

    /// Its IPv6 address on the LAN (subnet 1 of its side's /48): the host's gateway.
    pub fn ipv6_lan(self) -> Ipv6Addr {
        self.ipv6_net(1, 1)
    }

    /// Its LAN's IPv6 prefix, `2001:db8:<side>:1::`, which inet routes to it.
    pub fn ipv6_lan_net(self) -> Ipv6Addr {
        self.ipv6_net(1, 0)
    }

    /// `2001:db8:<side>:<subnet>::<host>`.
    fn ipv6_net(self, subnet: u16, host: u16) -> Ipv6Addr {
        let side = match self {
            Nat::A => 0xa,
            Nat::B => 0xb,
        };
        Ipv6Addr::new(0x2001, 0xdb8, side, subnet, 0, 0, 0, host)
    }

    /// The host behind it.
    pub fn host(self) -> Host {
        match self {
            Nat::A => Host::Alice,
            Nat::B => Host::Bob,
        }
    }
}

impl From<Nat> for Node {
    fn from(nat: Nat) -> Node {
        match nat {
            Nat::A => Node::NatA,
            Nat::B => Node::NatB,
        }
    }
}

impl fmt::Display for Nat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Node::from(*self).fmt(f)
    }
}

/// inet's address on the registry's public net: the registry's default gateway.
pub(crate) const REGISTRY_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// inet's IPv6 address on the registry's net (2001:db8::/64): its default gateway.
pub(crate) const REGISTRY_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The prefix length of every IPv6 net of the lab.
pub const IPV6_PREFIX_LEN: u8 = 64;

/// The carrier NAT's address on the link to the NAT box behind it, in the shared
/// address space of RFC 6598 (100.64.0.0/10) that carriers number their subscribers
/// from: that box's default gateway.
pub const CARRIER_INSIDE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The WAN address of a NAT box behind the carrier NAT.
pub const CARRIER_SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
/// The prefix length of the shared address space.
pub(crate) const SHARED_PREFIX_LEN: u8 = 10;

/// A NAT box's LAN, as [`Nat::lan`] numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan {
    /// The NAT box's address there: the host's default gateway.
    pub gateway: Ipv4Addr,
    /// The host's address.
    pub host: Ipv4Addr,
    pub prefix_len: u8,
}

impl Lan {
    /// The network address, for a route to the whole LAN.
    pub fn network(&self) -> Ipv4Addr {
        let mask = u32::MAX << (32 - u32::from(self.prefix_len));
        Ipv4Addr::from(u32::from(self.host) & mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firewall_alone_routes_a_public_half_of_its_own_net_to_its_host() {
        let lan = Nat::A.lan(NatBehaviour::Firewall);
        assert_eq!(
            lan,
            Lan {
                gateway: Ipv4Addr::new(198, 51, 100, 129),
                host: Ipv4Addr::new(198, 51, 100, 130),
                prefix_len: 25,
            }
        );
        assert_eq!(lan.network(), Ipv4Addr::new(198, 51, 100, 128));
        // A NAT that translates keeps the default lab's private LAN.
        let private = Nat::B.lan(NatBehaviour::Symmetric);
        assert_eq!(
            (private.gateway, private.host),
            (Nat::B.lan_ip(), Host::Bob.lan_ip())
        );
        assert_eq!(private.network(), Ipv4Addr::new(192, 168, 2, 0));
    }

    #[test]
    fn ipv6_addresses_are_documentation_addresses_one_48_per_side() {
        let parse = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(Host::Registry.ipv6(), parse("2001:db8::10"));
        assert_eq!(Host::Alice.ipv6(), parse("2001:db8:a:1::2"));
        assert_eq!(Host::Bob.ipv6(), parse("2001:db8:b:1::2"));
        assert_eq!(Nat::A.ipv6_upstream(), parse("2001:db8:a::1"));
        assert_eq!(Nat::A.ipv6_wan(), parse("2001:db8:a::10"));
        assert_eq!(Nat::B.ipv6_lan(), parse("2001:db8:b:1::1"));
        assert_eq!(Nat::B.ipv6_lan_net(), parse("2001:db8:b:1::"));
    }
}

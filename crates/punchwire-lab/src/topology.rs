//! The shape of the lab: who lives where, with which addresses (see docs/lab.md).
//!
//! ```text
//!   registry 192.0.2.10 ── inet ── 198.51.100.10 nat-a 192.168.1.1 ── alice 192.168.1.2
//!                           │
//!                           └───── 203.0.113.10  nat-b 192.168.2.1 ── bob   192.168.2.2
//!   tunnel 10.99.0.0/24: registry .1, alice .2, bob .3
//! ```

use std::fmt;
use std::net::Ipv4Addr;

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
    pub const ALL: [Node; 6] = [
        Node::Inet,
        Node::Registry,
        Node::NatA,
        Node::NatB,
        Node::Alice,
        Node::Bob,
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
        }
    }

    /// Routers forward packets; hosts don't.
    pub fn is_router(self) -> bool {
        matches!(self, Node::Inet | Node::NatA | Node::NatB)
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
    pub fn lan_ip(self) -> Ipv4Addr {
        match self {
            Host::Registry => Ipv4Addr::new(192, 0, 2, 10),
            Host::Alice => Ipv4Addr::new(192, 168, 1, 2),
            Host::Bob => Ipv4Addr::new(192, 168, 2, 2),
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

    /// The address the internet sees its packets come from.
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

    /// The address of its WAN side.
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

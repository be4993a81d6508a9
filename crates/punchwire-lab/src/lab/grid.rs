//! The grid's variants of one side of the lab (docs/lab.md): a carrier NAT in front of
//! a NAT box, and a NAT box that only filters, whose LAN is a public /25 that inet
//! routes to it. The default lab has neither, and is wired exactly as before.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::Lab;
use crate::command;
use crate::error::Result;
use crate::nat::{NatBehaviour, LAN, WAN};
use crate::topology::{Lan, Nat, Node, CARRIER_INSIDE, CARRIER_SUBSCRIBER, SHARED_PREFIX_LEN};

impl Lab {
    /// The node of `nat`'s side that inet's link reaches: the carrier NAT in front of
    /// it, or the box itself.
    pub(super) fn front(&self, nat: Nat) -> Node {
        match self.carrier == Some(nat) {
            true => Node::Carrier,
            false => nat.into(),
        }
    }

    /// `nat`'s WAN address with its prefix length, and its default gateway: on inet's
    /// public net, or in the shared address space behind the carrier NAT.
    pub(super) fn wan(&self, nat: Nat) -> (Ipv4Addr, u8, Ipv4Addr) {
        match self.carrier == Some(nat) {
            true => (CARRIER_SUBSCRIBER, SHARED_PREFIX_LEN, CARRIER_INSIDE),
            false => (nat.public_ip(), 24, nat.upstream_ip()),
        }
    }

    /// `nat`'s LAN, numbered as its behaviour wants.
    pub(super) fn lan(&self, nat: Nat) -> Lan {
        nat.lan(self.nats[nat.index()])
    }

    /// inet's routes to the public LANs of the NAT boxes that only filter, each via
    /// the box's WAN address, as `ip -batch` lines (none in the default lab).
    pub(super) fn routes_to_public_lans(&self) -> String {
        let mut routes = String::new();
        for nat in Nat::ALL
            .into_iter()
            .filter(|&nat| !self.nats[nat.index()].translates())
        {
            let lan = self.lan(nat);
            let _ = writeln!(
                routes,
                "route add {}/{} via {}",
                lan.network(),
                lan.prefix_len,
                nat.public_ip()
            );
        }
        routes
    }

    /// Addresses the carrier NAT in front of `nat`, whose WAN inet's link already
    /// reaches, and links it to `nat`'s WAN.
    pub(super) fn wire_carrier(&self, nat: Nat) -> Result<()> {
        self.ip_batch(
            Node::Carrier,
            &format!(
                "link set lo up\n\
                 link add {LAN} type veth peer name {WAN} netns {}\n\
                 addr add {}/24 dev {WAN}\n\
                 addr add {CARRIER_INSIDE}/{SHARED_PREFIX_LEN} dev {LAN}\n\
                 link set {WAN} up\n\
                 link set {LAN} up\n\
                 route add default via {}\n",
                self.namespace(nat),
                nat.public_ip(),
                nat.upstream_ip(),
            ),
        )
    }

    /// The carrier NAT's rules: the usual home router's, on its own WAN and LAN.
    pub(super) fn install_carrier_nat(&self) -> Result<()> {
        let ns = self.namespace(Node::Carrier);
        let rules = NatBehaviour::EndpointIndependent.iptables_restore();
        command::run(Some(&ns), &["iptables-restore"], Some(rules.as_bytes())).map(|_| ())
    }
}

//! IPv6 on every net of the lab ([`crate::LabBuilder::ipv6`]), on the links the IPv4
//! wiring made: the registry's net 2001:db8::/64, and for each side a /48
//! (2001:db8:a::/48 for alice's, 2001:db8:b::/48 for bob's) whose subnet 0 is the link
//! from inet to the NAT box and subnet 1 the box's LAN, routed to it by inet. The NAT
//! boxes forward IPv6 untranslated behind their firewall, so that alice and bob each
//! have a global address that a peer reaches only once they have sent to it.

use std::fmt::Write as _;

use super::network::HOST_LINK;
use super::Lab;
use crate::command;
use crate::error::Result;
use crate::nat::{LAN, WAN};
use crate::topology::{Host, Nat, Node, IPV6_PREFIX_LEN, REGISTRY_GATEWAY_V6};

/// Set in every namespace of a lab with IPv6 before any link exists. Duplicate address
/// detection is off so that an address is usable the moment it is added (nothing in
/// the lab duplicates one); every address is also added `nodad`.
pub(super) const SYSCTLS: [&str; 4] = [
    "net.ipv6.conf.all.disable_ipv6=0",
    "net.ipv6.conf.default.disable_ipv6=0",
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
];
/// Set on the routers of a lab with IPv6.
pub(super) const FORWARDING: &str = "net.ipv6.conf.all.forwarding=1";

impl Lab {
    /// Adds the IPv6 addresses, routes and firewalls (see the module's text).
    pub(super) fn wire_ipv6(&self) -> Result<()> {
        let len = IPV6_PREFIX_LEN;
        let mut inet = format!("addr add {REGISTRY_GATEWAY_V6}/{len} dev to-reg nodad\n");
        for (nat, link) in [(Nat::A, "to-nata"), (Nat::B, "to-natb")] {
            let _ = write!(
                inet,
                "addr add {}/{len} dev {link} nodad\n\
                 route add {}/{len} via {}\n",
                nat.ipv6_upstream(),
                nat.ipv6_lan_net(),
                nat.ipv6_wan(),
            );
        }
        self.ip_batch(Node::Inet, &inet)?;
        self.ip_batch(
            Node::Registry,
            &format!(
                "addr add {}/{len} dev {HOST_LINK} nodad\n\
                 route add default via {REGISTRY_GATEWAY_V6}\n",
                Host::Registry.ipv6(),
            ),
        )?;
        for nat in Nat::ALL {
            self.ip_batch(
                nat.into(),
                &format!(
                    "addr add {}/{len} dev {WAN} nodad\n\
                     addr add {}/{len} dev {LAN} nodad\n\
                     route add default via {}\n",
                    nat.ipv6_wan(),
                    nat.ipv6_lan(),
                    nat.ipv6_upstream(),
                ),
            )?;
            self.ip_batch(
                nat.host().into(),
                &format!(
                    "addr add {}/{len} dev {HOST_LINK} nodad\n\
                     route add default via {}\n",
                    nat.host().ipv6(),
                    nat.ipv6_lan(),
                ),
            )?;
            let rules = self.nats[nat.index()].ip6tables_restore();
            command::run(
                Some(&self.namespace(nat)),
                &["ip6tables-restore"],
                Some(rules.as_bytes()),
            )?;
        }
        Ok(())
    }
}

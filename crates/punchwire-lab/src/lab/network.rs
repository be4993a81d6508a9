//! The network under the hosts: one namespace per node, veth links with the addresses
//! of the crate docs' diagram (with the grid's variants of [`super::grid`]), and the
//! NAT boxes' rules; and, for tests of mapping
//! expiry and moves, making a NAT box forget or change its mappings, forwarding a port,
//! giving a host a new address.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::Lab;
use crate::cleanup::NETNS_ETC;
use crate::command;
use crate::error::{LabError, Result};
use crate::nat::{LAN, WAN};
use crate::topology::{Host, Nat, Node, REGISTRY_GATEWAY};

/// The link of a host (registry, alice, bob) towards its router.
pub(super) const HOST_LINK: &str = "eth0";
/// A NAT box's LAN once a second host joins it ([`Lab::join_lan`]), and the NAT's end of
/// the joining host's link, and that link's far end before it is named [`HOST_LINK`].
const LAN_BRIDGE: &str = "lanbr";
const JOINED: &str = "lan2";
const JOINING: &str = "joining";

impl Lab {
    pub(super) fn create_namespaces(&self) -> Result<()> {
        for node in self.nodes() {
            let ns = self.namespace(node);
            command::run(None, &["ip", "netns", "add", &ns], None)?;
            // Recorded at once, so that teardown deletes it if a later step fails.
            self.state().namespaces.push(ns.clone());
            // Before any link exists, so that every interface inherits the default.
            let mut sysctls = vec![
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ];
            if node.is_router() {
                sysctls.push("net.ipv4.ip_forward=1");
            }
            if self.ipv6 {
                sysctls.extend(super::ipv6::SYSCTLS);
                if node.is_router() {
                    sysctls.push(super::ipv6::FORWARDING);
                }
            }
            command::run(Some(&ns), &sysctls, None)?;
        }
        Ok(())
    }

    /// Each veth pair is created from the router's side, its peer end moved straight
    /// into the node behind it, so no link ever sits in the root namespace.
    pub(super) fn wire_links(&self) -> Result<()> {
        let ns = |n: Node| self.namespace(n);
        let reg = Host::Registry.lan_ip();
        self.ip_batch(
            Node::Inet,
            &format!(
                "link set lo up\n\
                 link add to-reg type veth peer name {HOST_LINK} netns {}\n\
                 link add to-nata type veth peer name {WAN} netns {}\n\
                 link add to-natb type veth peer name {WAN} netns {}\n\
                 addr add {REGISTRY_GATEWAY}/24 dev to-reg\n\
                 addr add {}/24 dev to-nata\n\
                 addr add {}/24 dev to-natb\n\
                 link set to-reg up\n\
                 link set to-nata up\n\
                 link set to-natb up\n\
                 {}",
                ns(Node::Registry),
                ns(self.front(Nat::A)),
                ns(self.front(Nat::B)),
                Nat::A.upstream_ip(),
                Nat::B.upstream_ip(),
                self.routes_to_public_lans(),
            ),
        )?;
        self.ip_batch(
            Node::Registry,
            &format!(
                "link set lo up\n\
                 addr add {reg}/24 dev {HOST_LINK}\n\
                 link set {HOST_LINK} up\n\
                 route add default via {REGISTRY_GATEWAY}\n"
            ),
        )?;
        for nat in Nat::ALL {
            if self.carrier == Some(nat) {
                self.wire_carrier(nat)?;
            }
            let host = nat.host();
            let (wan_ip, wan_len, upstream) = self.wan(nat);
            let lan = self.lan(nat);
            let len = lan.prefix_len;
            self.ip_batch(
                nat.into(),
                &format!(
                    "link set lo up\n\
                     link add {LAN} type veth peer name {HOST_LINK} netns {}\n\
                     addr add {wan_ip}/{wan_len} dev {WAN}\n\
                     addr add {}/{len} dev {LAN}\n\
                     link set {WAN} up\n\
                     link set {LAN} up\n\
                     route add default via {upstream}\n",
                    ns(host.into()),
                    lan.gateway,
                ),
            )?;
            self.ip_batch(
                host.into(),
                &format!(
                    "link set lo up\n\
                     addr add {}/{len} dev {HOST_LINK}\n\
                     link set {HOST_LINK} up\n\
                     route add default via {}\n",
                    lan.host, lan.gateway,
                ),
            )?;
        }
        Ok(())
    }

    /// Conntrack timeouts are per namespace, so shrinking them on the NAT boxes leaves
    /// the machine's own untouched.
    pub(super) fn install_nat(&self, udp_timeout: Option<Duration>) -> Result<()> {
        for nat in Nat::ALL {
            let ns = self.namespace(nat);
            let rules = self.nats[nat.index()].iptables_restore();
            command::run(Some(&ns), &["iptables-restore"], Some(rules.as_bytes()))?;
        }
        if self.carrier.is_some() {
            self.install_carrier_nat()?;
        }
        let Some(t) = udp_timeout else {
            return Ok(());
        };
        // Every box that keeps mappings: the NAT boxes, and a carrier NAT.
        for node in self.nodes() {
            if node.is_router() && node != Node::Inet {
                let secs = t.as_secs().max(1);
                let a = format!("net.netfilter.nf_conntrack_udp_timeout={secs}");
                let b = format!("net.netfilter.nf_conntrack_udp_timeout_stream={secs}");
                command::run(
                    Some(&self.namespace(node)),
                    &["sysctl", "-q", "-w", &a, &b],
                    None,
                )?;
            }
        }
        Ok(())
    }

    /// Gives the registry host a new public address in its network (192.0.2.0/24), as
    /// a home server's provider does: the old one is gone at once, so packets still
    /// sent there are lost. WireGuard on the registry listens on every address and
    /// keeps running. Alice's and bob's devices are not told: that is for whatever
    /// keeps their endpoint current.
    pub fn move_registry(&self, new_ip: Ipv4Addr) -> Result<()> {
        let old = self.registry_ip();
        if new_ip == REGISTRY_GATEWAY || (new_ip.octets()[..3] != old.octets()[..3]) {
            return Err(LabError::Usage(format!(
                "{new_ip} is not a free address in the registry's network {old}/24"
            )));
        }
        // Deleting the old primary address would take the new one with it were the new
        // one added first (a secondary), so the old goes first; the default route goes
        // with it and is put back.
        self.ip_batch(
            Node::Registry,
            &format!(
                "addr del {old}/24 dev {HOST_LINK}
                 addr add {new_ip}/24 dev {HOST_LINK}
                 route replace default via {REGISTRY_GATEWAY}
"
            ),
        )?;
        self.state().registry_ip = new_ip;
        Ok(())
    }

    /// Makes programs started in `node`'s namespace from now on (through `ip netns
    /// exec`, which mounts `/etc/netns/<ns>/resolv.conf` over `/etc/resolv.conf`) ask
    /// `nameserver` for names. Removed on teardown.
    pub fn use_resolver(&self, node: impl Into<Node>, nameserver: Ipv4Addr) -> Result<()> {
        let dir = Path::new(NETNS_ETC).join(self.namespace(node));
        fs::create_dir_all(&dir)
            .map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
        let file = dir.join("resolv.conf");
        fs::write(
            &file,
            format!(
                "nameserver {nameserver}
options timeout:1 attempts:2
"
            ),
        )
        .map_err(|e| LabError::io(format!("writing {}", file.display()), e))
    }

    /// Empties a NAT box's conntrack table: every mapping is forgotten.
    pub fn flush_conntrack(&self, nat: Nat) -> Result<()> {
        self.exec(nat, &["conntrack", "-F"]).map(|_| ())
    }

    /// Gives a host one more address on its own link, as a second network or a new
    /// DHCP lease would: what this machine's address watch must notice.
    pub fn add_host_address(&self, host: Host, addr: Ipv4Addr) -> Result<()> {
        let addr = format!("{addr}/24");
        self.exec(host, &["ip", "addr", "add", &addr, "dev", HOST_LINK])
            .map(|_| ())
    }

    /// Moves `host` onto the LAN behind `nat`, at `address` there, as a user carrying a
    /// laptop into a friend's home: its link to its own NAT goes, and a new one joins
    /// `nat`'s LAN, which becomes a bridge so that two hosts share it. Both then leave
    /// through `nat` with one public address, and `nat` does not hairpin (a packet to
    /// its own public address from the LAN is not sent back in), as most routers.
    /// WireGuard keeps running; its next packet leaves by the new way.
    pub fn join_lan(&self, host: Host, nat: Nat, address: Ipv4Addr) -> Result<()> {
        let lan = self.lan(nat);
        let (gateway, len) = (lan.gateway, lan.prefix_len);
        self.ip_batch(
            nat.into(),
            &format!(
                "link add {LAN_BRIDGE} type bridge
                 addr del {gateway}/{len} dev {LAN}
                 link set {LAN} master {LAN_BRIDGE}
                 addr add {gateway}/{len} dev {LAN_BRIDGE}
                 link set {LAN_BRIDGE} up
                 link add {JOINED} type veth peer name {JOINING} netns {}
                 link set {JOINED} master {LAN_BRIDGE}
                 link set {JOINED} up
",
                self.namespace(host),
            ),
        )?;
        self.ip_batch(
            host.into(),
            &format!(
                "link del {HOST_LINK}
                 link set {JOINING} name {HOST_LINK}
                 addr add {address}/{len} dev {HOST_LINK}
                 link set {HOST_LINK} up
                 route add default via {gateway}
"
            ),
        )
    }

    /// Forwards `public_port` on a NAT box to the WireGuard port of the host behind it,
    /// as a user who opened a port on the router would: that host is then reached at
    /// two public endpoints, its own mapping and this one.
    pub fn forward_port(&self, nat: Nat, public_port: u16) -> Result<()> {
        let host = nat.host();
        let lan_ip = self.host(host).lan_ip.to_string();
        let to = format!("{lan_ip}:{}", self.listen_port(host));
        let public_port = public_port.to_string();
        let port = self.listen_port(host).to_string();
        self.exec(
            nat,
            &[
                "iptables",
                "-t",
                "nat",
                "-A",
                "PREROUTING",
                "-i",
                WAN,
                "-p",
                "udp",
                "--dport",
                &public_port,
                "-j",
                "DNAT",
                "--to-destination",
                &to,
            ],
        )?;
        // Ahead of the firewall, which drops every flow the LAN did not start.
        self.exec(
            nat,
            &[
                "iptables",
                "-I",
                "FORWARD",
                "1",
                "-i",
                WAN,
                "-p",
                "udp",
                "-d",
                &lan_ip,
                "--dport",
                &port,
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "ACCEPT",
            ],
        )
        .map(|_| ())
    }

    /// Gives everything behind a NAT box a new public port, as a NAT that restarted or a
    /// carrier that re-mapped its subscribers would: every mapping from now on takes
    /// `port`, and the existing ones are forgotten, so the hosts behind it are
    /// reached at `public ip:port` and no longer at their old mapping.
    pub fn move_nat_port(&self, nat: Nat, port: u16) -> Result<()> {
        let port = port.to_string();
        self.exec(
            nat,
            &[
                "iptables",
                "-t",
                "nat",
                "-I",
                "POSTROUTING",
                "1",
                "-o",
                WAN,
                "-p",
                "udp",
                "-j",
                "MASQUERADE",
                "--to-ports",
                &port,
            ],
        )?;
        self.flush_conntrack(nat)
    }
}

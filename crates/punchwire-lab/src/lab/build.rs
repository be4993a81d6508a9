//! Building a lab: the builder's options, then each step in the order it runs. A
//! failed step returns early and dropping the half-built [`Lab`] tears down what
//! exists, so no step has to undo its predecessors.

use std::sync::Mutex;
use std::time::Duration;

use super::{HostInfo, Lab, State};
use crate::cleanup::cleanup_stale;
use crate::error::{LabError, Result};
use crate::names::{LabName, PREFIX};
use crate::nat::NatBehaviour;
use crate::topology::{Host, Nat, Node, DEFAULT_LISTEN_PORT};
use crate::wireguard::{self, WgImpl};

/// How to build a [`Lab`]; start with [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    nats: [NatBehaviour; 2],
    carrier: Option<Nat>,
    ipv6: bool,
    wg: Option<WgImpl>,
    keepalive: u16,
    nat_udp_timeout: Option<Duration>,
}

impl Default for LabBuilder {
    fn default() -> Self {
        Self {
            nats: [NatBehaviour::default(); 2],
            carrier: None,
            ipv6: false,
            wg: None,
            keepalive: 5,
            nat_udp_timeout: None,
        }
    }
}

impl LabBuilder {
    /// The behaviour of alice's NAT (default: [`NatBehaviour::EndpointIndependent`]).
    pub fn nat_a(mut self, behaviour: NatBehaviour) -> Self {
        self.nats[Nat::A.index()] = behaviour;
        self
    }

    /// The behaviour of bob's NAT (default: [`NatBehaviour::EndpointIndependent`]).
    pub fn nat_b(mut self, behaviour: NatBehaviour) -> Self {
        self.nats[Nat::B.index()] = behaviour;
        self
    }

    /// Puts a carrier-grade NAT in front of `nat`, as a mobile or fibre carrier short of
    /// IPv4 addresses does: the carrier box takes `nat`'s public address and masquerades
    /// like the usual home router ([`NatBehaviour::EndpointIndependent`], as RFC 6888
    /// asks of carriers); `nat` then has an address of the shared space 100.64.0.0/10
    /// on its WAN ([`crate::CARRIER_SUBSCRIBER`]), and its host is behind two NATs.
    /// `nat` must translate.
    pub fn carrier_nat(mut self, nat: Nat) -> Self {
        self.carrier = Some(nat);
        self
    }

    /// Gives every net an IPv6 /64 of 2001:db8::/32 too, and every node an address in
    /// it ([`Host::ipv6`]): IPv6 is routed, never translated, and each NAT box filters
    /// it with the same firewall as IPv4. The tunnel to the registry stays IPv4. Not
    /// with a carrier NAT.
    pub fn ipv6(mut self) -> Self {
        self.ipv6 = true;
        self
    }

    /// The WireGuard implementation in every host (default: [`WgImpl::from_env`]).
    pub fn wg_impl(mut self, wg: WgImpl) -> Self {
        self.wg = Some(wg);
        self
    }

    /// PersistentKeepalive, in seconds, of alice's and bob's peers (default 5): the
    /// registry peer and each other. Must stay below the NATs' UDP timeout.
    pub fn keepalive(mut self, seconds: u16) -> Self {
        self.keepalive = seconds;
        self
    }

    /// Shrinks the NAT boxes' conntrack UDP timeouts (default: the kernel's 30 s/120 s),
    /// to test mapping expiry quickly.
    pub fn nat_udp_timeout(mut self, timeout: Duration) -> Self {
        self.nat_udp_timeout = Some(timeout);
        self
    }

    /// Builds the namespaces, links, NAT rules and WireGuard devices, each host with
    /// its peers configured (see the crate docs). Removes leftovers of crashed labs
    /// first. On error, whatever was built is torn down.
    pub fn build(self) -> Result<Lab> {
        self.check()?;
        let wg = match self.wg {
            Some(wg) => wg,
            None => WgImpl::from_env()?,
        };
        if let Err(e) = cleanup_stale(PREFIX) {
            eprintln!("punchwire-lab: could not clean stale labs: {e}");
        }
        // Claimed before anything carries the name: whatever carries it without a live
        // owner is then a leftover that cleanup may remove.
        let name = LabName::claim()?;
        let mut lab = Lab {
            name,
            wg,
            nats: self.nats,
            carrier: self.carrier,
            ipv6: self.ipv6,
            keepalive: self.keepalive,
            hosts: Vec::new(),
            state: Mutex::new(State {
                namespaces: Vec::new(),
                daemons: [None, None, None],
                listen_ports: [DEFAULT_LISTEN_PORT; 3],
                registry_ip: Host::Registry.lan_ip(),
                children: Vec::new(),
                torn_down: false,
            }),
        };
        lab.create_namespaces()?;
        lab.wire_links()?;
        lab.install_nat(self.nat_udp_timeout)?;
        if self.ipv6 {
            lab.wire_ipv6()?;
        }
        lab.make_hosts()?;
        for host in Host::ALL {
            lab.start_wireguard(host, DEFAULT_LISTEN_PORT)?;
        }
        Ok(lab)
    }

    /// Refuses the combinations the lab does not build, before anything exists.
    fn check(&self) -> Result<()> {
        if let Some(nat) = self.carrier {
            if !self.nats[nat.index()].translates() {
                return Err(LabError::Usage(format!(
                    "a carrier NAT in front of {nat}, which only filters: its host would have no public address"
                )));
            }
            if self.ipv6 {
                return Err(LabError::Usage(
                    "IPv6 with a carrier NAT: the lab routes IPv6 to NAT boxes only".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Lab {
    /// Gives every host a fresh key pair, written into the state directory for `wg`.
    fn make_hosts(&mut self) -> Result<()> {
        for host in Host::ALL {
            let private_key_file = self
                .state_dir()
                .join(format!("{}.key", Node::from(host).suffix()));
            let public_key = wireguard::generate_key(&private_key_file)?;
            // Behind a NAT box its LAN's numbering, and its public address unless the
            // box only filters.
            let (lan_ip, public_ip) = match host.nat() {
                Some(nat) => {
                    let behaviour = self.nats[nat.index()];
                    let lan = nat.lan(behaviour).host;
                    let public = if behaviour.translates() {
                        nat.public_ip()
                    } else {
                        lan
                    };
                    (lan, public)
                }
                None => (host.lan_ip(), host.public_ip()),
            };
            self.hosts.push(HostInfo {
                host,
                namespace: self.namespace(host),
                iface: self.name.iface(host),
                public_key,
                private_key_file,
                tunnel_ip: host.tunnel_ip(),
                lan_ip,
                public_ip,
                ipv6: self.ipv6.then(|| host.ipv6()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carrier_nat_goes_in_front_of_a_nat_that_translates_and_without_ipv6() {
        let carrier = || Lab::builder().carrier_nat(Nat::A);
        assert!(carrier().check().is_ok());
        assert!(carrier().nat_b(NatBehaviour::Firewall).check().is_ok());
        assert!(carrier().nat_a(NatBehaviour::Firewall).check().is_err());
        assert!(carrier().ipv6().check().is_err());
        assert!(Lab::builder().ipv6().check().is_ok());
    }
}

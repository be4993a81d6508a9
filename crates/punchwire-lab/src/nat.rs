//! How a NAT box maps and filters, as iptables rules (and ip6tables rules for IPv6,
//! which is routed, never translated).

/// The mapping and filtering behaviour of a NAT box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NatBehaviour {
    /// Endpoint-independent mapping (MASQUERADE keeps the source port) behind a home
    /// router's firewall: unsolicited packets from the WAN are dropped in INPUT and
    /// FORWARD. Hole punching works.
    #[default]
    EndpointIndependent,
    /// The same mapping with no firewall. Documents a real race (docs/lab.md): the peer's
    /// first packet can reach the NAT before the local flow exists, conntrack then maps
    /// the outgoing flow to another port, and punching fails.
    EndpointIndependentOpen,
    /// A new random public port for every destination (`MASQUERADE --random-fully`),
    /// behind the same firewall. Punching fails, as it should.
    Symmetric,
    /// No translation: a public /25 routed to the host (see [`crate::Nat::lan`]) behind
    /// the same firewall, as a business line or a server's provider gives. Unsolicited
    /// packets are dropped; a flow the host started lets its replies in.
    Firewall,
}

/// The interface of a NAT box that faces the internet.
pub(crate) const WAN: &str = "wan";
/// The interface of a NAT box that faces its host.
pub(crate) const LAN: &str = "lan";

impl NatBehaviour {
    /// Whether the box rewrites its host's address: every behaviour but a firewall's.
    pub fn translates(self) -> bool {
        self != NatBehaviour::Firewall
    }

    /// The whole ruleset, as `iptables-restore` input.
    pub(crate) fn iptables_restore(self) -> String {
        let masquerade = match self {
            NatBehaviour::Symmetric => {
                format!("-A POSTROUTING -o {WAN} -j MASQUERADE --random-fully\n")
            }
            NatBehaviour::Firewall => String::new(),
            _ => format!("-A POSTROUTING -o {WAN} -j MASQUERADE\n"),
        };
        format!(
            "*nat\n{masquerade}COMMIT\n*filter\n{}COMMIT\n",
            self.firewall()
        )
    }

    /// The IPv6 ruleset, as `ip6tables-restore` input: the same firewall, letting
    /// ICMPv6 to the box itself through, without which its neighbours could not find
    /// it (neighbour discovery is not a flow conntrack follows).
    pub(crate) fn ip6tables_restore(self) -> String {
        let firewall = self.firewall();
        let icmp = match firewall.is_empty() {
            true => String::new(),
            false => format!("-A INPUT -i {WAN} -p ipv6-icmp -j ACCEPT\n"),
        };
        format!("*filter\n{icmp}{firewall}COMMIT\n")
    }

    /// A home router's firewall: whatever the WAN sends that no flow from the LAN
    /// asked for is dropped, to the box and through it.
    fn firewall(self) -> String {
        match self {
            NatBehaviour::EndpointIndependentOpen => String::new(),
            _ => format!(
                "-A INPUT -i {WAN} -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP\n\
                 -A FORWARD -i {WAN} -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP\n"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_symmetric_randomizes_ports() {
        assert!(NatBehaviour::Symmetric
            .iptables_restore()
            .contains("--random-fully"));
        assert!(!NatBehaviour::EndpointIndependent
            .iptables_restore()
            .contains("--random-fully"));
    }

    #[test]
    fn only_the_open_nat_lacks_a_firewall() {
        assert!(NatBehaviour::EndpointIndependent
            .iptables_restore()
            .contains("-A INPUT -i wan"));
        assert!(NatBehaviour::Symmetric
            .iptables_restore()
            .contains("-A FORWARD -i wan"));
        assert!(!NatBehaviour::EndpointIndependentOpen
            .iptables_restore()
            .contains("DROP"));
    }

    #[test]
    fn a_firewall_filters_without_translating() {
        let rules = NatBehaviour::Firewall.iptables_restore();
        assert!(!rules.contains("MASQUERADE"), "{rules}");
        assert!(rules
            .contains("-A FORWARD -i wan -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP"));
        assert!(!NatBehaviour::Firewall.translates());
        assert!(NatBehaviour::Symmetric.translates());
    }

    #[test]
    fn ipv6_gets_the_same_firewall_and_neighbour_discovery() {
        let rules = NatBehaviour::EndpointIndependent.ip6tables_restore();
        assert!(rules.starts_with("*filter\n-A INPUT -i wan -p ipv6-icmp -j ACCEPT\n"));
        assert!(rules
            .contains("-A FORWARD -i wan -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP"));
        assert!(!rules.contains("MASQUERADE"));
        assert_eq!(
            NatBehaviour::EndpointIndependentOpen.ip6tables_restore(),
            "*filter\nCOMMIT\n"
        );
    }
}

//! How a NAT box maps and filters, as iptables rules.

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
}

/// The interface of a NAT box that faces the internet.
pub(crate) const WAN: &str = "wan";
/// The interface of a NAT box that faces its host.
pub(crate) const LAN: &str = "lan";

impl NatBehaviour {
    /// The whole ruleset, as `iptables-restore` input.
    pub(crate) fn iptables_restore(self) -> String {
        let masquerade = match self {
            NatBehaviour::Symmetric => {
                format!("-A POSTROUTING -o {WAN} -j MASQUERADE --random-fully")
            }
            _ => format!("-A POSTROUTING -o {WAN} -j MASQUERADE"),
        };
        let firewall = match self {
            NatBehaviour::EndpointIndependentOpen => String::new(),
            _ => format!(
                "-A INPUT -i {WAN} -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP\n\
                 -A FORWARD -i {WAN} -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP\n"
            ),
        };
        format!("*nat\n{masquerade}\nCOMMIT\n*filter\n{firewall}COMMIT\n")
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
}

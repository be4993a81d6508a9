//! Who may use the control pipe on Windows: SYSTEM, the Administrators group and the
//! local group named in the configuration (`Punchwire Users` by default).
//!
//! Windows enforces this itself, when a client opens the pipe, from the security
//! descriptor built here ([`AccessPolicy::sddl`]); a client that got a connection has
//! passed that check, so [`AccessPolicy::allows`] has nothing left to refuse. This is
//! the Windows counterpart of the Unix socket's mode and SO_PEERCRED check.

use super::pipe_security;

/// What Windows tells about the other end of a pipe connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    pub pid: Option<u32>,
}

/// The group allowed to use the pipe, resolved once at start.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    group_name: String,
    /// `None` when the group does not exist: then only SYSTEM and Administrators.
    group_sid: Option<String>,
}

impl AccessPolicy {
    pub fn for_group(group_name: &str) -> Self {
        Self {
            group_name: group_name.to_owned(),
            group_sid: pipe_security::group_sid(group_name),
        }
    }

    pub fn group_name(&self) -> &str {
        &self.group_name
    }

    pub fn group_sid(&self) -> Option<&str> {
        self.group_sid.as_deref()
    }

    /// The pipe's security descriptor in SDDL: a protected DACL (nothing inherited)
    /// granting full access to SYSTEM (SY) and Administrators (BA), and read/write to the
    /// group. Everyone else, network logons included, gets nothing.
    pub fn sddl(&self) -> String {
        sddl_for(self.group_sid.as_deref())
    }

    /// Windows already refused whoever is not in the descriptor.
    pub fn allows(&self, _peer: &PeerIdentity) -> bool {
        true
    }

    /// What a refused user is told (on Windows the refusal happens at open, so the
    /// client says it; this is kept for the protocol's sake).
    pub fn denial(&self, _peer: &PeerIdentity) -> String {
        format!(
            "permission denied: you are not in the {0} group (an Administrator adds you with `net localgroup \"{0}\" %USERNAME% /add`)",
            self.group_name
        )
    }
}

/// The SDDL for a pipe open to SYSTEM, Administrators and, when it exists, the group.
pub fn sddl_for(group_sid: Option<&str>) -> String {
    let mut sddl = String::from("D:P(A;;GA;;;SY)(A;;GA;;;BA)");
    if let Some(sid) = group_sid {
        sddl.push_str(&format!("(A;;GRGW;;;{sid})"));
    }
    sddl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_admits_system_administrators_and_the_group_only() {
        assert_eq!(sddl_for(None), "D:P(A;;GA;;;SY)(A;;GA;;;BA)");
        assert_eq!(
            sddl_for(Some("S-1-5-21-1-2-3-1001")),
            "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;S-1-5-21-1-2-3-1001)"
        );
        let policy = AccessPolicy::for_group("Punchwire No Such Group");
        assert_eq!(
            policy.group_sid(),
            None,
            "a missing group admits nobody extra"
        );
        assert_eq!(policy.sddl(), sddl_for(None));
    }

    #[test]
    fn a_well_known_group_resolves_to_its_sid() {
        // BUILTIN\Administrators is S-1-5-32-544 on every Windows (and under Wine).
        assert_eq!(
            pipe_security::group_sid("Administrators").as_deref(),
            Some("S-1-5-32-544")
        );
    }
}

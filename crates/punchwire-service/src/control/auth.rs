//! Who is on the other end of the control socket, and whether they may use it.
//!
//! The socket's file mode (0660, group `punchwire`) already keeps outsiders from
//! connecting; checking the peer's credentials as well means a mode changed by hand
//! does not open the service to everyone.

use std::fs;

use nix::unistd::{Gid, Group, Uid, User};

/// The credentials the kernel vouches for (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// The group allowed to use the socket, resolved once at start.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    group_name: String,
    gid: Option<u32>,
}

impl AccessPolicy {
    /// `gid` is `None` when the group does not exist: then only root gets in.
    pub fn for_group(group_name: &str) -> Self {
        let gid = Group::from_name(group_name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        Self {
            group_name: group_name.to_owned(),
            gid,
        }
    }

    pub fn group_name(&self) -> &str {
        &self.group_name
    }

    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// Root, or a member of the group.
    pub fn allows(&self, peer: &PeerIdentity) -> bool {
        if peer.uid == 0 {
            return true;
        }
        let Some(gid) = self.gid else {
            return false;
        };
        if peer.gid == gid {
            return true;
        }
        // The process's own supplementary groups are the truth (they reflect newgrp and
        // a login that predates a usermod); the group database is the fallback when the
        // process is gone.
        if let Some(groups) = peer.pid.and_then(process_groups) {
            return groups.contains(&gid);
        }
        user_in_group(peer.uid, gid)
    }

    /// The message a refused user sees, saying what to do about it.
    pub fn denial(&self, peer: &PeerIdentity) -> String {
        let who = User::from_uid(Uid::from_raw(peer.uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("uid {}", peer.uid));
        match self.gid {
            Some(_) => format!(
                "permission denied: {who} is not in the {0} group (add it with `sudo usermod -aG {0} {who}` and log in again)",
                self.group_name
            ),
            None => format!(
                "permission denied: the {0} group does not exist, so only root may use the service (create it with `sudo groupadd --system {0}`)",
                self.group_name
            ),
        }
    }
}

fn process_groups(pid: i32) -> Option<Vec<u32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Groups:"))?;
    Some(
        line["Groups:".len()..]
            .split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

fn user_in_group(uid: u32, gid: u32) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    if user.gid == Gid::from_raw(gid) {
        return true;
    }
    matches!(Group::from_gid(Gid::from_raw(gid)), Ok(Some(g)) if g.mem.contains(&user.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_always_allowed_and_a_missing_group_admits_only_root() {
        let policy = AccessPolicy::for_group("punchwire-no-such-group");
        assert_eq!(policy.gid(), None);
        let root = PeerIdentity {
            uid: 0,
            gid: 0,
            pid: None,
        };
        let user = PeerIdentity {
            uid: 4242,
            gid: 4242,
            pid: None,
        };
        assert!(policy.allows(&root));
        assert!(!policy.allows(&user));
        assert!(policy
            .denial(&user)
            .contains("groupadd --system punchwire-no-such-group"));
    }

    #[test]
    fn membership_comes_from_the_process_groups() {
        // Our own process: its groups include its primary gid, so a policy for that
        // gid admits it even under a non-root uid claim.
        let me = std::process::id() as i32;
        let my_gid = nix::unistd::getgid().as_raw();
        let policy = AccessPolicy {
            group_name: "test".into(),
            gid: Some(my_gid),
        };
        let groups = process_groups(me).unwrap();
        let peer = PeerIdentity {
            uid: 4242,
            gid: 4243,
            pid: Some(me),
        };
        assert_eq!(policy.allows(&peer), groups.contains(&my_gid));
        let stranger = PeerIdentity {
            uid: 4242,
            gid: 4243,
            pid: None,
        };
        assert!(!policy.allows(&stranger), "an unknown uid is in no group");
    }
}

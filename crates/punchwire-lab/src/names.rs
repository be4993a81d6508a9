//! Names that are unique per lab, and the owner record that tells a crashed lab's
//! leftovers from a live one's.
//!
//! A lab is `pwlab<tag>` (tag: 6 random characters). Its namespaces are
//! `pwlab<tag>-<node>`, its WireGuard interfaces `pwlab<tag><reg|a|b>` (≤ 15
//! characters, and unique across namespaces because the UAPI socket directory is
//! shared), its files live in `/run/punchwire-lab/pwlab<tag>/`, whose `owner` file
//! holds the pid and start time of the process that built it. The long prefix keeps
//! clear of other tools' `pw…` names, which cleanup must never touch.

use std::fs;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::error::{LabError, Result};
use crate::topology::{Host, Node};

/// The prefix of every lab's names.
pub const PREFIX: &str = "pwlab";
/// Where labs keep their keys, logs and owner records.
pub const STATE_ROOT: &str = "/run/punchwire-lab";
pub(crate) const TAG_LEN: usize = 6;
const OWNER_FILE: &str = "owner";

/// The names of one lab.
#[derive(Debug, Clone)]
pub(crate) struct LabName {
    /// `pwlab<tag>`.
    pub name: String,
}

impl LabName {
    /// Picks a fresh tag and claims it by creating the lab's state directory with an
    /// owner record, before anything else of the lab exists: whatever carries the name
    /// and has no live owner is a leftover.
    pub fn claim() -> Result<Self> {
        fs::create_dir_all(STATE_ROOT)
            .map_err(|e| LabError::io(format!("creating {STATE_ROOT}"), e))?;
        let owner = Owner::me()?;
        // The directory appears under the lab's name with its owner record already in
        // it: another lab's cleanup, running at the same moment, takes a named directory
        // without an owner for a crashed lab's leftover and deletes it. So the record is
        // written under a name cleanup never looks at, then renamed into place.
        let staging = Path::new(STATE_ROOT).join(format!(".claim-{}", std::process::id()));
        for _ in 0..16 {
            let name = format!("{PREFIX}{}", random_tag());
            let dir = Path::new(STATE_ROOT).join(&name);
            let staged = staging.with_extension(&name);
            fs::create_dir(&staged)
                .map_err(|e| LabError::io(format!("creating {}", staged.display()), e))?;
            let file = staged.join(OWNER_FILE);
            if let Err(e) = fs::write(&file, owner.to_string()) {
                let _ = fs::remove_dir_all(&staged);
                return Err(LabError::io(format!("writing {}", file.display()), e));
            }
            if dir.exists() {
                let _ = fs::remove_dir_all(&staged);
                continue;
            }
            match fs::rename(&staged, &dir) {
                Ok(()) => return Ok(Self { name }),
                // Taken at the same moment by another lab: pick another tag.
                Err(_) if dir.exists() => {
                    let _ = fs::remove_dir_all(&staged);
                    continue;
                }
                Err(e) => {
                    let _ = fs::remove_dir_all(&staged);
                    return Err(LabError::io(format!("creating {}", dir.display()), e));
                }
            }
        }
        Err(LabError::Usage(format!(
            "no free lab name in {STATE_ROOT} after 16 tries"
        )))
    }

    pub fn namespace(&self, node: Node) -> String {
        format!("{}-{}", self.name, node.suffix())
    }

    pub fn iface(&self, host: Host) -> String {
        format!("{}{}", self.name, host.iface_suffix())
    }

    pub fn state_dir(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(&self.name)
    }
}

fn random_tag() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..TAG_LEN)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A process, identified by pid and start time so that a recycled pid is not taken for
/// the original owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pid: u32,
    start_time: u64,
}

impl Owner {
    fn me() -> Result<Self> {
        let pid = std::process::id();
        let start_time = start_time(pid).ok_or_else(|| {
            LabError::Usage(format!(
                "cannot read the start time of pid {pid} from /proc"
            ))
        })?;
        Ok(Self { pid, start_time })
    }

    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        Some(Self {
            pid: words.next()?.parse().ok()?,
            start_time: words.next()?.parse().ok()?,
        })
    }

    fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.pid, self.start_time)
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks after boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the lab called `name` (`pwlab<tag>`) has a live owner. A lab with no readable
/// owner record has none: the record is written before anything else exists.
pub(crate) fn has_live_owner(name: &str) -> bool {
    let file = Path::new(STATE_ROOT).join(name).join(OWNER_FILE);
    fs::read_to_string(file)
        .ok()
        .and_then(|t| Owner::parse(&t))
        .is_some_and(|o| o.is_alive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_limit() {
        let lab = LabName {
            name: format!("{PREFIX}{}", random_tag()),
        };
        for host in Host::ALL {
            assert!(lab.iface(host).len() <= 15, "{}", lab.iface(host));
        }
    }

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not() {
        let me = Owner::me().unwrap();
        assert!(me.is_alive());
        let impostor = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!impostor.is_alive());
        assert_eq!(Owner::parse(&me.to_string()), Some(me));
    }
}

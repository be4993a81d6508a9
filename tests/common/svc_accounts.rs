//! Throwaway system accounts: a control group, a member of it and an outsider. Created
//! with the distribution's own tools, removed on drop (panics included).

use std::process::Command;
use std::time::{Duration, Instant};

use nix::unistd::{Group, User};

/// A group `pwt<tag>` with one member `pwt<tag>m` and one outsider `pwt<tag>o`.
pub struct Accounts {
    pub group: String,
    pub member: String,
    pub outsider: String,
    users: Vec<String>,
    group_created: bool,
}

impl Accounts {
    pub fn create(tag: &str) -> Self {
        let mut accounts = Self {
            group: format!("pwt{tag}"),
            member: format!("pwt{tag}m"),
            outsider: format!("pwt{tag}o"),
            users: Vec::new(),
            group_created: false,
        };
        // The guard exists before anything is created, so a failure halfway cleans up.
        admin(&["groupadd", "--system", &accounts.group]);
        accounts.group_created = true;
        let member = accounts.member.clone();
        accounts.users.push(member.clone());
        admin(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--groups",
            &accounts.group,
            &member,
        ]);
        let outsider = accounts.outsider.clone();
        accounts.users.push(outsider.clone());
        admin(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            &outsider,
        ]);
        accounts
    }

    pub fn gid(&self) -> u32 {
        Group::from_name(&self.group)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("group {} vanished", self.group))
            .gid
            .as_raw()
    }

    /// `setpriv` arguments that run a command as `user`, with its groups.
    pub fn as_user(&self, user: &str) -> Vec<String> {
        let account = User::from_name(user)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("user {user} vanished"));
        vec![
            "setpriv".into(),
            format!("--reuid={}", account.uid),
            format!("--regid={}", account.gid),
            "--init-groups".into(),
        ]
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for user in self.users.drain(..) {
            // userdel also removes the user's own group (USERGROUPS_ENAB); groupdel is
            // there for systems where it does not.
            let _ = try_admin(&["userdel", &user]);
            let _ = try_admin(&["groupdel", &user]);
        }
        if self.group_created {
            let _ = try_admin(&["groupdel", &self.group]);
        }
    }
}

/// Runs an account tool, retrying while another process holds /etc/passwd's lock
/// (other test runs create accounts too).
fn try_admin(argv: &[&str]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| format!("{}: {e}", argv[0]))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // "cannot lock /etc/passwd; try again later."
        let locked = stderr.contains("lock");
        if !locked || Instant::now() >= deadline {
            return Err(format!("{argv:?}: {}: {stderr}", output.status));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn admin(argv: &[&str]) {
    try_admin(argv).unwrap_or_else(|e| panic!("{e}"));
}

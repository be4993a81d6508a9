//! Forwarding on the registry host for relayed peers: packets that arrive on the
//! WireGuard device may leave through it again, to another peer, and through nothing
//! else. Linux decides IPv4 forwarding by the interface a packet arrives on, so turning
//! it on for the device alone leaves every other interface as it was; two firewall rules
//! at the head of FORWARD keep it tunnel to tunnel, even where FORWARD's policy drops or
//! other rules accept. IPv6 forwarding is one switch for the whole machine on Linux, so
//! IPv6 tunnel addresses are not relayed.
//!
//! Everything is put back as it was on [`RelayForwarding::disable`] (and on drop).

use std::io;
use std::path::PathBuf;
use std::process::Command;

/// The comment on both firewall rules: how they are told from anyone else's.
pub const RULE_COMMENT: &str = "punchwire-relay";

#[derive(Debug, thiserror::Error)]
pub enum ForwardingError {
    #[error("relaying needs Linux, which forwards per interface; this system is not")]
    Unsupported,
    #[error("cannot {what}: {source}{}", read_only_hint(source))]
    Sysctl {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot run iptables to keep relayed traffic inside the tunnel ({source}); install iptables or turn relay off")]
    NoIptables {
        #[source]
        source: io::Error,
    },
    #[error("iptables refused `{rule}`: {said}")]
    Iptables { rule: String, said: String },
}

/// Where /proc/sys is read-only, the likely reason: a service manager's sandbox.
fn read_only_hint(error: &io::Error) -> &'static str {
    if error.raw_os_error() == Some(30) {
        // EROFS
        " (a sandbox such as systemd's ProtectKernelTunables=yes forbids it: install the \
         drop-in /usr/share/doc/punchwire-tray/registry-relay.conf)"
    } else {
        ""
    }
}

/// Forwarding turned on for one device; undone by [`RelayForwarding::disable`].
#[derive(Debug)]
pub struct RelayForwarding {
    device: String,
    /// The device's `forwarding` and `send_redirects` before, to put back.
    before: Vec<(PathBuf, String)>,
    undone: bool,
}

impl RelayForwarding {
    /// Lets packets that arrive on `device` be forwarded back out of it, and nowhere else.
    pub fn enable(device: &str) -> Result<Self, ForwardingError> {
        if !cfg!(target_os = "linux") {
            return Err(ForwardingError::Unsupported);
        }
        let mut forwarding = Self {
            device: device.to_owned(),
            before: Vec::new(),
            undone: false,
        };
        // The rules first: forwarding must never be on without them.
        for rule in forwarding.rules() {
            if !iptables(&check(&rule))? {
                run_iptables(&insert(&rule))?;
            }
        }
        // A redirect would tell a peer to send to another peer directly, which is the
        // very path that does not work.
        for (key, value) in [("forwarding", "1"), ("send_redirects", "0")] {
            let path = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{device}/{key}"));
            let old = std::fs::read_to_string(&path).map_err(|source| ForwardingError::Sysctl {
                what: format!("read {}", path.display()),
                source,
            })?;
            std::fs::write(&path, value).map_err(|source| ForwardingError::Sysctl {
                what: format!("write {}", path.display()),
                source,
            })?;
            forwarding.before.push((path, old.trim().to_owned()));
        }
        Ok(forwarding)
    }

    /// Puts forwarding and the firewall back as they were.
    pub fn disable(mut self) -> Result<(), ForwardingError> {
        self.undo()
    }

    fn undo(&mut self) -> Result<(), ForwardingError> {
        if std::mem::replace(&mut self.undone, true) {
            return Ok(());
        }
        let mut first_error = None;
        for (path, old) in self.before.drain(..).rev() {
            if let Err(source) = std::fs::write(&path, &old) {
                first_error.get_or_insert(ForwardingError::Sysctl {
                    what: format!("write {}", path.display()),
                    source,
                });
            }
        }
        for rule in self.rules() {
            // Deleted while present: a rule added twice by two runs goes too.
            while matches!(iptables(&check(&rule)), Ok(true)) {
                if let Err(e) = run_iptables(&delete(&rule)) {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The rules, in the order inserted at the head of FORWARD: the last inserted comes
    /// first, so tunnel-to-tunnel is accepted before the rest from the device is dropped.
    fn rules(&self) -> [Vec<String>; 2] {
        let dev = self.device.as_str();
        let comment = ["-m", "comment", "--comment", RULE_COMMENT];
        let drop: Vec<&str> = ["-i", dev, "!", "-o", dev]
            .into_iter()
            .chain(comment)
            .chain(["-j", "DROP"])
            .collect();
        let accept: Vec<&str> = ["-i", dev, "-o", dev]
            .into_iter()
            .chain(comment)
            .chain(["-j", "ACCEPT"])
            .collect();
        [drop, accept].map(|r| r.into_iter().map(str::to_owned).collect())
    }
}

impl Drop for RelayForwarding {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            tracing::warn!("relay forwarding on {}: {e}", self.device);
        }
    }
}

fn check(rule: &[String]) -> Vec<String> {
    with_action("-C", rule)
}
fn insert(rule: &[String]) -> Vec<String> {
    let mut args = with_action("-I", rule);
    args.insert(3, "1".to_owned());
    args
}
fn delete(rule: &[String]) -> Vec<String> {
    with_action("-D", rule)
}

/// `-w` waits for the xtables lock instead of failing while another tool holds it.
fn with_action(action: &str, rule: &[String]) -> Vec<String> {
    ["-w", action, "FORWARD"]
        .into_iter()
        .map(str::to_owned)
        .chain(rule.iter().cloned())
        .collect()
}

/// Runs iptables; whether it said yes.
fn iptables(args: &[String]) -> Result<bool, ForwardingError> {
    Command::new("iptables")
        .args(args)
        .output()
        .map(|out| out.status.success())
        .map_err(|source| ForwardingError::NoIptables { source })
}

fn run_iptables(args: &[String]) -> Result<(), ForwardingError> {
    let out = Command::new("iptables")
        .args(args)
        .output()
        .map_err(|source| ForwardingError::NoIptables { source })?;
    if out.status.success() {
        return Ok(());
    }
    Err(ForwardingError::Iptables {
        rule: format!("iptables {}", args.join(" ")),
        said: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_proc_sys_names_the_drop_in_that_allows_it() {
        let error = ForwardingError::Sysctl {
            what: "write /proc/sys/net/ipv4/conf/wg0/forwarding".into(),
            source: io::Error::from_raw_os_error(30),
        }
        .to_string();
        assert!(error.contains("registry-relay.conf"), "{error}");
        let other = ForwardingError::Sysctl {
            what: "read /proc/sys/net/ipv4/conf/wg0/forwarding".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        }
        .to_string();
        assert!(!other.contains("registry-relay.conf"), "{other}");
    }

    #[test]
    fn the_rules_accept_tunnel_to_tunnel_and_drop_the_rest_from_the_device() {
        let forwarding = RelayForwarding {
            device: "wg0".into(),
            before: Vec::new(),
            undone: true,
        };
        let [drop, accept] = forwarding.rules();
        assert_eq!(
            insert(&drop).join(" "),
            "-w -I FORWARD 1 -i wg0 ! -o wg0 -m comment --comment punchwire-relay -j DROP"
        );
        assert_eq!(
            check(&accept).join(" "),
            "-w -C FORWARD -i wg0 -o wg0 -m comment --comment punchwire-relay -j ACCEPT"
        );
    }
}

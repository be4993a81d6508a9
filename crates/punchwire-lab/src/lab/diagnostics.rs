//! The report a failed lab test prints: enough of every node's state to tell a product
//! bug from a lab fault without running the test again.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use super::Lab;
use crate::command;
use crate::topology::{Nat, Node};
use crate::wireguard;

/// Inspection during diagnostics must not hang on a wedged daemon.
const DIAGNOSTIC_TIMEOUT: Duration = Duration::from_secs(5);

impl Lab {
    /// A report for a failed test: `wg show` of each host, conntrack and iptables (and
    /// ip6tables) of the NAT boxes and a carrier NAT, and the tail of every daemon's and spawned process's log.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "=== lab {} ({}; nat-a {:?}, nat-b {:?}; carrier NAT {:?}; IPv6 {})",
            self.name(),
            self.wg,
            self.nats[0],
            self.nats[1],
            self.carrier,
            self.ipv6,
        );
        // A command that fails is reported in its place: the rest of the report
        // matters all the more.
        let mut section = |node: Node, args: &[&str]| {
            let ns = self.namespace(node);
            let _ = writeln!(out, "--- {node}: {}", args.join(" "));
            match command::output(Some(&ns), args, None, DIAGNOSTIC_TIMEOUT) {
                Ok(o) => {
                    out.push_str(&String::from_utf8_lossy(&o.stdout));
                    out.push_str(&String::from_utf8_lossy(&o.stderr));
                }
                Err(e) => {
                    let _ = writeln!(out, "({e})");
                }
            }
        };
        for info in &self.hosts {
            section(info.host.into(), &["wg", "show", &info.iface]);
        }
        let boxes = Nat::ALL
            .into_iter()
            .map(Node::from)
            .chain(self.carrier.map(|_| Node::Carrier));
        for node in boxes {
            section(node, &["conntrack", "-L"]);
            section(node, &["iptables", "-S", "-v"]);
            section(node, &["iptables", "-t", "nat", "-S", "-v"]);
            if self.ipv6 {
                section(node, &["conntrack", "-L", "-f", "ipv6"]);
                section(node, &["ip6tables", "-S", "-v"]);
            }
        }
        for info in &self.hosts {
            let log = self.daemon_log(info.host);
            let _ = writeln!(out, "--- {} daemon log {}", info.host, log.display());
            out.push_str(&wireguard::tail(&log, 20));
            out.push('\n');
        }
        // Copied out so that the lock is not held while reading the logs.
        let logs: Vec<(Node, PathBuf)> = self
            .state()
            .children
            .iter()
            .map(|c| (c.node, c.log.clone()))
            .collect();
        for (node, log) in logs {
            let _ = writeln!(out, "--- {node}: {}", log.display());
            out.push_str(&wireguard::tail(&log, 40));
            out.push('\n');
        }
        out
    }

    /// Runs `test` and, if it panics, prints [`Lab::diagnostics`] before passing the
    /// panic on.
    pub fn with_diagnostics_on_panic<R>(&self, test: impl FnOnce(&Lab) -> R) -> R {
        match panic::catch_unwind(AssertUnwindSafe(|| test(self))) {
            Ok(r) => r,
            Err(p) => {
                eprintln!("{}", self.diagnostics());
                panic::resume_unwind(p)
            }
        }
    }
}

//! Undoing a lab: every process it started, every daemon, namespace and file. It runs
//! once, from [`Lab::shutdown`] or from `Drop` (also while a test panics), and keeps
//! going past each failure so that one stuck piece does not leak the rest.

use std::fs;
use std::path::Path;

use super::Lab;
use crate::cleanup::NETNS_ETC;
use crate::command;
use crate::error::{LabError, Result};
use crate::topology::Host;
use crate::wireguard;

impl Lab {
    /// Tears the lab down now, reporting what could not be removed. Dropping the lab
    /// does the same and prints the problems instead.
    pub fn shutdown(self) -> Result<()> {
        let problems = self.teardown();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Usage(format!(
                "tearing down lab {}: {}",
                self.name(),
                problems.join("; ")
            )))
        }
    }

    /// Processes first, so that nothing runs in a namespace as it is deleted; then the
    /// namespaces in one `ip -force -batch`, which goes on past one it cannot delete.
    fn teardown(&self) -> Vec<String> {
        let mut state = self.state();
        if state.torn_down {
            return Vec::new();
        }
        state.torn_down = true;
        let mut problems = Vec::new();
        for c in &mut state.children {
            c.kill();
        }
        for (i, daemon) in state.daemons.iter_mut().enumerate() {
            if let Some(child) = daemon.take() {
                wireguard::stop_daemon(child, &self.name.iface(Host::ALL[i]));
            }
        }
        for ns in &state.namespaces {
            let etc = Path::new(NETNS_ETC).join(ns);
            if let Err(e) = fs::remove_dir_all(&etc) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    problems.push(format!("removing {}: {e}", etc.display()));
                }
            }
        }
        if !state.namespaces.is_empty() {
            let batch: String = state
                .namespaces
                .iter()
                .map(|ns| format!("netns del {ns}\n"))
                .collect();
            if let Err(e) = command::run(
                None,
                &["ip", "-force", "-batch", "-"],
                Some(batch.as_bytes()),
            ) {
                problems.push(e.to_string());
            }
            state.namespaces.clear();
        }
        if let Err(e) = fs::remove_dir_all(self.state_dir()) {
            problems.push(format!("removing {}: {e}", self.state_dir().display()));
        }
        problems
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for problem in self.teardown() {
            eprintln!("punchwire-lab: tearing down {}: {problem}", self.name());
        }
    }
}

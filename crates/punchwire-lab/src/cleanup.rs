//! Removing what crashed labs left behind: namespaces with their processes, UAPI
//! sockets and state directories — only of labs whose owner process is dead, so that
//! concurrent runs are never touched.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::command;
use crate::error::Result;
use crate::names::{has_live_owner, STATE_ROOT, TAG_LEN};
use crate::topology::{Host, Node};
use crate::wireguard::SOCKET_DIR;

/// Removes the leftovers of every lab named `<prefix><tag>` whose owner is dead: kills
/// the processes still running in its namespaces, deletes the namespaces, its UAPI
/// sockets and its state directory. Returns the names of the labs it cleaned.
///
/// A lab is only recognised by a namespace `<prefix><tag>-<node>` or a state directory
/// `/run/punchwire-lab/<prefix><tag>`; a socket alone is never reason enough, since
/// other tools name interfaces too.
///
/// Labs use [`crate::PREFIX`]; `Lab::builder().build()` calls this with it, so a crashed
/// run is cleaned by the next one.
/// Where `ip netns exec` finds files it mounts over /etc for one namespace.
pub(crate) const NETNS_ETC: &str = "/etc/netns";

pub fn cleanup_stale(prefix: &str) -> Result<Vec<String>> {
    let namespaces = list_namespaces()?;
    let mut labs = BTreeSet::new();
    for ns in &namespaces {
        if let Some(lab) = lab_of_namespace(prefix, ns) {
            labs.insert(lab);
        }
    }
    for dir in list_dir(STATE_ROOT) {
        if is_lab_name(prefix, &dir) {
            labs.insert(dir);
        }
    }

    let mut cleaned = Vec::new();
    for lab in labs.into_iter().filter(|lab| !has_live_owner(lab)) {
        let mine: Vec<&String> = namespaces
            .iter()
            .filter(|ns| lab_of_namespace(prefix, ns).as_deref() == Some(lab.as_str()))
            .collect();
        for ns in &mine {
            kill_processes_in(ns);
        }
        for ns in &mine {
            if let Err(e) = command::run(None, &["ip", "netns", "del", ns.as_str()], None) {
                eprintln!("punchwire-lab: cleaning stale lab {lab}: {e}");
            }
            // `ip netns del` leaves the namespace's own /etc files behind.
            let _ = fs::remove_dir_all(Path::new(NETNS_ETC).join(ns.as_str()));
        }
        for host in Host::ALL {
            let _ = fs::remove_file(
                Path::new(SOCKET_DIR).join(format!("{lab}{}.sock", host.iface_suffix())),
            );
        }
        let _ = fs::remove_dir_all(Path::new(STATE_ROOT).join(&lab));
        cleaned.push(lab);
    }
    Ok(cleaned)
}

fn list_namespaces() -> Result<Vec<String>> {
    let out = command::run(None, &["ip", "netns", "list"], None)?;
    // Lines look like "name (id: 3)" or just "name".
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

fn list_dir(dir: &str) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn kill_processes_in(ns: &str) {
    let Ok(pids) = command::run(None, &["ip", "netns", "pids", ns], None) else {
        return;
    };
    let pids: Vec<&str> = pids.split_whitespace().collect();
    if !pids.is_empty() {
        let mut args = vec!["kill", "-KILL"];
        args.extend(pids);
        let _ = command::run(None, &args, None);
    }
}

fn is_lab_name(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|tag| {
        tag.len() == TAG_LEN
            && tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// `<prefix><tag>` of a namespace called `<prefix><tag>-<node>`.
fn lab_of_namespace(prefix: &str, ns: &str) -> Option<String> {
    let (lab, suffix) = ns.rsplit_once('-')?;
    (is_lab_name(prefix, lab) && Node::ALL.iter().any(|n| n.suffix() == suffix))
        .then(|| lab.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_lab_names() {
        assert_eq!(
            lab_of_namespace("pw", "pwab12cd-alice").as_deref(),
            Some("pwab12cd")
        );
        assert_eq!(lab_of_namespace("pw", "pwab12cd-nope"), None);
        assert_eq!(lab_of_namespace("pw", "pwab12c-alice"), None);
        assert_eq!(lab_of_namespace("pw", "pwAB12cd-alice"), None);
        assert!(!is_lab_name("pw", "pwab12cdx"));
    }
}

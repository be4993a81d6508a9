//! The WireGuard interfaces no `[[interface]]` names yet, and what asking their peers
//! found: what the window and the tray offer to set up with one click. A search runs in
//! the background when `status` first sees an interface, and again after a while; its
//! end is an event, so that clients read the status again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use punchwire_control::setup::{Discovery, UnconfiguredInterface};
use serde_json::json;

use crate::interface_task::{find, found_discovery, Shared};

/// How long what a search found stands before the next search: peers change seldom.
const FOUND_STANDS: Duration = Duration::from_secs(300);
/// How long "nothing found" stands: a registry may be coming up.
const NOT_FOUND_STANDS: Duration = Duration::from_secs(30);

pub struct Scout {
    shared: Shared,
    seen: Mutex<HashMap<String, Seen>>,
}

struct Seen {
    discovery: Discovery,
    /// When the latest search ended; `None` while one runs.
    ended: Option<Instant>,
}

impl Scout {
    pub fn new(shared: Shared) -> Arc<Self> {
        Arc::new(Self {
            shared,
            seen: Mutex::default(),
        })
    }

    /// What is known of each unconfigured interface (name and peer count), starting a
    /// search where none runs and the last one's result is old. Interfaces not listed
    /// are forgotten.
    pub fn survey(
        self: &Arc<Self>,
        interfaces: Vec<(String, usize)>,
    ) -> Vec<UnconfiguredInterface> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|name, _| interfaces.iter().any(|(n, _)| n == name));
        let mut listed = Vec::new();
        for (name, peers) in interfaces {
            let entry = seen.entry(name.clone()).or_insert_with(|| {
                // First seen: searched at once (`ended: None` says a search runs).
                self.search(name.clone());
                Seen {
                    discovery: Discovery::looking(),
                    ended: None,
                }
            });
            let stands = match entry.discovery {
                Discovery::Found { .. } => FOUND_STANDS,
                _ => NOT_FOUND_STANDS,
            };
            if entry.ended.is_some_and(|ended| ended.elapsed() >= stands) {
                entry.ended = None;
                self.search(name.clone());
            }
            listed.push(UnconfiguredInterface {
                name,
                peers,
                discovery: entry.discovery.clone(),
            });
        }
        listed
    }

    fn search(self: &Arc<Self>, iface: String) {
        let scout = Arc::clone(self);
        tokio::spawn(async move {
            let discovery = match find(&scout.shared.backend, &iface, &[], None).await {
                Ok(found) => found_discovery(&found),
                Err(error) => Discovery::not_found(error),
            };
            let changed = {
                let mut seen = scout.seen.lock().unwrap_or_else(|p| p.into_inner());
                let Some(entry) = seen.get_mut(&iface) else {
                    return; // configured or gone meanwhile
                };
                entry.ended = Some(Instant::now());
                let changed = entry.discovery != discovery;
                entry.discovery = discovery.clone();
                changed
            };
            if changed {
                scout.shared.log.publish(json!({
                    "type": "interface-surveyed",
                    "iface": iface,
                    "discovery": discovery,
                }));
            }
        });
    }
}

/// Whether a network link of this name exists in the service's own network namespace.
/// Userspace WireGuard's control sockets live in one directory for the whole machine,
/// so a socket may belong to an interface of another namespace (or be left over from one
/// that is gone): only this namespace's interfaces are this machine's to offer.
#[cfg(target_os = "linux")]
pub fn is_here(iface: &str) -> bool {
    nix::net::if_::if_nametoindex(iface).is_ok()
}

#[cfg(not(target_os = "linux"))]
pub fn is_here(_iface: &str) -> bool {
    true
}

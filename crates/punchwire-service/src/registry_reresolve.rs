//! Keeps the registry peer reachable when its endpoint is a DNS name whose address
//! changes (a home server on a dynamic address): like wireguard-tools'
//! reresolve-dns.sh, but continuous. One task per configured interface, beside its
//! [`crate::interface_task`]: it reads the device every [`READ_EVERY`], and when the
//! registry peer is quiet ([`crate::registry_quiet`]) asks the system's resolver for
//! the name its wg-quick file gives ([`crate::endpoint_names`]) and sets the address it
//! gives now ([`crate::reresolve_decision`]). A name that cannot be resolved leaves the
//! endpoint as it is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use punchwire_control::error_line::one_line;
use punchwire_control::events::{RegistryMoved, RegistryNameUnresolved, ServiceEvent};
use punchwire_discovery::policy::serves_registry;
use punchwire_wg::{Endpoint, Peer, PublicKey};
use tokio::sync::watch;

use crate::endpoint_names::{self, NamedEndpoint};
use crate::interface_task::{Phase, Shared, Wanted};
use crate::name_lookup;
use crate::peer_names::read_names_file;
use crate::registry_quiet::{quiet, Heard};
use crate::reresolve_decision::{new_endpoint, Asked};

/// How often the device is read: a quiet registry is noticed at most this long after
/// [`crate::registry_quiet::SILENCE`]. Only interfaces whose file names a registry's
/// endpoint are read, and a read is one request to WireGuard.
pub const READ_EVERY: Duration = Duration::from_secs(2);

/// What the task remembers of one registry peer.
struct Watched {
    heard: Heard,
    asked: Asked,
    /// Whether the current quiet spell was said in the log.
    quiet_said: bool,
    /// The last failure said, so that each distinct one is said once.
    error_said: Option<String>,
}

/// The task's inputs, all shared with the interface's own task.
pub struct Reresolver {
    pub iface: String,
    pub names_path: PathBuf,
    pub configured_registries: Vec<SocketAddr>,
    pub shared: Shared,
    pub wanted: watch::Receiver<Wanted>,
    /// Held around each endpoint write; [`crate::interface_task::InterfaceTask::pause`]
    /// takes it too.
    pub writing: Arc<tokio::sync::Mutex<()>>,
    pub phase: watch::Receiver<Phase>,
}

impl Reresolver {
    /// Runs until the interface's task ends (it aborts this one).
    pub async fn run(self) {
        let mut watched: HashMap<PublicKey, Watched> = HashMap::new();
        loop {
            // Paused means no endpoint changes, this one's included.
            if *self.wanted.borrow() == Wanted::Run {
                self.pass(&mut watched).await;
            }
            tokio::time::sleep(READ_EVERY).await;
        }
    }

    /// The registries as known now: the ones found, once found; until then the
    /// configured ones. With neither, every peer whose endpoint is a name counts, as
    /// finding the registries needs a tunnel to one of them.
    fn registries(&self) -> Vec<SocketAddr> {
        match &*self.phase.borrow() {
            Phase::Ready(ready) => ready.setup.registries.clone(),
            Phase::Finding(_) => self.configured_registries.clone(),
        }
    }

    async fn pass(&self, watched: &mut HashMap<PublicKey, Watched>) {
        let named = match read_names_file(&self.names_path) {
            Ok(text) => endpoint_names::parse(&text),
            // Why a file cannot be read is said by the peer names, which read it too.
            Err(_) => return,
        };
        if named.is_empty() {
            return;
        }
        let device = match self.shared.backend.device(&self.iface).await {
            Ok(device) => device,
            Err(e) => {
                tracing::debug!("{}: registry re-resolution: {}", self.iface, one_line(&e));
                return;
            }
        };
        let registries = self.registries();
        let now = SystemTime::now();
        for peer in &device.peers {
            let Some(name) = named.get(&peer.public_key) else {
                continue;
            };
            if !is_registry_peer(peer, &registries) {
                continue;
            }
            let entry = watched.entry(peer.public_key).or_insert_with(|| Watched {
                heard: Heard::first(peer, now),
                asked: Asked::default(),
                quiet_said: false,
                error_said: None,
            });
            entry.heard = entry.heard.update(peer, now);
            let quiet = quiet(peer, &entry.heard, now);
            let due = entry.asked.due(quiet.is_some(), now);
            let first = due && !entry.asked.once();
            entry.asked.note(quiet.is_some(), due, now);
            match quiet {
                Some(why) if due && !entry.quiet_said => {
                    tracing::info!(
                        "{}: registry peer {} is quiet ({why}); asking for {name} again",
                        self.iface,
                        peer.public_key.short()
                    );
                    entry.quiet_said = true;
                }
                None => entry.quiet_said = false,
                _ => {}
            }
            if due {
                self.resolve(peer, name, quiet.is_some(), first, entry)
                    .await;
            }
        }
    }

    async fn resolve(
        &self,
        peer: &Peer,
        name: &NamedEndpoint,
        quiet: bool,
        first: bool,
        entry: &mut Watched,
    ) {
        let iface = &self.iface;
        let key = peer.public_key;
        let addresses = match name_lookup::addresses(&name.host).await {
            Ok(addresses) => addresses,
            Err(e) => {
                let error = one_line(&e);
                if entry.error_said.as_ref() != Some(&error) {
                    tracing::warn!(
                        "{iface}: {error}; the registry peer {} keeps its endpoint",
                        key.short()
                    );
                    self.publish(ServiceEvent::RegistryNameUnresolved(
                        RegistryNameUnresolved {
                            iface: iface.clone(),
                            peer: key.to_base64(),
                            name: self.peer_name(&key),
                            host: name.to_string(),
                            error: error.clone(),
                        },
                    ));
                    entry.error_said = Some(error);
                }
                return;
            }
        };
        entry.error_said = None;
        let Some(new) = new_endpoint(peer.endpoint, name.port, &addresses, quiet) else {
            let current = peer
                .endpoint
                .map_or_else(|| "none".to_owned(), |a| a.to_string());
            // Said once at start, so that a user sees what the name gives and that it is
            // watched; later it is routine.
            if first {
                tracing::info!(
                    "{iface}: registry peer {} has a named endpoint, {name}, which gives \
                     {addresses:?}; its endpoint {current} stays",
                    key.short()
                );
            } else {
                tracing::debug!("{iface}: {name} gives {addresses:?}; endpoint {current} stays");
            }
            return;
        };
        let endpoint = match Endpoint::new(new) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                tracing::warn!("{iface}: {name} gives {new}, which cannot be an endpoint: {e}");
                return;
            }
        };
        // Checked again, under the lock a pause takes once it is asked for: a pause
        // that came during the lookup stops this write, and one that comes during the
        // write returns only after it.
        let written = {
            let _writing = self.writing.lock().await;
            if *self.wanted.borrow() != Wanted::Run {
                return;
            }
            self.shared
                .backend
                .set_endpoint(iface, peer, endpoint)
                .await
        };
        match written {
            Ok(()) => {
                let old = peer
                    .endpoint
                    .map_or_else(|| "none".to_owned(), |a| a.to_string());
                tracing::info!(
                    "{iface}: registry peer {} moved: {name} now gives {new} (was {old})",
                    key.short()
                );
                self.publish(ServiceEvent::RegistryMoved(RegistryMoved {
                    iface: iface.clone(),
                    peer: key.to_base64(),
                    name: self.peer_name(&key),
                    host: name.to_string(),
                    old: peer.endpoint,
                    new,
                }));
            }
            Err(e) => tracing::warn!(
                "{iface}: cannot point the registry peer {} at {new} ({name}): {}",
                key.short(),
                one_line(&e)
            ),
        }
    }

    fn peer_name(&self, key: &PublicKey) -> Option<String> {
        self.shared
            .peer_names
            .get(&self.names_path)
            .get(key)
            .cloned()
    }

    fn publish(&self, event: ServiceEvent) {
        self.shared
            .log
            .publish(serde_json::to_value(event).expect("events are plain data"));
    }
}

/// A registry peer routes a registry's address (discovery's rule); with no registries
/// known yet, any peer may be one.
pub fn is_registry_peer(peer: &Peer, registries: &[SocketAddr]) -> bool {
    let ips: Vec<_> = registries.iter().map(|r| r.ip().to_canonical()).collect();
    registries.is_empty() || serves_registry(peer, &ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_peer_is_the_one_routing_a_registry_address() {
        let mut registry = Peer::new(PublicKey::from_bytes([1; 32]));
        registry.allowed_ips = vec!["10.99.0.1/32".parse().unwrap()];
        let mut bob = Peer::new(PublicKey::from_bytes([2; 32]));
        bob.allowed_ips = vec!["10.99.0.3/32".parse().unwrap()];
        let registries = ["10.99.0.1:53".parse().unwrap()];
        assert!(is_registry_peer(&registry, &registries));
        assert!(!is_registry_peer(&bob, &registries));
        assert!(is_registry_peer(&bob, &[]), "none known yet: any may be");
    }
}

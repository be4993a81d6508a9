//! `status`: everything the service knows, read now. The service's lock is held only to
//! copy what is configured: the devices and the names files are read after it is let go,
//! so that a wedged WireGuard daemon or a slow disk holds up this answer alone, never
//! pause, resume or set-config for other clients.

use std::time::SystemTime;

use punchwire_control::setup::{UnconfiguredInterface, PROPOSED_REGISTRY_ZONE};
use punchwire_control::status::{InterfaceStatus, RegistryLink, RegistryModeStatus, ServiceStatus};
use punchwire_discovery::InterfaceView;

use crate::config::InterfaceConfig;
use crate::interface_task::{engine_config, Phase};
use crate::relay::Relays;
use crate::report::{own_tunnel_ips, peer_status, relayed_status, summary};
use crate::scout;
use crate::service::{Service, State};

/// One configured interface as copied under the lock.
struct Copied {
    config: InterfaceConfig,
    paused: bool,
    phase: Phase,
}

impl Service {
    pub async fn status(&self) -> ServiceStatus {
        let (configured, registry) = {
            let state = self.state.lock().await;
            let configured: Vec<Copied> = state
                .interfaces
                .values()
                .map(|task| Copied {
                    config: task.config.clone(),
                    paused: task.paused(),
                    phase: task.phase(),
                })
                .collect();
            (configured, registry_status(&state))
        };
        let now = SystemTime::now();
        let mut interfaces = Vec::new();
        for copied in &configured {
            interfaces.push(self.interface_status(copied, now).await);
        }
        let taken: Vec<&str> = configured
            .iter()
            .map(|c| c.config.name.as_str())
            .chain(registry.as_ref().map(|r| r.device.as_str()))
            .collect();
        let unconfigured = self.unconfigured(&taken).await;
        let proposed_registry_zone = registry
            .is_none()
            .then(|| PROPOSED_REGISTRY_ZONE.to_owned());
        ServiceStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_path: self.config_path().display().to_string(),
            summary: summary(&interfaces),
            interfaces,
            registry,
            unconfigured,
            proposed_registry_zone,
        }
    }

    /// One interface as the device, the names file and the engine's view show it now.
    async fn interface_status(&self, copied: &Copied, now: SystemTime) -> InterfaceStatus {
        let config = &copied.config;
        let name = config.name.as_str();
        let (registries, zone, discovery, view, relays) = match &copied.phase {
            Phase::Finding(discovery) => (
                Vec::new(),
                String::new(),
                Some(discovery.clone()),
                // Nothing learned yet: every peer is judged on its device's facts alone.
                InterfaceView::new(&[], engine_config(config, Vec::new()).thresholds()),
                Relays::default(),
            ),
            Phase::Ready(ready) => (
                ready.setup.registries.clone(),
                ready.setup.zone.to_string(),
                ready.setup.discovery.clone(),
                ready.view.borrow().clone(),
                ready.relays.borrow().clone(),
            ),
        };
        let (peers, error) = match self.shared.backend.device(name).await {
            Ok(device) => {
                let names = self.shared.peer_names.get(&config.names_path());
                let peers = device
                    .peers
                    .iter()
                    .map(|p| {
                        let status = peer_status(p, names.get(&p.public_key).cloned(), &view, now);
                        match relays.peers.get(&p.public_key) {
                            Some(relayed) => relayed_status(status, relayed, now),
                            None => own_tunnel_ips(status, &relays),
                        }
                    })
                    .collect();
                (peers, None)
            }
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let registries = registries
            .iter()
            .map(|&address| {
                let seen = view.registry(address);
                RegistryLink {
                    address,
                    reachable: seen.reachable,
                    rtt_ms: seen.rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
                    serial: seen.serial,
                    last_sync_age_secs: seen.last_answer.map(|t| t.elapsed().as_secs()),
                    error: seen.error,
                }
            })
            .collect();
        InterfaceStatus {
            name: name.to_owned(),
            zone,
            paused: copied.paused,
            error,
            peers,
            registries,
            // The task says `looking` until it has started, even when there is nothing to find.
            discovery: discovery.filter(|_| config.finds_registries()),
        }
    }

    /// The WireGuard interfaces of this machine that are not `taken`, with what asking
    /// their peers found. A backend that cannot list them lists none: the status is
    /// still worth having.
    async fn unconfigured(&self, taken: &[&str]) -> Vec<UnconfiguredInterface> {
        let backend = &self.shared.backend;
        let names = match backend.interfaces().await {
            Ok(names) => names,
            Err(e) => {
                tracing::debug!("cannot list WireGuard interfaces: {e}");
                Vec::new()
            }
        };
        let mut free = Vec::new();
        for name in names {
            if taken.contains(&name.as_str()) || !scout::is_here(&name) {
                continue;
            }
            // One that vanished between the listing and the read is simply not listed.
            if let Ok(device) = backend.device(&name).await {
                free.push((name, device.peers.len()));
            }
        }
        self.scout.survey(free)
    }
}

/// Registry mode as configured and running: counters only, nothing read from a device.
fn registry_status(state: &State) -> Option<RegistryModeStatus> {
    state.config.registry.as_ref().map(|config| {
        let stats = state.registry.running.as_ref().map(|r| r.stats());
        RegistryModeStatus {
            enabled: state.registry.running.is_some(),
            zone: config.zone.to_string(),
            device: config.device.to_string(),
            listen: state
                .registry
                .running
                .as_ref()
                .map(|r| r.local_addrs().to_vec())
                .unwrap_or_default(),
            peers_served: stats.as_ref().map_or(0, |s| s.peers),
            queries: stats.as_ref().map_or(0, |s| s.queries),
            refusals: stats.as_ref().map_or(0, |s| s.refused),
            strangers_dropped: stats.as_ref().map_or(0, |s| s.strangers_dropped),
            rate_limited: stats.as_ref().map_or(0, |s| s.rate_limited),
            tcp_refused: stats.as_ref().map_or(0, |s| s.tcp_refused),
            error: state.registry.error.clone().or_else(|| {
                let stats = stats?;
                if let Some(why) = stats.refresh_stopped {
                    return Some(format!(
                        "the registry stopped reading {}: {why}; restart the service",
                        config.device
                    ));
                }
                (!stats.fresh).then(|| format!("cannot read {}: answering SERVFAIL", config.device))
            }),
        }
    })
}

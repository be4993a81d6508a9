//! One configured interface, run as its own task: first its registries and zone (found
//! among the peers when the configuration leaves them out), then the discovery engine,
//! paused and resumed on demand without losing what it learned (registry health, peers
//! held back). Beside it, from the start, the [`crate::registry_reresolve`] task keeps a
//! registry whose endpoint is a name at the address the name gives; beside the engine,
//! the [`crate::candidate_registration`] task keeps this peer's candidates registered,
//! and with `relay` on the [`crate::relay`] task routes a peer that stays not direct
//! through the registry peer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use punchwire_control::defaults;
use punchwire_control::error_line::one_line;
use punchwire_control::setup::Discovery;
use punchwire_control::zone::Zone;
use punchwire_discovery::find::{find_on_device, Found};
use punchwire_discovery::{Config as EngineConfig, DnsSource, Engine, InterfaceView};
use punchwire_wg::Backend;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::candidate_registration::Registrar;
use crate::config::InterfaceConfig;
use crate::engine_events::event_json;
use crate::event_log::EventLog;
use crate::peer_names::PeerNames;
use crate::registry_reresolve::Reresolver;
use crate::relay::{self, Relayer, Relays};

/// After a search for the registries found none: the first wait before the next, which
/// doubles up to [`FIND_RETRY_MAX`]. A registry that comes up later is found by itself.
const FIND_RETRY_FIRST: Duration = Duration::from_secs(2);
const FIND_RETRY_MAX: Duration = Duration::from_secs(30);

/// What every interface task shares with the service.
#[derive(Clone)]
pub struct Shared {
    pub backend: Backend,
    pub log: Arc<EventLog>,
    pub peer_names: Arc<PeerNames>,
    /// Where what must be undone after a crash is kept (the relay's records).
    pub state_dir: PathBuf,
}

impl Shared {
    /// Where the relay of `iface` records the AllowedIPs it changed.
    pub fn relay_record(&self, iface: &str) -> PathBuf {
        relay::record::path(&self.state_dir, iface)
    }
}

/// Where an interface's task is.
#[derive(Clone)]
pub enum Phase {
    /// Looking for the registries and zone among the peers.
    Finding(Discovery),
    /// The engine exists (running or paused).
    Ready(Ready),
}

#[derive(Clone)]
pub struct Ready {
    pub setup: Setup,
    /// What the engine published last: the peers' health memory, judged at `status`.
    pub view: watch::Receiver<InterfaceView>,
    /// The peers relayed through the registry now (none with `relay` off).
    pub relays: watch::Receiver<Relays>,
}

/// What the service wants of an interface's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Run,
    Pause,
    Stop,
}

pub struct InterfaceTask {
    pub config: InterfaceConfig,
    wanted: watch::Sender<Wanted>,
    /// Whether the engine runs now: false while paused and while still finding.
    running: watch::Receiver<bool>,
    phase: watch::Receiver<Phase>,
    handle: JoinHandle<()>,
    /// Held by the registry re-resolution while it writes an endpoint.
    writing: Arc<tokio::sync::Mutex<()>>,
    shared: Shared,
}

impl InterfaceTask {
    pub fn start(config: InterfaceConfig, shared: Shared) -> Self {
        let wanted = if config.paused {
            Wanted::Pause
        } else {
            Wanted::Run
        };
        let (wanted_tx, wanted_rx) = watch::channel(wanted);
        let (running_tx, running_rx) = watch::channel(false);
        let (phase_tx, phase_rx) = watch::channel(Phase::Finding(Discovery::looking()));
        let writing = Arc::new(tokio::sync::Mutex::new(()));
        let handle = tokio::spawn(run(
            config.clone(),
            shared.clone(),
            wanted_rx,
            running_tx,
            phase_tx,
            Arc::clone(&writing),
        ));
        Self {
            config,
            wanted: wanted_tx,
            running: running_rx,
            writing,
            phase: phase_rx,
            handle,
            shared,
        }
    }

    pub fn paused(&self) -> bool {
        *self.wanted.borrow() == Wanted::Pause
    }

    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    pub fn resume(&self) {
        self.wanted.send_if_modified(|w| {
            let change = *w == Wanted::Pause;
            if change {
                *w = Wanted::Run;
            }
            change
        });
    }

    /// Returns once the engine has stopped: no endpoint changes after this.
    pub async fn pause(&self) {
        self.wanted.send_if_modified(|w| {
            let change = *w == Wanted::Run;
            if change {
                *w = Wanted::Pause;
            }
            change
        });
        let mut running = self.running.clone();
        // An error means the task has ended, which is stopped too.
        let _ = running.wait_for(|running| !running).await;
        // A registry endpoint being written now is written before this returns; the
        // next one sees the pause.
        drop(self.writing.lock().await);
    }

    /// Returns once the engine has stopped and any relay is undone.
    pub async fn stop(self) {
        self.wanted.send_replace(Wanted::Stop);
        let iface = self.config.name.as_str();
        if let Err(e) = self.handle.await {
            tracing::error!("{iface}: discovery task ended abnormally: {e}");
        }
        let shared = &self.shared;
        let why = "relay ended with the interface's discovery";
        relay::undo(
            &shared.backend,
            &shared.log,
            &shared.relay_record(iface),
            iface,
            why,
        )
        .await;
    }
}

/// The task: find, then run the engine whenever it is wanted, until told to stop.
async fn run(
    config: InterfaceConfig,
    shared: Shared,
    mut wanted: watch::Receiver<Wanted>,
    running: watch::Sender<bool>,
    phase: watch::Sender<Phase>,
    writing: Arc<tokio::sync::Mutex<()>>,
) {
    undo_leftover_relay(&config, &shared).await;
    let _reresolving = AbortOnDrop::new(tokio::spawn(
        Reresolver {
            iface: config.name.to_string(),
            names_path: config.names_path(),
            configured_registries: config.registries.clone(),
            shared: shared.clone(),
            wanted: wanted.clone(),
            writing,
            phase: phase.subscribe(),
        }
        .run(),
    ));
    let setup = tokio::select! {
        setup = registries_and_zone(&config, &shared, &phase) => setup,
        _ = wanted.wait_for(|w| *w == Wanted::Stop) => return,
    };
    let source = DnsSource::new(&setup.zone, defaults::DEFAULT_QUERY_TIMEOUT.get());
    let mut engine = Engine::new(
        shared.backend.clone(),
        source,
        engine_config(&config, setup.registries.clone()),
    );
    let _forwarding = AbortOnDrop::new(forward_events(&config, &shared, engine.subscribe()));
    let _registering = config.candidates.then(|| {
        AbortOnDrop::new(tokio::spawn(
            Registrar {
                iface: config.name.to_string(),
                backend: shared.backend.clone(),
                log: Arc::clone(&shared.log),
                registries: setup.registries.clone(),
                zone: setup.zone.clone(),
            }
            .run(wanted.clone()),
        ))
    });
    let (relays_tx, relays) = watch::channel(Relays::default());
    let relaying = config.relay.then(|| {
        AbortOnDrop::new(tokio::spawn(
            Relayer {
                iface: config.name.to_string(),
                backend: shared.backend.clone(),
                log: Arc::clone(&shared.log),
                record_path: shared.relay_record(config.name.as_str()),
                registries: setup.registries.clone(),
                view: engine.view(),
                published: relays_tx,
                peer_names: Arc::clone(&shared.peer_names),
                names_path: config.names_path(),
            }
            .run(wanted.clone()),
        ))
    });
    phase.send_replace(Phase::Ready(Ready {
        setup,
        view: engine.view(),
        relays,
    }));
    loop {
        match wanted.wait_for(|w| *w != Wanted::Pause).await {
            Ok(w) if *w == Wanted::Run => {}
            _ => break,
        }
        // Said before the check below, so that a pause in between waits for this run.
        running.send_replace(true);
        if *wanted.borrow() == Wanted::Run {
            let mut until = wanted.clone();
            engine
                .run(async move {
                    let _ = until.wait_for(|w| *w != Wanted::Run).await;
                })
                .await;
        }
        running.send_replace(false);
    }
    // Not aborted: a write it has begun must land before the interface's stop undoes
    // the relay, or it would land after and be left in place. It ends by itself on stop.
    if let Some(relaying) = relaying {
        relaying.join().await;
    }
}

/// A relay record left by a service that ended mid-relay (a crash, a `kill -9`): the
/// AllowedIPs it names are put back before anything else runs, relay on or off.
async fn undo_leftover_relay(config: &InterfaceConfig, shared: &Shared) {
    let iface = config.name.as_str();
    let why = "the service had ended without undoing its relay";
    relay::undo(
        &shared.backend,
        &shared.log,
        &shared.relay_record(iface),
        iface,
        why,
    )
    .await;
}

/// The engine's settings for `config`, asking `registries`.
pub fn engine_config(config: &InterfaceConfig, registries: Vec<SocketAddr>) -> EngineConfig {
    let mut engine = EngineConfig::new(config.name.to_string(), registries);
    engine.interval = config.interval.get();
    engine.poll = config.poll.get();
    engine.fresh_handshake = config.handshake_threshold.get();
    engine.candidates = config.candidates;
    engine
}

/// The registries and zone an interface's engine asks.
#[derive(Clone)]
pub struct Setup {
    pub registries: Vec<SocketAddr>,
    pub zone: Zone,
    /// How they were found, when the configuration left them out.
    pub discovery: Option<Discovery>,
}

/// The configured registries and zone; what the configuration leaves out is asked of the
/// peers until they answer, each failure shown in the status and said once in the log.
async fn registries_and_zone(
    config: &InterfaceConfig,
    shared: &Shared,
    phase: &watch::Sender<Phase>,
) -> Setup {
    if let (false, Some(zone)) = (config.finds_registries(), &config.zone) {
        return Setup {
            registries: config.registries.clone(),
            zone: zone.clone(),
            discovery: None,
        };
    }
    let iface = config.name.as_str();
    let mut wait = FIND_RETRY_FIRST;
    let mut said: Option<String> = None;
    loop {
        match find(
            &shared.backend,
            iface,
            &config.registries,
            config.zone.as_ref(),
        )
        .await
        {
            Ok(found) => {
                let discovery = found_discovery(&found);
                tracing::info!("{iface}: found {}", discovery.text());
                shared.log.publish(json!({
                    "type": "registries-found",
                    "iface": iface,
                    "registries": found.registries,
                    "zone": found.zone.as_str(),
                }));
                return Setup {
                    registries: found.registries,
                    zone: found.zone,
                    discovery: Some(discovery),
                };
            }
            Err(error) => {
                if said.as_ref() != Some(&error) {
                    tracing::warn!("{iface}: {error}; asking again every little while");
                    shared.log.publish(json!({
                        "type": "registries-not-found",
                        "iface": iface,
                        "error": error,
                    }));
                    said = Some(error.clone());
                }
                phase.send_replace(Phase::Finding(Discovery::not_found(error)));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(FIND_RETRY_MAX);
            }
        }
    }
}

/// One search for the registries and zone of `iface`, its failure in words with what to
/// set instead.
pub async fn find(
    backend: &Backend,
    iface: &str,
    registries: &[SocketAddr],
    zone: Option<&Zone>,
) -> Result<Found, String> {
    let timeout = defaults::DEFAULT_QUERY_TIMEOUT.get();
    find_on_device(backend, iface, registries, zone, timeout)
        .await
        .map(|(found, _asked)| found)
        .map_err(|e| {
            let remedy = e.remedy("`registries`", "`zone`");
            format!("{}: {remedy}", one_line(&e))
        })
}

pub fn found_discovery(found: &Found) -> Discovery {
    Discovery::found(found.registries.clone(), found.zone.to_string())
}

/// Copies an engine's events into the service's event log, with the peer's name where
/// the interface's names file gives one.
fn forward_events(
    config: &InterfaceConfig,
    shared: &Shared,
    mut rx: broadcast::Receiver<punchwire_discovery::Event>,
) -> JoinHandle<()> {
    let iface = config.name.to_string();
    let names_path = config.names_path();
    let shared = shared.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let name = event_peer(&event)
                        .and_then(|key| shared.peer_names.get(&names_path).get(key).cloned());
                    shared
                        .log
                        .publish(event_json(&iface, &event, name.as_deref()));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        "{iface}: {n} discovery events were not recorded (too many at once)"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// The peer an engine event is about, if it is about one.
fn event_peer(event: &punchwire_discovery::Event) -> Option<&punchwire_wg::PublicKey> {
    use punchwire_discovery::Event;
    match event {
        Event::EndpointChanged { peer, .. }
        | Event::PeerHealthChanged { peer, .. }
        | Event::Decision { peer, .. } => Some(peer),
        Event::RegistryReachable { .. }
        | Event::RegistryUnreachable { .. }
        | Event::NetworkChanged { .. } => None,
    }
}

/// A helper task that ends with the interface's task, however it ends.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl AbortOnDrop {
    fn new(task: JoinHandle<()>) -> Self {
        Self(Some(task))
    }

    /// Waits for the task to end by itself instead.
    async fn join(mut self) {
        if let Some(task) = self.0.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_discovery::find::FindError;
    use punchwire_wg::BackendError;

    #[test]
    fn a_cause_is_said_once_however_deep_it_sits() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let refused_text = refused.to_string();
        let error = FindError::Device {
            device: "wg0".into(),
            source: BackendError::NotAnswering {
                iface: "wg0".into(),
                socket: "/var/run/wireguard/wg0.sock".into(),
                what: "the socket file is left over from a daemon that is gone".into(),
                source: Some(refused),
            },
        };
        let line = one_line(&error);
        assert!(
            line.starts_with("cannot read the peers of wg0: the WireGuard daemon of wg0"),
            "{line}"
        );
        assert_eq!(line.matches(&refused_text).count(), 1, "{line}");
    }
}

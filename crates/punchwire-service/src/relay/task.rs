//! The relay's driver for one interface: every [`LOOK_EVERY`] it reads the device,
//! asks [`plan`] what to change, records the original AllowedIPs before the first
//! change, writes, and says so in the event log. A pause undoes every relay; so does
//! the interface's stop ([`restore`], called by the interface task).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use punchwire_control::error_line::one_line;
use punchwire_control::events::{RelayEnded, RelayStarted, ServiceEvent};
use punchwire_discovery::InterfaceView;
use punchwire_wg::{Backend, BackendError, Device, PublicKey};
use serde_json::json;
use tokio::sync::watch;

use super::plan::{holds, plan, Episode, Memory, Return, Step};
use super::record::{self, Record, RecordError};
use crate::event_log::EventLog;
use crate::interface_task::Wanted;
use crate::peer_names::PeerNames;

/// How often the device is read: a peer is relayed, or back, within this of the moment
/// it qualifies.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// What the status shows of the relay on one interface.
#[derive(Debug, Clone, Default)]
pub struct Relays {
    pub peers: HashMap<PublicKey, Relayed>,
    /// The registry peer and its own AllowedIPs, while it carries relayed peers' too.
    pub registry: Option<(PublicKey, Vec<IpNet>)>,
}

/// One relayed peer.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub episode: Episode,
    /// Its own AllowedIPs, which the registry peer carries meanwhile.
    pub allowed_ips: Vec<IpNet>,
}

impl Relays {
    /// What `record` and `relayed` say, with `registry` the peer relays go through.
    fn of(record: &Record, relayed: &HashMap<PublicKey, Episode>, registry: PublicKey) -> Self {
        let peers = record
            .relayed
            .iter()
            .filter_map(|key| {
                let relayed = Relayed {
                    episode: relayed.get(key)?.clone(),
                    allowed_ips: record.original(key)?.to_vec(),
                };
                Some((*key, relayed))
            })
            .collect();
        let registry = (!record.relayed.is_empty()).then(|| {
            (
                registry,
                record.original(&registry).unwrap_or_default().to_vec(),
            )
        });
        Self { peers, registry }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot change the AllowedIPs of {iface}: {source}")]
    Write { iface: String, source: BackendError },
    #[error("cannot read {iface}: {source}")]
    Read { iface: String, source: BackendError },
}

pub struct Relayer {
    pub iface: String,
    pub backend: Backend,
    pub log: Arc<EventLog>,
    pub record_path: PathBuf,
    /// The registries' DNS addresses: the peer whose AllowedIPs hold one relays.
    pub registries: Vec<SocketAddr>,
    pub view: watch::Receiver<InterfaceView>,
    pub published: watch::Sender<Relays>,
    pub peer_names: Arc<PeerNames>,
    /// The interface's names file, for the events.
    pub names_path: PathBuf,
}

#[derive(Default)]
struct State {
    record: Record,
    memory: Memory,
    /// Said once: no peer carries a registry address, so nothing can relay.
    said_no_registry: bool,
}

impl Relayer {
    /// Relays while discovery is wanted to run; undoes it all on a pause.
    pub async fn run(self, mut wanted: watch::Receiver<Wanted>) {
        let mut state = State::default();
        loop {
            let now_wanted = *wanted.borrow_and_update();
            match now_wanted {
                Wanted::Stop => return,
                Wanted::Pause if !state.record.relayed.is_empty() => {
                    self.undo(&mut state, "discovery was paused").await;
                }
                Wanted::Pause => {}
                Wanted::Run => self.look(&mut state).await,
            }
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                changed = wanted.changed() => if changed.is_err() { return },
            }
        }
    }

    async fn look(&self, state: &mut State) {
        let iface = self.iface.as_str();
        let device = match self.backend.device(iface).await {
            Ok(device) => device,
            Err(e) => return tracing::debug!("{iface}: relay: {e}"),
        };
        let Some(registry) = self.registry_peer(&device, &state.record) else {
            if !state.said_no_registry {
                tracing::warn!("{iface}: relay is on, but no peer carries a registry address");
                state.said_no_registry = true;
            }
            return;
        };
        if device.peer(&registry).is_none() {
            return self
                .undo(state, "the registry peer was removed from the interface")
                .await;
        }
        if !state.record.relayed.is_empty() && !holds(&device, &registry, &state.record) {
            tracing::info!(
                "{iface}: relay: AllowedIPs changed under the relay; setting them again"
            );
            let request = relaying(&state.record, &registry);
            if let Err(e) = self.write(request).await {
                tracing::warn!("{iface}: relay: {}", one_line(&e));
            }
        }
        let now = SystemTime::now();
        let view = self.view.borrow().clone();
        let steps = plan(
            &device,
            &registry,
            &state.record,
            &mut state.memory,
            now,
            |peer| view.health(peer, now),
        );
        for step in steps {
            let done = match step {
                Step::Relay { peer, because } => {
                    self.relay(state, &device, registry, peer, because, now)
                        .await
                }
                Step::Return { peer, why } => self.give_back(state, registry, peer, why).await,
            };
            if let Err(e) = done {
                tracing::warn!("{iface}: relay: {}", one_line(&e));
            }
        }
        let relays = Relays::of(&state.record, &state.memory.relayed, registry);
        self.published.send_replace(relays);
    }

    /// The peer relays go through: the one of the record while there is one (its
    /// AllowedIPs then carry more than the registry's address), else the peer whose
    /// AllowedIPs hold a registry's address.
    fn registry_peer(&self, device: &Device, record: &Record) -> Option<PublicKey> {
        if let Some(first) = record.original.first() {
            return Some(first.peer);
        }
        device
            .peers
            .iter()
            .find(|p| {
                self.registries
                    .iter()
                    .any(|r| p.allowed_ips.iter().any(|net| net.contains(&r.ip())))
            })
            .map(|p| p.public_key)
    }

    async fn relay(
        &self,
        state: &mut State,
        device: &Device,
        registry: PublicKey,
        peer: PublicKey,
        because: String,
        now: SystemTime,
    ) -> Result<(), RelayError> {
        let own = |key: &PublicKey| device.peer(key).map(|p| p.allowed_ips.clone());
        let mut next = state.record.clone();
        next.remember(registry, &own(&registry).unwrap_or_default());
        next.remember(peer, &own(&peer).unwrap_or_default());
        next.relayed.push(peer);
        // Recorded before the change: a crash after it still finds what to put back.
        record::save(&self.record_path, &next)?;
        if let Err(e) = self.write(relaying(&next, &registry)).await {
            record::save(&self.record_path, &state.record)?;
            return Err(e);
        }
        state.record = next;
        tracing::info!(
            "{}: relaying {} via the registry: {because}",
            self.iface,
            peer.short()
        );
        self.publish(ServiceEvent::RelayStarted(RelayStarted {
            iface: self.iface.clone(),
            peer: peer.to_base64(),
            name: self.name_of(&peer),
            because: because.clone(),
        }));
        let episode = Episode {
            since: now,
            because,
        };
        state.memory.relayed.insert(peer, episode);
        Ok(())
    }

    async fn give_back(
        &self,
        state: &mut State,
        registry: PublicKey,
        peer: PublicKey,
        why: Return,
    ) -> Result<(), RelayError> {
        let mut next = state.record.clone();
        next.relayed.retain(|p| *p != peer);
        let mut request = Vec::new();
        if why == Return::DirectHandshake {
            let own = next.original(&peer).unwrap_or_default().to_vec();
            request.push((peer, own));
        }
        request.push((registry, next.registry_allowed_ips(&registry)));
        self.write(request).await?;
        next.original.retain(|o| o.peer != peer);
        if next.relayed.is_empty() {
            // Nothing carried any more: the registry peer has its own list back too.
            next = Record::default();
        }
        state.record = next;
        record::save(&self.record_path, &state.record)?;
        state.memory.relayed.remove(&peer);
        tracing::info!(
            "{}: {} is direct again: {}",
            self.iface,
            peer.short(),
            why.words()
        );
        self.publish(ServiceEvent::RelayEnded(RelayEnded {
            iface: self.iface.clone(),
            peer: peer.to_base64(),
            name: self.name_of(&peer),
            why: why.words().to_owned(),
        }));
        Ok(())
    }

    /// Puts every relayed peer back, and says why.
    async fn undo(&self, state: &mut State, why: &str) {
        if undo(
            &self.backend,
            &self.log,
            &self.record_path,
            &self.iface,
            why,
        )
        .await
        {
            *state = State::default();
            self.published.send_replace(Relays::default());
        }
    }

    fn publish(&self, event: ServiceEvent) {
        self.log
            .publish(serde_json::to_value(event).expect("events are plain data"));
    }

    /// What the user calls `peer`, where the names file says.
    fn name_of(&self, peer: &PublicKey) -> Option<String> {
        self.peer_names.get(&self.names_path).get(peer).cloned()
    }

    async fn write(&self, request: Vec<(PublicKey, Vec<IpNet>)>) -> Result<(), RelayError> {
        self.backend
            .set_allowed_ips(&self.iface, request)
            .await
            .map_err(|source| RelayError::Write {
                iface: self.iface.clone(),
                source,
            })
    }
}

/// The request that routes every relayed peer of `record` through `registry`.
fn relaying(record: &Record, registry: &PublicKey) -> Vec<(PublicKey, Vec<IpNet>)> {
    let mut request = vec![(*registry, record.registry_allowed_ips(registry))];
    request.extend(record.relayed.iter().map(|p| (*p, Vec::new())));
    request
}

/// Undoes the relay recorded at `path`, if any ([`restore`]), and says so with `why` in
/// the log and the event log; a failure is logged, the record kept for the next try.
/// Whether nothing is left to undo.
pub async fn undo(backend: &Backend, log: &EventLog, path: &Path, iface: &str, why: &str) -> bool {
    match restore(backend, path, iface).await {
        Ok(restored) => {
            if let Some(peers) = restored {
                say_restored(log, iface, &peers, why);
            }
            true
        }
        Err(e) => {
            tracing::error!("{iface}: cannot undo the relay ({why}): {}", one_line(&e));
            false
        }
    }
}

/// Gives every peer the record at `path` names its original AllowedIPs back, and removes
/// the record; the peers it restored, or `None` when there was no record (nothing was
/// relayed). Peers no longer on the device are left out. On an error the record stays,
/// for the next try.
async fn restore(
    backend: &Backend,
    path: &Path,
    iface: &str,
) -> Result<Option<Vec<PublicKey>>, RelayError> {
    let Some(record) = record::load(path)? else {
        return Ok(None);
    };
    let device = backend
        .device(iface)
        .await
        .map_err(|source| RelayError::Read {
            iface: iface.to_owned(),
            source,
        })?;
    let request: Vec<(PublicKey, Vec<IpNet>)> = record
        .restoring()
        .into_iter()
        .filter(|(peer, _)| device.peer(peer).is_some())
        .collect();
    let peers: Vec<PublicKey> = request.iter().map(|(peer, _)| *peer).collect();
    if !request.is_empty() {
        backend
            .set_allowed_ips(iface, request)
            .await
            .map_err(|source| RelayError::Write {
                iface: iface.to_owned(),
                source,
            })?;
    }
    record::save(path, &Record::default())?;
    Ok(Some(peers))
}

/// Says in the log and the event log that a relay was undone.
fn say_restored(log: &EventLog, iface: &str, peers: &[PublicKey], why: &str) {
    tracing::info!(
        "{iface}: {why}; the AllowedIPs of {} peers are as they were before the relay",
        peers.len()
    );
    log.publish(json!({
        "type": "relay-undone",
        "iface": iface,
        "peers": peers.iter().map(PublicKey::to_base64).collect::<Vec<_>>(),
        "why": why,
    }));
}

//! What the engine knows about one interface's peers, as it publishes it after each
//! pass: the health memory of every peer and the thresholds to judge it by. The service
//! reads it to answer `status`, judging it with the current moment and the device's
//! current reading, so that what the status says never waits for the next pass.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use punchwire_control::status::{EndpointSource, Health};
use punchwire_wg::{Peer, PublicKey};

use crate::peer_health::{Facts, PeerHealth, Thresholds};
use crate::policy::{serves_registry, Reason};

#[derive(Debug, Clone)]
pub struct InterfaceView {
    thresholds: Thresholds,
    /// The registries' DNS addresses: a peer whose AllowedIPs hold one serves a registry.
    registry_ips: Vec<IpAddr>,
    peers: HashMap<PublicKey, PeerHealth>,
    /// What the engine's own SOA polls and lookups saw of each registry: the status shows
    /// it, so that no one asks the registries a second time to fill it.
    registries: BTreeMap<SocketAddr, RegistryReading>,
}

/// One registry as the engine last saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryReading {
    /// `None` until it has been asked.
    pub reachable: Option<bool>,
    /// The round trip of the latest SOA poll that it answered.
    pub rtt: Option<Duration>,
    pub serial: Option<u32>,
    pub last_answer: Option<Instant>,
    /// Why its latest question failed, while it is unreachable.
    pub error: Option<String>,
}

impl InterfaceView {
    pub fn new(registries: &[SocketAddr], thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            registry_ips: registries.iter().map(SocketAddr::ip).collect(),
            peers: HashMap::new(),
            registries: registries
                .iter()
                .map(|&r| (r, RegistryReading::default()))
                .collect(),
        }
    }

    /// What the engine last saw of `registry` (nothing, for one it does not ask).
    pub fn registry(&self, registry: SocketAddr) -> RegistryReading {
        self.registries.get(&registry).cloned().unwrap_or_default()
    }

    /// `registry` answered at `now`; with an SOA poll's round trip and serial when it was one.
    pub(crate) fn registry_answered(
        &mut self,
        registry: SocketAddr,
        now: Instant,
        soa: Option<(Duration, u32)>,
    ) {
        let reading = self.registries.entry(registry).or_default();
        reading.reachable = Some(true);
        reading.error = None;
        reading.last_answer = Some(now);
        if let Some((rtt, serial)) = soa {
            reading.rtt = Some(rtt);
            reading.serial = Some(serial);
        }
    }

    /// Takes `other`'s registry readings, leaving the peers as they are.
    pub(crate) fn copy_registries_from(&mut self, other: &InterfaceView) {
        self.registries.clone_from(&other.registries);
    }

    pub(crate) fn registry_failed(&mut self, registry: SocketAddr, why: &str) {
        let reading = self.registries.entry(registry).or_default();
        reading.reachable = Some(false);
        reading.error = Some(why.to_owned());
        reading.rtt = None;
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// What the device says about `peer`, with whether it serves the registry.
    pub fn facts(&self, peer: &Peer) -> Facts {
        Facts::of(peer, serves_registry(peer, &self.registry_ips))
    }

    /// The peer's health at `now`, `peer` being the device's reading of it.
    pub fn health(&self, peer: &Peer, now: SystemTime) -> Health {
        self.memory(&peer.public_key)
            .health(&self.facts(peer), now, &self.thresholds)
    }

    /// Whether `peer`'s endpoint is one we set that no handshake has followed (see
    /// [`PeerHealth::unanswered`]).
    pub(crate) fn unanswered(&self, peer: &Peer) -> bool {
        self.memory(&peer.public_key).unanswered(&self.facts(peer))
    }

    pub fn endpoint_source(&self, peer: &Peer) -> EndpointSource {
        self.memory(&peer.public_key)
            .endpoint_source(&self.facts(peer))
    }

    /// The engine's latest decision about the peer, e.g. "fresh-handshake".
    pub fn last_decision(&self, key: &PublicKey) -> Option<&Reason> {
        self.peers.get(key).and_then(PeerHealth::last_decision)
    }

    fn memory(&self, key: &PublicKey) -> &PeerHealth {
        static NOTHING_YET: PeerHealth = PeerHealth::new();
        self.peers.get(key).unwrap_or(&NOTHING_YET)
    }

    pub(crate) fn peer_mut(&mut self, key: PublicKey) -> &mut PeerHealth {
        self.peers.entry(key).or_default()
    }

    /// Forgets peers that are no longer on the device.
    pub(crate) fn retain(&mut self, keep: impl Fn(&PublicKey) -> bool) {
        self.peers.retain(|k, _| keep(k));
    }
}

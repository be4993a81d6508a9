//! The loop around the policy: read the device, ask the registries about every peer at
//! once, decide, set endpoints, tell. It is the only part that does I/O, and it only
//! ever calls [`Backend::device`] and [`Backend::set_endpoint`]: peers are never added
//! or removed, and nothing but endpoints is ever changed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use punchwire_wg::{local_addresses, Backend, BackendError, LocalAddresses, Peer, PublicKey};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::{Event, CHANNEL_CAPACITY};
use crate::health::{Registries, RegistryChange};
use crate::lookup::{AnswerSource, Lookup};
use crate::nudge;
use crate::peer_health::{Facts, Thresholds, Transition, DEFAULT_PENDING_FOR};
use crate::policy::{self, Action, Decision, PolicyContext, DEFAULT_FRESH_HANDSHAKE};
use crate::prefer::prefer;
use crate::view::InterfaceView;

/// A full pass at least this often, whatever the SOA serials say.
pub const DEFAULT_INTERVAL: Duration = punchwire_control::defaults::DEFAULT_INTERVAL.get();
/// How often to ask for the SOA serial, which changes whenever any record does.
pub const DEFAULT_POLL: Duration = punchwire_control::defaults::DEFAULT_POLL.get();

/// What the engine works on and how often.
#[derive(Debug, Clone)]
pub struct Config {
    /// The WireGuard interface whose peers to keep current.
    pub iface: String,
    /// The registries' DNS servers, most trusted first.
    pub registries: Vec<SocketAddr>,
    pub interval: Duration,
    pub poll: Duration,
    /// A handshake younger than this is fresh: its endpoint is never replaced.
    pub fresh_handshake: Duration,
    /// How long a handshake may take to follow an endpoint we set (the peer is
    /// pending meanwhile, not direct after).
    pub direct_timeout: Duration,
    /// Send a datagram through the tunnel after setting an endpoint, so that the
    /// handshake starts at once (see [`crate::nudge`]).
    pub nudge: bool,
}

impl Config {
    pub fn new(iface: impl Into<String>, registries: Vec<SocketAddr>) -> Self {
        Self {
            iface: iface.into(),
            registries,
            interval: DEFAULT_INTERVAL,
            poll: DEFAULT_POLL,
            fresh_handshake: DEFAULT_FRESH_HANDSHAKE,
            direct_timeout: DEFAULT_PENDING_FOR,
            nudge: true,
        }
    }

    /// The health thresholds this configuration sets.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            fresh_handshake: self.fresh_handshake,
            pending_for: self.direct_timeout,
            ..Thresholds::default()
        }
    }
}

/// The result of one pass over every peer of the device.
#[derive(Debug, Clone)]
pub struct Pass {
    pub iface: String,
    /// One per peer, in the device's order.
    pub outcomes: Vec<Outcome>,
}

impl Pass {
    /// Whether every peer was set or left alone for a stated reason.
    pub fn all_settled(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_settled)
    }
}

/// What happened to one peer in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub peer: PublicKey,
    pub decision: Decision,
    /// The registry whose answer the decision rests on, if any answered.
    pub registry: Option<SocketAddr>,
    /// The peer's endpoint after the pass.
    pub endpoint: Option<SocketAddr>,
    /// Why setting the decided endpoint failed, if it did.
    pub error: Option<String>,
}

impl Outcome {
    pub fn is_settled(&self) -> bool {
        self.error.is_none() && self.decision.reason.is_settled()
    }
}

/// Keeps one device's peer endpoints current from the registries.
pub struct Engine<S: AnswerSource> {
    backend: Backend,
    source: Arc<S>,
    config: Config,
    events: broadcast::Sender<Event>,
    registries: Registries,
    /// Every peer's health memory; a copy is published after each pass or check.
    view: InterfaceView,
    published: watch::Sender<InterfaceView>,
    /// When to read the device again to tell health changes as they happen, between
    /// passes; `None` when nothing will change by itself.
    next_check: Option<SystemTime>,
    serials: HashMap<SocketAddr, u32>,
}

impl<S: AnswerSource> Engine<S> {
    pub fn new(backend: Backend, source: S, config: Config) -> Self {
        let (events, _) = broadcast::channel(CHANNEL_CAPACITY);
        let view = InterfaceView::new(&config.registries, config.thresholds());
        let (published, _) = watch::channel(view.clone());
        Self {
            backend,
            source: Arc::new(source),
            registries: Registries::new(&config.registries),
            view,
            published,
            next_check: None,
            serials: HashMap::new(),
            config,
            events,
        }
    }

    /// Events from now on. Subscribe before running to miss none.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The interface's view as of the latest pass (or health check), and each one after.
    pub fn view(&self) -> watch::Receiver<InterfaceView> {
        self.published.subscribe()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One pass at the current time.
    pub async fn pass(&mut self) -> Result<Pass, BackendError> {
        self.pass_at(SystemTime::now()).await
    }

    /// One pass, judging handshake ages as of `now` (wall-clock time, as the device
    /// stamps handshakes). Fails only when the device cannot be read.
    pub async fn pass_at(&mut self, now: SystemTime) -> Result<Pass, BackendError> {
        let iface = self.config.iface.clone();
        let device = self.backend.device(&iface).await?;
        let registry_ips: Vec<_> = self.config.registries.iter().map(|r| r.ip()).collect();
        let ctx =
            PolicyContext::for_device(&device, now, self.config.fresh_handshake, &registry_ips)
                .with_local(self.local_addresses());
        self.view.retain(|k| ctx.our_peers.contains(k));

        let to_ask: Vec<&Peer> = device
            .peers
            .iter()
            .filter(|p| policy::before_lookup(p, &ctx).is_none())
            .collect();
        let mut answers = self.ask_all(&to_ask).await;

        let mut outcomes = Vec::with_capacity(device.peers.len());
        for peer in &device.peers {
            let facts = self.view.facts(peer);
            self.observe(peer.public_key, &facts, now);
            let (registry, lookup) = answers
                .remove(&peer.public_key)
                .unwrap_or((None, Lookup::NoRecord));
            let decision = policy::decide(peer, &lookup, &ctx);
            let decision = self
                .view
                .peer_mut(peer.public_key)
                .review(&facts, decision, now);
            let outcome = self.apply(peer, decision, registry, now).await;
            if self
                .view
                .peer_mut(peer.public_key)
                .decided(&outcome.decision.reason)
            {
                self.emit(Event::decision(
                    iface.clone(),
                    peer.public_key,
                    outcome.decision.reason.clone(),
                    outcome.endpoint,
                ));
            }
            // Setting an endpoint changes the health at once (pending).
            let after = Facts {
                endpoint: outcome.endpoint,
                ..facts
            };
            self.observe(peer.public_key, &after, now);
            outcomes.push(outcome);
        }
        self.publish(&device.peers, now);
        Ok(Pass { iface, outcomes })
    }

    /// This machine's addresses, which no answer may set; none known when they cannot be
    /// read (then only the device's own tunnel ranges keep answers out of the tunnel).
    fn local_addresses(&self) -> LocalAddresses {
        local_addresses(&self.config.iface).unwrap_or_else(|error| {
            tracing::warn!(iface = %self.config.iface, %error, "cannot list this machine's addresses");
            LocalAddresses::default()
        })
    }

    /// Reads the device and tells the health changes since the last look, without asking
    /// any registry: between passes, so that "not direct" and "stale" are told when
    /// they happen rather than at the next pass.
    pub async fn check_health_at(&mut self, now: SystemTime) -> Result<(), BackendError> {
        let device = self.backend.device(&self.config.iface).await?;
        for peer in &device.peers {
            let facts = self.view.facts(peer);
            self.observe(peer.public_key, &facts, now);
        }
        self.publish(&device.peers, now);
        Ok(())
    }

    fn observe(&mut self, peer: PublicKey, facts: &Facts, now: SystemTime) {
        let thresholds = *self.view.thresholds();
        if let Some(Transition { from, to }) =
            self.view.peer_mut(peer).observe(facts, now, &thresholds)
        {
            self.emit(Event::PeerHealthChanged {
                iface: self.config.iface.clone(),
                peer,
                from,
                to: to.state,
                reason: to.reason,
                text: to.text,
            });
        }
    }

    /// Publishes the view and works out when to look again: when some peer's health
    /// changes by itself, or at the next poll while a handshake is awaited.
    fn publish(&mut self, peers: &[Peer], now: SystemTime) {
        let thresholds = *self.view.thresholds();
        let mut next: Option<SystemTime> = None;
        for peer in peers {
            let memory = self.view.peer_mut(peer.public_key).clone();
            let facts = self.view.facts(peer);
            let soon = memory.awaits_handshake().then_some(now + self.config.poll);
            let change = memory.next_change(&facts, &thresholds);
            for at in soon.into_iter().chain(change) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.next_check = next;
        self.published.send_replace(self.view.clone());
    }

    /// Asks every available registry about every peer, all at once, and keeps for each
    /// peer the answer to believe. Registries backing off are not asked.
    async fn ask_all(
        &mut self,
        peers: &[&Peer],
    ) -> HashMap<PublicKey, (Option<SocketAddr>, Lookup)> {
        let available = self.registries.available(Instant::now());
        if available.is_empty() {
            let why = "every registry is backing off after failing".to_owned();
            return peers
                .iter()
                .map(|p| (p.public_key, (None, Lookup::Unreachable(why.clone()))))
                .collect();
        }
        let mut tasks = JoinSet::new();
        for peer in peers {
            for &registry in &available {
                let source = Arc::clone(&self.source);
                let key = peer.public_key;
                tasks.spawn(async move { (key, registry, source.lookup(registry, key).await) });
            }
        }
        let mut by_peer: HashMap<PublicKey, Vec<(SocketAddr, Lookup)>> = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((key, registry, lookup)) => {
                    by_peer.entry(key).or_default().push((registry, lookup))
                }
                Err(e) => tracing::error!("a lookup task failed: {e}"),
            }
        }
        self.note_registry_health(&available, &by_peer);
        by_peer
            .into_iter()
            .filter_map(|(key, mut answers)| {
                // Back into the user's order, so that ties go to the registry listed first.
                answers.sort_by_key(|(r, _)| available.iter().position(|a| a == r));
                let (registry, lookup) = prefer(answers)?;
                let registry = (!matches!(lookup, Lookup::Unreachable(_))).then_some(registry);
                Some((key, (registry, lookup)))
            })
            .collect()
    }

    /// A registry that answered anything is reachable; one whose every lookup failed
    /// to get an answer is not.
    fn note_registry_health(
        &mut self,
        asked: &[SocketAddr],
        by_peer: &HashMap<PublicKey, Vec<(SocketAddr, Lookup)>>,
    ) {
        for &registry in asked {
            let mut lookups = by_peer
                .values()
                .flatten()
                .filter(|(r, _)| *r == registry)
                .map(|(_, l)| l)
                .peekable();
            if lookups.peek().is_none() {
                continue;
            }
            let mut failure = None;
            let answered = lookups.any(|l| match l {
                Lookup::Unreachable(why) => {
                    failure.get_or_insert_with(|| why.clone());
                    false
                }
                _ => true,
            });
            if answered {
                self.registry_answered(registry, None);
            } else if let Some(why) = failure {
                self.registry_failed(registry, &why);
            }
        }
    }

    /// `registry` answered; `soa` is the round trip and serial when it was an SOA poll.
    fn registry_answered(&mut self, registry: SocketAddr, soa: Option<(Duration, u32)>) {
        self.view.registry_answered(registry, Instant::now(), soa);
        if let Some(RegistryChange::Reachable) = self.registries.answered(registry) {
            self.emit(Event::RegistryReachable { registry });
        }
    }

    fn registry_failed(&mut self, registry: SocketAddr, why: &str) {
        self.view.registry_failed(registry, why);
        let jitter = rand::random::<f64>();
        if let Some(RegistryChange::Unreachable(reason)) =
            self.registries
                .failed(registry, why, Instant::now(), jitter)
        {
            self.emit(Event::RegistryUnreachable { registry, reason });
        }
    }

    async fn apply(
        &mut self,
        peer: &Peer,
        decision: Decision,
        registry: Option<SocketAddr>,
        now: SystemTime,
    ) -> Outcome {
        let mut outcome = Outcome {
            peer: peer.public_key,
            decision,
            registry,
            endpoint: peer.endpoint,
            error: None,
        };
        let Action::Set(endpoint) = outcome.decision.action else {
            return outcome;
        };
        let iface = &self.config.iface;
        match self.backend.set_endpoint(iface, peer, endpoint).await {
            Ok(()) => {
                outcome.endpoint = Some(endpoint.addr());
                self.view.peer_mut(peer.public_key).applied(endpoint, now);
                if self.config.nudge {
                    if let Some(target) = nudge::target(peer) {
                        nudge::send(iface, target).await;
                    }
                }
                if let Some(registry) = registry {
                    self.emit(Event::EndpointChanged {
                        iface: iface.clone(),
                        peer: peer.public_key,
                        old: peer.endpoint,
                        new: endpoint,
                        registry,
                    });
                }
            }
            Err(e) => outcome.error = Some(e.to_string()),
        }
        outcome
    }

    /// Asks each available registry for its SOA serial; true when a serial differs from
    /// the last one seen (or is the first), or a registry came back.
    pub async fn serial_moved(&mut self) -> bool {
        let available = self.registries.available(Instant::now());
        let mut tasks = JoinSet::new();
        for registry in available {
            let source = Arc::clone(&self.source);
            tasks.spawn(async move {
                let asked = Instant::now();
                let serial = source.soa_serial(registry).await;
                (registry, serial.map(|serial| (asked.elapsed(), serial)))
            });
        }
        let mut moved = false;
        while let Some(joined) = tasks.join_next().await {
            let Ok((registry, answer)) = joined else {
                continue;
            };
            match answer {
                Ok((rtt, serial)) => {
                    moved |= self.serials.insert(registry, serial) != Some(serial);
                    self.registry_answered(registry, Some((rtt, serial)));
                }
                Err(e) => {
                    // Forgotten, so that the pass after it comes back is not skipped.
                    self.serials.remove(&registry);
                    self.registry_failed(registry, &e.to_string());
                }
            }
        }
        // Only the readings: the peers' part is published after each pass or check.
        let readings = self.view.registries().clone();
        self.published
            .send_modify(|view| view.set_registries(readings));
        moved
    }

    /// Runs until `shutdown` completes: a pass whenever a registry's SOA serial moves,
    /// and at least every interval. A pass that cannot read the device is logged and
    /// retried at the next poll; nothing here gives up. The engine keeps what it learned
    /// (registry health, peers marked not direct), so it can be run again after a stop.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut next_full = Instant::now();
        // A missing interface (`wg-quick down`) is ordinary: say so once, not every poll.
        let mut read_error: Option<String> = None;
        loop {
            let moved = self.serial_moved().await;
            if moved || Instant::now() >= next_full {
                match self.pass().await {
                    Ok(pass) => {
                        tracing::debug!(peers = pass.outcomes.len(), "pass done");
                        if read_error.take().is_some() {
                            tracing::info!("{} can be read again", self.config.iface);
                        }
                        next_full = Instant::now() + self.config.interval;
                    }
                    Err(e) => {
                        let message = e.to_string();
                        if read_error.as_deref() != Some(message.as_str()) {
                            tracing::warn!(
                                "cannot read {}: {message}; retrying every {:?}",
                                self.config.iface,
                                self.config.poll
                            );
                        }
                        read_error = Some(message);
                        // Forget serials so the first pass after recovery is not skipped,
                        // and wait a poll rather than spin on a device that is not there.
                        self.serials.clear();
                        next_full = Instant::now() + self.config.poll;
                    }
                }
            } else if self.next_check.is_some_and(|at| SystemTime::now() >= at) {
                if let Err(e) = self.check_health_at(SystemTime::now()).await {
                    // The next pass says so, once; until then, nothing to check.
                    tracing::debug!("cannot read {} to check health: {e}", self.config.iface);
                    self.next_check = None;
                }
            }
            let wake = next_full.min(Instant::now() + self.config.poll);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    fn emit(&self, event: Event) {
        log(&event);
        // No subscriber is not an error: the CLI may not listen.
        let _ = self.events.send(event);
    }
}

fn log(event: &Event) {
    match event {
        Event::EndpointChanged {
            iface,
            peer,
            old,
            new,
            registry,
        } => {
            let old = old.map_or("none".to_owned(), |o| o.to_string());
            tracing::info!("{iface}: {peer}: endpoint {old} -> {new} (from {registry})");
        }
        Event::PeerHealthChanged {
            iface,
            peer,
            from,
            to,
            text,
            ..
        } => {
            let (from, to) = (from.word(), to.word());
            tracing::info!("{iface}: {peer}: {from} -> {to}: {text}")
        }
        Event::RegistryReachable { registry } => tracing::info!("registry {registry} answers"),
        Event::RegistryUnreachable { registry, reason } => {
            tracing::warn!("registry {registry} unreachable: {reason}")
        }
        Event::Decision {
            iface,
            peer,
            reason,
            endpoint,
            ..
        } => {
            let endpoint = endpoint.map_or("-".to_owned(), |e| e.to_string());
            tracing::debug!("{iface}: {peer}: {reason} ({endpoint})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemorySource;
    use crate::policy::Reason;
    use punchwire_control::status::HealthState;
    use punchwire_wg::{Device, Endpoint, MemoryBackend};

    const IFACE: &str = "wg0";

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn registry(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 99, 0, n], 53))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn peer(n: u8) -> Peer {
        Peer {
            has_preshared_key: true,
            allowed_ips: vec![format!("10.99.0.{n}/32").parse().unwrap()],
            persistent_keepalive: Some(5),
            ..Peer::new(key(n))
        }
    }

    /// A device whose peer 1 is the registry (at 203.0.113.1, DNS on 10.99.0.1) and
    /// peers 2 and 3 are to be discovered.
    fn device() -> Device {
        let mut reg = peer(1);
        reg.endpoint = Some(addr("203.0.113.1:51820"));
        Device {
            name: IFACE.into(),
            public_key: Some(key(100)),
            listen_port: Some(51820),
            fwmark: None,
            peers: vec![reg, peer(2), peer(3)],
        }
    }

    fn setup(registries: &[SocketAddr]) -> (MemoryBackend, MemorySource, Engine<MemorySource>) {
        let memory = MemoryBackend::new();
        memory.put_device(device());
        let source = MemorySource::new();
        let engine = Engine::new(
            Backend::new(memory.clone()),
            source.clone(),
            config(registries),
        );
        (memory, source, engine)
    }

    /// Without nudges: these devices are in memory, and a machine running the tests may
    /// have a real `wg0` that must not see test traffic.
    fn config(registries: &[SocketAddr]) -> Config {
        Config {
            nudge: false,
            ..Config::new(IFACE, registries.to_vec())
        }
    }

    fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn reasons(pass: &Pass) -> Vec<String> {
        pass.outcomes
            .iter()
            .map(|o| o.decision.reason.to_string())
            .collect()
    }

    fn endpoint_of(memory: &MemoryBackend, n: u8) -> Option<SocketAddr> {
        let backend = memory.clone();
        use punchwire_wg::WireGuard;
        backend
            .device(IFACE)
            .unwrap()
            .peer(&key(n))
            .unwrap()
            .endpoint
    }

    /// Each write is given the peer as the pass read it, so setting every endpoint
    /// costs the one read the pass starts with, not one more per write.
    #[tokio::test]
    async fn a_pass_that_sets_every_endpoint_reads_the_device_once() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        source.publish(registry(1), key(3), addr("198.51.100.3:40003"));

        let pass = engine.pass().await.unwrap();

        assert_eq!(reasons(&pass), ["registry-peer", "set", "set"]);
        assert_eq!(memory.endpoint_writes().len(), 2);
        assert_eq!(memory.device_reads(), 1);
    }

    #[tokio::test]
    async fn a_pass_sets_published_endpoints_and_touches_nothing_else() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        source.publish(registry(1), key(1), addr("198.51.100.1:1"));
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));

        let pass = engine.pass().await.unwrap();

        assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
        assert!(pass.all_settled());
        // The registry peer is not even asked about.
        assert_eq!(source.lookups().len(), 2);
        let mut expected = device();
        expected.peers[1].endpoint = Some(addr("198.51.100.2:40002"));
        use punchwire_wg::WireGuard;
        assert_eq!(memory.device(IFACE).unwrap(), expected);
        let events = drain(&mut rx);
        assert!(events.contains(&Event::RegistryReachable {
            registry: registry(1)
        }));
        assert!(events.contains(&Event::EndpointChanged {
            iface: IFACE.into(),
            peer: key(2),
            old: None,
            new: "198.51.100.2:40002".parse().unwrap(),
            registry: registry(1),
        }));
        let decisions = events
            .iter()
            .filter(|e| matches!(e, Event::Decision { .. }))
            .count();
        assert_eq!(decisions, 3);

        // Nothing moved: the next pass changes nothing.
        let pass = engine.pass().await.unwrap();
        assert_eq!(reasons(&pass), ["registry-peer", "unchanged", "no-record"]);
        assert_eq!(memory.endpoint_writes().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_registry_clears_nothing_and_is_retried_after_a_pause() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        memory.update_peer(IFACE, &key(2), |p| {
            p.endpoint = Some(addr("198.51.100.2:1111"));
        });
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        source.take_down(registry(1));

        let pass = engine.pass().await.unwrap();
        assert_eq!(
            reasons(&pass),
            [
                "registry-peer",
                "registry-unreachable",
                "registry-unreachable"
            ]
        );
        assert!(!pass.all_settled());
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:1111")));
        assert!(drain(&mut rx).iter().any(|e| matches!(
            e,
            Event::RegistryUnreachable { registry: r, .. } if *r == registry(1)
        )));

        // While it backs off, it is not asked, and peers keep their endpoints.
        let asked = source.lookups().len();
        let pass = engine.pass().await.unwrap();
        assert_eq!(source.lookups().len(), asked);
        assert_eq!(
            pass.outcomes[1].decision.reason,
            Reason::RegistryUnreachable
        );
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:1111")));

        // It comes back: asked again after the pause, without a restart.
        source.bring_up(registry(1));
        tokio::time::advance(crate::health::BACKOFF_FIRST).await;
        let pass = engine.pass().await.unwrap();
        assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:40002")));
        assert!(drain(&mut rx).contains(&Event::RegistryReachable {
            registry: registry(1)
        }));
    }

    #[tokio::test]
    async fn with_several_registries_one_that_answers_is_enough() {
        let (memory, source, mut engine) = setup(&[registry(1), registry(9)]);
        let mut rx = engine.subscribe();
        source.take_down(registry(1));
        source.publish(registry(9), key(3), addr("198.51.100.3:40003"));

        let pass = engine.pass().await.unwrap();

        assert_eq!(reasons(&pass), ["registry-peer", "no-record", "set"]);
        assert_eq!(pass.outcomes[2].registry, Some(registry(9)));
        assert_eq!(endpoint_of(&memory, 3), Some(addr("198.51.100.3:40003")));
        let events = drain(&mut rx);
        assert!(events.iter().any(
            |e| matches!(e, Event::RegistryUnreachable { registry: r, .. } if *r == registry(1))
        ));
        assert!(events.iter().any(|e| matches!(
            e,
            Event::EndpointChanged { registry: r, .. } if *r == registry(9)
        )));
    }

    /// What the status shows of each registry comes from the engine's own SOA poll:
    /// nobody asks the registries a second time to fill it.
    #[tokio::test]
    async fn the_published_view_holds_what_the_soa_poll_saw_of_each_registry() {
        let (_memory, source, mut engine) = setup(&[registry(1), registry(9)]);
        let view = engine.view();
        assert_eq!(view.borrow().registry(registry(1)).reachable, None);
        source.take_down(registry(9));

        engine.serial_moved().await;

        let up = view.borrow().registry(registry(1));
        assert_eq!(up.reachable, Some(true));
        assert!(up.serial.is_some() && up.rtt.is_some() && up.last_answer.is_some());
        assert_eq!(up.error, None);
        let down = view.borrow().registry(registry(9));
        assert_eq!(down.reachable, Some(false));
        assert!(down.error.is_some() && down.rtt.is_none(), "{down:?}");
    }

    /// A device that can be read but refuses every write.
    struct ReadOnly(MemoryBackend);

    impl punchwire_wg::WireGuard for ReadOnly {
        fn kind(&self) -> &'static str {
            "read-only"
        }
        fn interfaces(&self) -> Result<Vec<String>, BackendError> {
            self.0.interfaces()
        }
        fn device(&self, iface: &str) -> Result<punchwire_wg::Device, BackendError> {
            self.0.device(iface)
        }
        fn set_endpoint(&self, iface: &str, _: &Peer, _: Endpoint) -> Result<(), BackendError> {
            Err(BackendError::PermissionDenied {
                iface: iface.to_owned(),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_not_hidden() {
        let (memory, source, _) = setup(&[registry(1)]);
        let mut engine = Engine::new(
            Backend::new(ReadOnly(memory.clone())),
            source.clone(),
            config(&[registry(1)]),
        );
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));

        let pass = engine.pass().await.unwrap();

        assert!(!pass.all_settled());
        let outcome = &pass.outcomes[1];
        assert_eq!(outcome.decision.reason, Reason::Set);
        let error = outcome.error.as_deref().unwrap();
        assert!(error.contains("permission denied on wg0"), "{error}");
        assert_eq!(outcome.endpoint, None);
    }

    fn health_changes(events: &[Event], who: PublicKey) -> Vec<(HealthState, HealthState, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::PeerHealthChanged {
                    peer,
                    from,
                    to,
                    text,
                    ..
                } if *peer == who => Some((*from, *to, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_peer_that_never_handshakes_is_reported_and_not_chased() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        let view = engine.view();
        let t0 = SystemTime::now();
        engine.pass_at(t0).await.unwrap();
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        engine.pass_at(t0).await.unwrap();
        assert_eq!(
            health_changes(&drain(&mut rx), key(2)),
            [(
                HealthState::NotDirect,
                HealthState::Pending,
                "waiting for the first handshake on 198.51.100.2:40002, set 0 s ago".into()
            )]
        );

        // No handshake within the timeout; the registry now says another port.
        source.publish(registry(1), key(2), addr("198.51.100.2:40099"));
        let later = t0 + DEFAULT_PENDING_FOR + Duration::from_secs(1);
        let pass = engine.pass_at(later).await.unwrap();
        assert_eq!(
            pass.outcomes[1].decision.reason.to_string(),
            "held: no handshake followed 198.51.100.2:40002"
        );
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:40002")));
        let not_direct =
            "no handshake followed endpoint 198.51.100.2:40002 (symmetric NAT on either side?)";
        assert_eq!(
            health_changes(&drain(&mut rx), key(2)),
            [(
                HealthState::Pending,
                HealthState::NotDirect,
                not_direct.into()
            )]
        );
        // The published view says the same as the events.
        let published = view.borrow().clone();
        let device = memory.clone();
        use punchwire_wg::WireGuard;
        let bob = device.device(IFACE).unwrap().peer(&key(2)).unwrap().clone();
        assert_eq!(published.health(&bob, later).text, not_direct);

        // The other side gets through after all: direct, and the hold is lifted.
        memory.update_peer(IFACE, &key(2), |p| p.last_handshake = Some(later));
        let pass = engine
            .pass_at(later + Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            health_changes(&drain(&mut rx), key(2)),
            [(
                HealthState::NotDirect,
                HealthState::Direct,
                "handshake 1 s ago".into()
            )]
        );
        // Its handshake is fresh, so the working endpoint stays.
        assert_eq!(pass.outcomes[1].decision.reason, Reason::FreshHandshake);
    }

    #[tokio::test]
    async fn a_decision_is_told_only_when_it_changes() {
        let (_memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        let decisions = |events: Vec<Event>| -> Vec<(PublicKey, String)> {
            events
                .into_iter()
                .filter_map(|e| match e {
                    Event::Decision { peer, reason, .. } => Some((peer, reason.to_string())),
                    _ => None,
                })
                .collect()
        };
        engine.pass().await.unwrap();
        assert_eq!(
            decisions(drain(&mut rx)),
            [
                (key(1), "registry-peer".into()),
                (key(2), "no-record".into()),
                (key(3), "no-record".into())
            ]
        );
        engine.pass().await.unwrap();
        engine.pass().await.unwrap();
        assert_eq!(
            decisions(drain(&mut rx)),
            [],
            "nothing changed, nothing told"
        );
        source.publish(registry(1), key(3), addr("198.51.100.3:40003"));
        engine.pass().await.unwrap();
        engine.pass().await.unwrap();
        assert_eq!(
            decisions(drain(&mut rx)),
            [(key(3), "set".into()), (key(3), "unchanged".into())]
        );
    }

    #[tokio::test]
    async fn a_health_check_between_passes_tells_the_end_of_the_pending_window() {
        let (_memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        let t0 = SystemTime::now();
        engine.pass_at(t0).await.unwrap();
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        engine.pass_at(t0).await.unwrap();
        drain(&mut rx);
        assert_eq!(
            engine.next_check,
            Some(t0 + DEFAULT_POLL),
            "watched while pending"
        );
        engine
            .check_health_at(t0 + DEFAULT_PENDING_FOR - Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(health_changes(&drain(&mut rx), key(2)), []);
        engine
            .check_health_at(t0 + DEFAULT_PENDING_FOR)
            .await
            .unwrap();
        assert_eq!(
            health_changes(&drain(&mut rx), key(2))
                .into_iter()
                .map(|(from, to, _)| (from, to))
                .collect::<Vec<_>>(),
            [(HealthState::Pending, HealthState::NotDirect)]
        );
        assert_eq!(
            engine.next_check, None,
            "nothing changes by itself any more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn running_follows_the_serial_and_stops_on_request() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });

        // A record appears after the first pass: picked up at the next poll, long
        // before the full interval.
        let started = Instant::now();
        wait_for(
            &mut rx,
            |e| matches!(e, Event::Decision { peer, .. } if *peer == key(3)),
        )
        .await;
        source.publish(registry(1), key(3), addr("198.51.100.3:40003"));
        wait_for(
            &mut rx,
            |e| matches!(e, Event::EndpointChanged { peer, .. } if *peer == key(3)),
        )
        .await;
        assert!(Instant::now() - started <= DEFAULT_POLL * 2);
        assert_eq!(endpoint_of(&memory, 3), Some(addr("198.51.100.3:40003")));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the engine stops when asked")
            .unwrap();
    }

    async fn wait_for(rx: &mut broadcast::Receiver<Event>, want: impl Fn(&Event) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let event = rx.recv().await.expect("the engine is running");
                if want(&event) {
                    return;
                }
            }
        })
        .await
        .expect("the event came within 10 s")
    }
}

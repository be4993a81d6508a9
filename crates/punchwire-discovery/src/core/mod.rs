//! The discovery core: every judgement discovery makes, as a state machine with no I/O,
//! no clock and no randomness inside. The driver ([`crate::engine`]) is the only code
//! that reads the device, asks the registries and writes endpoints; it hands the core
//! each reading with the [`Moment`] it was taken, and carries out what the core answers:
//! the questions to send, the endpoint writes, the events to tell, when to look again.
//!
//! A pass is three calls, each a plain function of its inputs:
//! [`Core::plan_pass`] (the device as read → the questions to ask),
//! [`Core::decide`] (the registries' replies → one decision per peer, and the endpoint
//! writes, each with the peer snapshot it was decided on),
//! [`Core::conclude`] (the writes' results → the [`Pass`]).
//! Between passes, [`Core::check_health`] tells health changes as they happen, and the
//! SOA poll ([`Core::serial_questions`], [`Core::serials_answered`]) says when a pass
//! is due early.

mod believe;
mod pass;
mod schedule;
mod serials;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use punchwire_wg::{Device, Peer, PublicKey};

pub use pass::{
    DecidedPass, EndpointWrite, Outcome, Pass, PassPlan, Question, Reply, WriteResults,
};
pub use schedule::{Due, ASLEEP_AFTER};
pub use serials::SerialReply;

use crate::config::Config;
use crate::events::Event;
use crate::health::{Registries, RegistryChange};
use crate::peer_health::{Facts, Transition};
use crate::view::InterfaceView;

/// One moment on both clocks: the device stamps handshakes in wall-clock time, and
/// registry pauses are measured on the monotonic clock, which no clock change moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub wall: SystemTime,
    pub mono: Instant,
}

/// One interface's discovery state: the registries' health and pauses, every peer's
/// health memory, the serials last seen, and when to look next.
#[derive(Debug)]
pub struct Core {
    config: Config,
    registries: Registries,
    view: InterfaceView,
    serials: std::collections::HashMap<SocketAddr, u32>,
    /// When to read the device again to tell health changes as they happen, between
    /// passes; `None` when nothing will change by itself.
    next_check: Option<SystemTime>,
    /// When the next full pass is due whatever the serials say; `None`: now.
    next_full: Option<Instant>,
    /// The latest poll, to tell a sleep between two.
    last_poll: Option<Moment>,
    /// Events not yet taken by the driver, in the order they happened.
    events: Vec<Event>,
    /// Each peer's way through its candidates (see [`crate::paths`]).
    trials: std::collections::HashMap<PublicKey, crate::paths::Trial>,
}

impl Core {
    pub fn new(config: Config) -> Self {
        Self {
            registries: Registries::new(&config.registries),
            view: InterfaceView::new(&config.registries, config.thresholds()),
            serials: Default::default(),
            next_check: None,
            next_full: None,
            last_poll: None,
            events: Vec::new(),
            trials: Default::default(),
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every peer's health memory and the registries' readings, as of the latest call.
    pub fn view(&self) -> &InterfaceView {
        &self.view
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Takes in the device read at `now` between passes, without asking any registry:
    /// "not direct" and "stale" are told when they happen rather than at the next pass.
    pub fn check_health(&mut self, device: &Device, now: SystemTime) {
        for peer in &device.peers {
            let facts = self.view.facts(peer);
            self.observe(peer.public_key, &facts, now);
        }
        self.plan_next_check(&device.peers, now);
    }

    fn observe(&mut self, peer: PublicKey, facts: &Facts, now: SystemTime) {
        let thresholds = *self.view.thresholds();
        if let Some(Transition { from, to }) =
            self.view.peer_mut(peer).observe(facts, now, &thresholds)
        {
            self.events.push(Event::PeerHealthChanged {
                iface: self.config.iface.clone(),
                peer,
                from,
                to: to.state,
                reason: to.reason,
                text: to.text,
            });
        }
    }

    /// Works out when to look again: when some peer's health changes by itself, or at
    /// the next poll while a handshake is awaited.
    fn plan_next_check(&mut self, peers: &[Peer], now: SystemTime) {
        let thresholds = *self.view.thresholds();
        let mut next: Option<SystemTime> = None;
        for peer in peers {
            let facts = self.view.facts(peer);
            let memory = self.view.peer_mut(peer.public_key);
            let soon = memory.awaits_handshake().then_some(now + self.config.poll);
            let change = memory.next_change(&facts, &thresholds);
            for at in soon.into_iter().chain(change) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.next_check = next;
    }

    /// `registry` answered at `now`; `soa` is the round trip and serial when it was an
    /// SOA poll.
    fn registry_answered(
        &mut self,
        registry: SocketAddr,
        now: Instant,
        soa: Option<(Duration, u32)>,
    ) {
        self.view.registry_answered(registry, now, soa);
        if let Some(RegistryChange::Reachable) = self.registries.answered(registry) {
            self.events.push(Event::RegistryReachable { registry });
        }
    }

    /// `registry` failed at `now`; `jitter` in `[0, 1)`, drawn by the driver, spreads
    /// its retry so that many clients do not retry in step.
    fn registry_failed(&mut self, registry: SocketAddr, why: &str, now: Instant, jitter: f64) {
        self.view.registry_failed(registry, why);
        if let Some(RegistryChange::Unreachable(reason)) =
            self.registries.failed(registry, why, now, jitter)
        {
            self.events
                .push(Event::RegistryUnreachable { registry, reason });
        }
    }
}

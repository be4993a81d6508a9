//! One pass over every peer of the device: plan the questions, decide on the replies,
//! conclude on the writes' results.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use punchwire_wg::{Device, Endpoint, LocalAddresses, Peer, PublicKey};

use super::{Core, Moment};
use crate::events::Event;
use crate::lookup::Lookup;
use crate::paths::{self, Ours, Situation, Trial, TRIAL_STEP};
use crate::peer_health::Facts;
use crate::policy::{self, Action, Decision, PolicyContext};

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

/// One lookup to make: `registry`'s SRV record for `peer`, and the peer's registered
/// candidates when `candidates` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub peer: PublicKey,
    pub registry: SocketAddr,
    pub candidates: bool,
}

/// What a registry said to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub question: Question,
    pub lookup: Lookup,
    /// The peer's candidates, when asked for; none when it has none or on any failure.
    pub candidates: Vec<SocketAddr>,
}

/// A pass whose device has been read, awaiting the registries' replies.
#[derive(Debug)]
pub struct PassPlan {
    device: Device,
    ctx: PolicyContext,
    /// The registries asked, in the user's order; none when all are backing off.
    asked: Vec<SocketAddr>,
    /// Peers decided without a lookup (the registry's own peer).
    settled: HashMap<PublicKey, Decision>,
    questions: Vec<Question>,
    /// This device's own key, asked about too when candidates are, so that our public
    /// address (our mapping, as a registry sees it) orders them.
    ours: Option<PublicKey>,
}

impl PassPlan {
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }
}

/// An endpoint to set, with the peer as the pass read it: the backend writes from this
/// snapshot rather than reading the device again for every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointWrite {
    pub peer: Peer,
    pub endpoint: Endpoint,
    /// The registry whose answer it is.
    pub registry: Option<SocketAddr>,
}

/// What each write came to, by peer: `Err` says why it failed.
pub type WriteResults = HashMap<PublicKey, Result<(), String>>;

/// A pass decided, awaiting the results of its endpoint writes.
#[derive(Debug)]
pub struct DecidedPass {
    steps: Vec<Step>,
    writes: Vec<EndpointWrite>,
}

impl DecidedPass {
    pub fn writes(&self) -> &[EndpointWrite] {
        &self.writes
    }
}

/// One peer's decision and what it was made on.
#[derive(Debug)]
struct Step {
    peer: Peer,
    facts: Facts,
    decision: Decision,
    registry: Option<SocketAddr>,
}

impl Core {
    /// Starts a pass on `device`, read at `now`; `local` is this machine's addresses,
    /// which no answer may set. Returns the questions to ask: every available registry
    /// about every peer that needs a lookup.
    pub fn plan_pass(&mut self, device: Device, local: LocalAddresses, now: Moment) -> PassPlan {
        let registry_ips: Vec<_> = self.config.registries.iter().map(|r| r.ip()).collect();
        let ctx = PolicyContext::for_device(
            &device,
            now.wall,
            self.config.fresh_handshake,
            &registry_ips,
        )
        .with_local(local);
        self.view.retain(|k| ctx.our_peers.contains(k));
        let asked = self.registries.available(now.mono);
        let mut settled = HashMap::new();
        let mut questions = Vec::new();
        for peer in &device.peers {
            match policy::before_lookup(peer, &ctx) {
                Some(decision) => {
                    settled.insert(peer.public_key, decision);
                }
                None => {
                    // A direct peer needs no other path: asking for its candidates would
                    // only double the questions of a healthy mesh (and a registry's
                    // per-client rate is shared by them all).
                    let candidates = self.config.candidates && !self.is_direct(peer, now.wall);
                    questions.extend(asked.iter().map(|&registry| Question {
                        peer: peer.public_key,
                        registry,
                        candidates,
                    }));
                }
            }
        }
        let ours = device
            .public_key
            .filter(|_| questions.iter().any(|q| q.candidates));
        if let Some(own) = ours {
            questions.extend(asked.iter().map(|&registry| Question {
                peer: own,
                registry,
                candidates: false,
            }));
        }
        PassPlan {
            device,
            ctx,
            asked,
            settled,
            questions,
            ours,
        }
    }

    /// Takes in the registries' replies, received by `now`, and decides each peer once.
    /// `jitter` in `[0, 1)` spreads the retry of a registry that failed.
    pub fn decide(
        &mut self,
        plan: PassPlan,
        replies: Vec<Reply>,
        now: Moment,
        jitter: f64,
    ) -> DecidedPass {
        let PassPlan {
            device,
            ctx,
            asked,
            mut settled,
            ours,
            ..
        } = plan;
        let (mut answers, mut candidates) = self.believe(&asked, replies, now, jitter);
        let our_public = ours
            .and_then(|own| answers.remove(&own))
            .and_then(|(_, lookup)| match lookup {
                Lookup::Found(ours) => Some(ours.addr.ip().to_canonical()),
                _ => None,
            });
        let ours = Ours {
            public_ip: our_public,
            local: Some(&ctx.local),
        };
        self.trials.retain(|key, _| ctx.our_peers.contains(key));
        let mut steps = Vec::with_capacity(device.peers.len());
        let mut writes = Vec::new();
        for peer in device.peers {
            let facts = self.view.facts(&peer);
            self.observe(peer.public_key, &facts, now.wall);
            let (decision, registry) = match settled.remove(&peer.public_key) {
                Some(decision) => (decision, None),
                None => {
                    let (registry, lookup) = match answers.remove(&peer.public_key) {
                        Some(answer) => answer,
                        None if asked.is_empty() => (
                            None,
                            Lookup::Unreachable(
                                "every registry is backing off after failing".into(),
                            ),
                        ),
                        None => (None, Lookup::NoRecord),
                    };
                    let direct = self.is_direct(&peer, now.wall);
                    let memory = self.view.peer_mut(peer.public_key);
                    let decision = policy::decide(&peer, &lookup, &ctx, memory.recall());
                    let mut mapping = None;
                    if let (Lookup::Found(answer), None) = (&lookup, decision.reason.rejection()) {
                        let addr =
                            SocketAddr::new(answer.addr.ip().to_canonical(), answer.addr.port());
                        memory.registry_answered(addr);
                        mapping = Endpoint::try_from(addr).ok();
                    }
                    let decision = if self.config.candidates {
                        let found = candidates.remove(&peer.public_key).unwrap_or_default();
                        let mut trial = self.trials.remove(&peer.public_key);
                        let situation = Situation {
                            peer: &peer,
                            direct,
                            mapping,
                            candidates: &found,
                        };
                        let steered = paths::steer(decision, situation, &mut trial, ours, now.wall);
                        if let Some(trial) = trial {
                            self.trials.insert(peer.public_key, trial);
                        }
                        steered
                    } else {
                        decision
                    };
                    (decision, registry)
                }
            };
            if let Action::Set(endpoint) = decision.action {
                writes.push(EndpointWrite {
                    peer: peer.clone(),
                    endpoint,
                    registry,
                });
            }
            steps.push(Step {
                peer,
                facts,
                decision,
                registry,
            });
        }
        DecidedPass { steps, writes }
    }

    /// Takes in what the endpoint writes came to, by `now`, and ends the pass.
    pub fn conclude(
        &mut self,
        decided: DecidedPass,
        mut results: WriteResults,
        now: Moment,
    ) -> Pass {
        let mut outcomes = Vec::with_capacity(decided.steps.len());
        let mut peers = Vec::with_capacity(decided.steps.len());
        for Step {
            peer,
            facts,
            decision,
            registry,
        } in decided.steps
        {
            let mut outcome = Outcome {
                peer: peer.public_key,
                decision,
                registry,
                endpoint: peer.endpoint,
                error: None,
            };
            if let Action::Set(endpoint) = outcome.decision.action {
                match results.remove(&peer.public_key) {
                    Some(Ok(())) => self.written(&peer, endpoint, registry, now, &mut outcome),
                    Some(Err(why)) => outcome.error = Some(why),
                    None => outcome.error = Some("the endpoint was not written".into()),
                }
            }
            let memory = self.view.peer_mut(peer.public_key);
            if memory.decided(&outcome.decision.reason) {
                self.events.push(Event::decision(
                    self.config.iface.clone(),
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
            self.observe(peer.public_key, &after, now.wall);
            outcomes.push(outcome);
            peers.push(peer);
        }
        self.plan_next_check(&peers, now.wall);
        // A trial moves on after its step, not at the next interval.
        let next = if self.trials.values().any(Trial::in_progress) {
            self.config.interval.min(TRIAL_STEP)
        } else {
            self.config.interval
        };
        self.next_full = Some(now.mono + next);
        Pass {
            iface: self.config.iface.clone(),
            outcomes,
        }
    }

    /// Whether `peer`'s path works by our account: its handshake is fresh, and followed
    /// the endpoint we last set (a younger one may be the path's before).
    fn is_direct(&self, peer: &Peer, now: SystemTime) -> bool {
        let fresh = peer
            .handshake_age(now)
            .is_some_and(|age| age < self.config.fresh_handshake);
        fresh && !self.view.unanswered(peer)
    }

    fn written(
        &mut self,
        peer: &Peer,
        endpoint: Endpoint,
        registry: Option<SocketAddr>,
        now: Moment,
        outcome: &mut Outcome,
    ) {
        outcome.endpoint = Some(endpoint.addr());
        self.view
            .peer_mut(peer.public_key)
            .applied(endpoint, now.wall);
        if let Some(registry) = registry {
            self.events.push(Event::EndpointChanged {
                iface: self.config.iface.clone(),
                peer: peer.public_key,
                old: peer.endpoint,
                new: endpoint,
                registry,
            });
        }
    }
}

//! One peer's health, decided in one place: direct, pending, not direct, stale or the
//! registry peer, each with a typed reason.
//!
//! A reducer without a clock: every call is given `now` and what the device says about
//! the peer ([`Facts`]), so tests drive it with chosen moments, and the service can judge
//! the same memory again at any later moment between passes ([`PeerHealth::health`]
//! does not change anything). The discovery core feeds it ([`PeerHealth::observe`],
//! [`PeerHealth::applied`], [`PeerHealth::decided`]) and gives the policy the endpoint
//! it holds while a peer is not direct ([`PeerHealth::held`]).
//!
//! Setting an endpoint is a bet that the peer can be reached there. If no handshake
//! follows (symmetric NAT on either side, a filtering firewall), the registry may keep
//! publishing addresses that do not work either; rather than chase each one, the peer
//! is marked not direct, says so, and further changes wait out a pause that grows with
//! each failed attempt. A handshake at any time clears all of it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use punchwire_control::status::{EndpointSource, Health, HealthReason, HealthState};
use punchwire_wg::{Endpoint, Peer};

use crate::policy::{Held, Reason, Recall};

/// How recent a handshake must be for the tunnel to count as direct, and for its
/// endpoint never to be replaced: the user-facing default
/// ([`punchwire_control::defaults::DEFAULT_HANDSHAKE_THRESHOLD`]), which an interface's
/// `handshake_threshold` overrides.
pub const DEFAULT_FRESH_HANDSHAKE: Duration =
    punchwire_control::defaults::DEFAULT_HANDSHAKE_THRESHOLD.get();

/// How long after setting an endpoint a handshake must follow; until then the peer is
/// pending. WireGuard retries a handshake every 5 s, and the other side needs a moment
/// to set our endpoint too.
pub const DEFAULT_PENDING_FOR: Duration = Duration::from_secs(20);

/// The pause on endpoint changes after the first failed attempt; it doubles with each
/// further one, up to [`HOLD_MAX`].
pub const HOLD_FIRST: Duration = Duration::from_secs(60);
pub const HOLD_MAX: Duration = Duration::from_secs(15 * 60);

/// Every threshold health depends on, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub fresh_handshake: Duration,
    pub pending_for: Duration,
    pub hold_first: Duration,
    pub hold_max: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            fresh_handshake: DEFAULT_FRESH_HANDSHAKE,
            pending_for: DEFAULT_PENDING_FOR,
            hold_first: HOLD_FIRST,
            hold_max: HOLD_MAX,
        }
    }
}

impl Thresholds {
    /// The pause after the `failures`-th failed attempt in a row.
    fn hold(&self, failures: u32) -> Duration {
        self.hold_first
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.hold_max)
    }
}

/// What the device says about a peer at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub endpoint: Option<SocketAddr>,
    pub last_handshake: Option<SystemTime>,
    /// The peer serves the registry: its endpoint is configured, not discovered.
    pub is_registry: bool,
}

impl Facts {
    pub fn of(peer: &Peer, is_registry: bool) -> Self {
        Self {
            endpoint: peer.endpoint,
            last_handshake: peer.last_handshake,
            is_registry,
        }
    }

    fn handshake_age(&self, now: SystemTime) -> Option<Duration> {
        self.last_handshake
            .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
    }

    fn handshake_since(&self, t: SystemTime) -> bool {
        handshake_since(self.last_handshake, t)
    }
}

/// A state change worth telling: the peer was `from` and is now `to.state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthState,
    pub to: Health,
}

/// What the engine remembers about one peer across passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerHealth {
    /// An endpoint we set that awaits its verdict.
    attempt: Option<Attempt>,
    /// The endpoint we set that no handshake followed; changes are held until `hold_until`.
    failed: Option<Failed>,
    failures: u32,
    /// The endpoint Punchwire last set, and when: where the current endpoint came from.
    set_by_us: Option<(SocketAddr, SystemTime)>,
    /// The policy's latest word on this peer.
    decision: Option<Reason>,
    /// The registry's latest usable answer, to tell when the peer moved.
    last_answer: Option<SocketAddr>,
    /// The state last observed, so that only changes are told.
    observed: Option<HealthState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    endpoint: Endpoint,
    at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed {
    endpoint: Endpoint,
    since: SystemTime,
    hold_until: SystemTime,
}

impl PeerHealth {
    /// Nothing known yet about the peer.
    pub const fn new() -> Self {
        Self {
            attempt: None,
            failed: None,
            failures: 0,
            set_by_us: None,
            decision: None,
            last_answer: None,
            observed: None,
        }
    }

    /// The peer's health at `now`. Changes nothing: the same memory judged at a later
    /// moment says what an observation at that moment would say.
    pub fn health(&self, facts: &Facts, now: SystemTime, th: &Thresholds) -> Health {
        Health::new(self.reason(facts, now, th))
    }

    fn reason(&self, facts: &Facts, now: SystemTime, th: &Thresholds) -> HealthReason {
        if facts.is_registry {
            return HealthReason::RegistryPeer;
        }
        let age = facts.handshake_age(now);
        if let Some(age) = age.filter(|a| *a < th.fresh_handshake) {
            return HealthReason::FreshHandshake {
                age_secs: age.as_secs(),
            };
        }
        if let Some(attempt) = self.attempt.filter(|a| !facts.handshake_since(a.at)) {
            let since = now.duration_since(attempt.at).unwrap_or_default();
            return if since < th.pending_for {
                HealthReason::WaitingForHandshake {
                    endpoint: attempt.endpoint.addr(),
                    set_secs_ago: since.as_secs(),
                }
            } else {
                HealthReason::NoHandshakeAfterSet {
                    endpoint: attempt.endpoint.addr(),
                }
            };
        }
        if let Some(failed) = self.failed.filter(|f| !facts.handshake_since(f.since)) {
            return HealthReason::NoHandshakeAfterSet {
                endpoint: failed.endpoint.addr(),
            };
        }
        if let Some(age) = age {
            return HealthReason::HandshakeOld {
                age_secs: age.as_secs(),
            };
        }
        let decision = self.decision.as_ref().map(ToString::to_string);
        match facts.endpoint {
            None => HealthReason::NoEndpoint { decision },
            Some(_) => HealthReason::NoHandshakeYet { decision },
        }
    }

    /// Takes in the peer as the device reports it at `now`, before deciding: settles an
    /// attempt (a handshake followed, or its time ran out) and clears a failure that a
    /// handshake overtook. Returns the change of state, if the state changed since the
    /// last observation (the first observation is no change).
    pub fn observe(
        &mut self,
        facts: &Facts,
        now: SystemTime,
        th: &Thresholds,
    ) -> Option<Transition> {
        if let Some(attempt) = self.attempt {
            if facts.handshake_since(attempt.at) {
                self.attempt = None;
                self.failed = None;
                self.failures = 0;
            } else if now >= attempt.at + th.pending_for {
                self.attempt = None;
                self.failures = self.failures.saturating_add(1);
                let verdict_at = attempt.at + th.pending_for;
                self.failed = Some(Failed {
                    endpoint: attempt.endpoint,
                    since: attempt.at,
                    hold_until: verdict_at + th.hold(self.failures),
                });
            }
        } else if let Some(failed) = self.failed {
            if facts.handshake_since(failed.since) {
                self.failed = None;
                self.failures = 0;
            }
        }
        let to = self.health(facts, now, th);
        let from = self.observed.replace(to.state)?;
        (from != to.state).then_some(Transition { from, to })
    }

    /// The endpoint held while the peer is marked not direct, for the policy to weigh
    /// ([`crate::policy::decide`]): no new endpoint until the pause is over.
    pub fn held(&self) -> Option<Held> {
        self.failed.map(|f| Held {
            endpoint: f.endpoint,
            until: f.hold_until,
        })
    }

    /// What the policy weighs besides the answer: the endpoint held, and the registry's
    /// previous answer.
    pub fn recall(&self) -> Recall {
        Recall {
            held: self.held(),
            last_answer: self.last_answer,
        }
    }

    /// Records the registry's answer for the peer, one the policy did not reject.
    pub fn registry_answered(&mut self, addr: SocketAddr) {
        self.last_answer = Some(addr);
    }

    /// Records that `endpoint` was set on the peer at `now`.
    pub fn applied(&mut self, endpoint: Endpoint, now: SystemTime) {
        self.attempt = Some(Attempt { endpoint, at: now });
        self.failed = None;
        self.set_by_us = Some((endpoint.addr(), now));
    }

    /// Records the policy's decision; true when it differs from the last one.
    pub fn decided(&mut self, reason: &Reason) -> bool {
        let changed = self.decision.as_ref() != Some(reason);
        if changed {
            self.decision = Some(reason.clone());
        }
        changed
    }

    /// The policy's latest word on this peer, e.g. "fresh-handshake".
    pub fn last_decision(&self) -> Option<&Reason> {
        self.decision.as_ref()
    }

    /// Where the peer's current endpoint came from.
    pub fn endpoint_source(&self, facts: &Facts) -> EndpointSource {
        match (facts.endpoint, self.set_by_us) {
            (None, _) => EndpointSource::None,
            (Some(now), Some((ours, _))) if now == ours => EndpointSource::Registry,
            (Some(_), Some(_)) => EndpointSource::Roaming,
            (Some(_), None) => EndpointSource::Static,
        }
    }

    /// The next moment the health changes by itself, without any new fact: an attempt's
    /// time runs out, or a fresh handshake stops being fresh. A caller that wants to
    /// tell changes as they happen looks again then.
    pub fn next_change(&self, facts: &Facts, th: &Thresholds) -> Option<SystemTime> {
        if facts.is_registry {
            return None;
        }
        let attempt = self
            .attempt
            .filter(|a| !facts.handshake_since(a.at))
            .map(|a| a.at + th.pending_for);
        let fresh_until = facts.last_handshake.map(|h| h + th.fresh_handshake);
        attempt.into_iter().chain(fresh_until).min()
    }

    /// Whether a handshake may arrive any moment now and turn the peer direct: an
    /// endpoint was just set and its verdict is open.
    pub fn awaits_handshake(&self) -> bool {
        self.attempt.is_some()
    }

    /// Whether the endpoint the peer has is one we set on which no handshake followed
    /// (yet, or at all): the peer is not direct on it, however young its latest
    /// handshake, which then was the path's before.
    pub fn unanswered(&self, facts: &Facts) -> bool {
        let on = |endpoint: Endpoint| facts.endpoint == Some(endpoint.addr());
        self.attempt
            .is_some_and(|a| on(a.endpoint) && !facts.handshake_since(a.at))
            || self
                .failed
                .is_some_and(|f| on(f.endpoint) && !facts.handshake_since(f.since))
    }
}

/// Whether a handshake at `last_handshake` happened at or after `t`. Handshake times
/// are reported to the second: compared at that resolution.
pub(crate) fn handshake_since(last_handshake: Option<SystemTime>, t: SystemTime) -> bool {
    last_handshake.is_some_and(|h| h >= whole_seconds(t))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{hold_back, Action, Decision};

    const S: Duration = Duration::from_secs(1);

    /// The policy's `decision`, as the peer's hold leaves it.
    fn review(p: &PeerHealth, f: &Facts, decision: Decision, now: SystemTime) -> Decision {
        match p.held() {
            Some(held) => hold_back(decision, held, f.endpoint, now),
            None => decision,
        }
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    fn th() -> Thresholds {
        Thresholds::default()
    }

    fn facts(endpoint: Option<&str>, handshake: Option<SystemTime>) -> Facts {
        Facts {
            endpoint: endpoint.map(|e| e.parse().unwrap()),
            last_handshake: handshake,
            is_registry: false,
        }
    }

    fn set(s: &str) -> Decision {
        Decision {
            action: Action::Set(ep(s)),
            reason: Reason::Set,
        }
    }

    fn state_at(p: &PeerHealth, f: &Facts, now: SystemTime) -> HealthState {
        p.health(f, now, &th()).state
    }

    const A: &str = "198.51.100.2:1000";

    #[test]
    fn a_handshake_is_direct_until_one_second_before_the_fresh_threshold() {
        let p = PeerHealth::default();
        let f = facts(Some(A), Some(t(0)));
        let fresh = DEFAULT_FRESH_HANDSHAKE;
        assert_eq!(
            p.health(&f, t(0) + fresh - S, &th()),
            Health::new(HealthReason::FreshHandshake { age_secs: 149 })
        );
        assert_eq!(
            p.health(&f, t(0) + fresh, &th()),
            Health::new(HealthReason::HandshakeOld { age_secs: 150 })
        );
        assert_eq!(state_at(&p, &f, t(0) + fresh + S), HealthState::Stale);
        assert_eq!(
            p.next_change(&f, &th()),
            Some(t(0) + fresh),
            "looked at again exactly when it goes stale"
        );
    }

    #[test]
    fn after_setting_it_is_pending_until_the_pending_window_ends_then_not_direct() {
        let mut p = PeerHealth::default();
        let f = facts(Some(A), None);
        p.applied(ep(A), t(0));
        let window = DEFAULT_PENDING_FOR;
        assert_eq!(
            p.health(&f, t(0) + window - S, &th()),
            Health::new(HealthReason::WaitingForHandshake {
                endpoint: A.parse().unwrap(),
                set_secs_ago: 19
            })
        );
        assert_eq!(
            p.health(&f, t(0) + window, &th()),
            Health::new(HealthReason::NoHandshakeAfterSet {
                endpoint: A.parse().unwrap()
            })
        );
        assert_eq!(state_at(&p, &f, t(0) + window + S), HealthState::NotDirect);
        assert_eq!(p.next_change(&f, &th()), Some(t(0) + window));
        assert!(p.awaits_handshake());
    }

    #[test]
    fn judging_later_says_what_observing_then_would_say() {
        // The service judges the engine's memory between passes: no frozen state.
        let mut p = PeerHealth::default();
        let f = facts(Some(A), None);
        p.observe(&f, t(0), &th());
        p.applied(ep(A), t(0));
        let between = p.clone();
        for secs in [1, 19, 20, 21, 100, 400] {
            let mut observed = p.clone();
            observed.observe(&f, t(secs), &th());
            assert_eq!(
                between.health(&f, t(secs), &th()),
                observed.health(&f, t(secs), &th()),
                "at {secs} s"
            );
        }
        let f = facts(Some(A), Some(t(5)));
        for secs in [6, 154, 155, 156] {
            let mut observed = p.clone();
            observed.observe(&f, t(secs), &th());
            assert_eq!(
                between.health(&f, t(secs), &th()),
                observed.health(&f, t(secs), &th()),
                "at {secs} s"
            );
        }
    }

    #[test]
    fn every_transition_is_told_once_and_the_first_look_is_no_change() {
        let mut p = PeerHealth::default();
        let nothing = facts(None, None);
        assert_eq!(p.observe(&nothing, t(0), &th()), None, "first look");
        assert_eq!(p.observe(&nothing, t(1), &th()), None);

        // not direct (no endpoint) -> pending
        p.applied(ep(A), t(2));
        let set = facts(Some(A), None);
        let seen = p.observe(&set, t(2), &th()).unwrap();
        assert_eq!(seen.from, HealthState::NotDirect);
        assert_eq!(seen.to.state, HealthState::Pending);
        assert_eq!(p.observe(&set, t(3), &th()), None, "still pending");

        // pending -> not direct, exactly when the window ends
        assert_eq!(p.observe(&set, t(21), &th()), None, "one second before");
        let seen = p.observe(&set, t(22), &th()).unwrap();
        assert_eq!(seen.from, HealthState::Pending);
        assert_eq!(
            seen.to,
            Health::new(HealthReason::NoHandshakeAfterSet {
                endpoint: A.parse().unwrap()
            })
        );
        assert_eq!(
            seen.to.text,
            "no handshake followed endpoint 198.51.100.2:1000 (symmetric NAT on either side?)"
        );

        // not direct -> direct: a late handshake clears it
        let shook = facts(Some(A), Some(t(40)));
        let seen = p.observe(&shook, t(41), &th()).unwrap();
        assert_eq!(seen.from, HealthState::NotDirect);
        assert_eq!(seen.to.state, HealthState::Direct);

        // direct -> stale, exactly at the fresh threshold
        assert_eq!(
            p.observe(&shook, t(40) + DEFAULT_FRESH_HANDSHAKE - S, &th()),
            None
        );
        let seen = p
            .observe(&shook, t(40) + DEFAULT_FRESH_HANDSHAKE, &th())
            .unwrap();
        assert_eq!(
            (seen.from, seen.to.state),
            (HealthState::Direct, HealthState::Stale)
        );
        assert_eq!(seen.to.text, "latest handshake 150 s ago");
        assert_eq!(
            p.observe(&shook, t(40) + DEFAULT_FRESH_HANDSHAKE + S, &th()),
            None
        );

        // stale -> pending (a new endpoint) -> direct (a handshake follows)
        p.applied(ep("198.51.100.2:1001"), t(300));
        let moved = facts(Some("198.51.100.2:1001"), Some(t(40)));
        let seen = p.observe(&moved, t(300), &th()).unwrap();
        assert_eq!(
            (seen.from, seen.to.state),
            (HealthState::Stale, HealthState::Pending)
        );
        let shook = facts(Some("198.51.100.2:1001"), Some(t(301)));
        let seen = p.observe(&shook, t(302), &th()).unwrap();
        assert_eq!(
            (seen.from, seen.to.state),
            (HealthState::Pending, HealthState::Direct)
        );
        assert!(!p.awaits_handshake());
    }

    #[test]
    fn a_handshake_in_the_same_second_as_the_set_counts() {
        let mut p = PeerHealth::default();
        p.applied(ep(A), t(10) + Duration::from_millis(700));
        let f = facts(Some(A), Some(t(10)));
        p.observe(&f, t(11), &th());
        assert_eq!(state_at(&p, &f, t(11)), HealthState::Direct);
        assert!(!p.awaits_handshake());
    }

    #[test]
    fn without_an_attempt_the_reason_says_what_is_missing_and_the_decision() {
        let mut p = PeerHealth::default();
        assert!(p.decided(&Reason::NoRecord));
        assert!(
            !p.decided(&Reason::NoRecord),
            "the same decision is no news"
        );
        let h = p.health(&facts(None, None), t(0), &th());
        assert_eq!(
            h.reason,
            HealthReason::NoEndpoint {
                decision: Some("no-record".into())
            }
        );
        assert_eq!(h.text, "no endpoint yet (discovery: no-record)");
        let h = p.health(&facts(Some(A), None), t(0), &th());
        assert_eq!(h.state, HealthState::NotDirect);
        assert_eq!(h.text, "no handshake yet (discovery: no-record)");
        let registry = Facts {
            is_registry: true,
            ..facts(Some(A), None)
        };
        assert_eq!(
            p.health(&registry, t(0), &th()).state,
            HealthState::Registry
        );
        assert_eq!(p.next_change(&registry, &th()), None);
    }

    #[test]
    fn no_handshake_after_setting_holds_further_changes_back_with_a_growing_pause() {
        let mut p = PeerHealth::default();
        let f = facts(Some(A), None);
        p.applied(ep(A), t(0));
        p.observe(&f, t(20), &th());
        let held = "held: no handshake followed 198.51.100.2:1000";
        // The registry keeps publishing other ports: none is set during the pause.
        let decision = review(&p, &f, set("198.51.100.2:1001"), t(21));
        assert_eq!(decision.action, Action::Leave);
        assert_eq!(decision.reason.to_string(), held);
        let unchanged = Decision {
            action: Action::Leave,
            reason: Reason::Unchanged,
        };
        assert_eq!(review(&p, &f, unchanged, t(21)).reason.to_string(), held);
        // The pause ends exactly HOLD_FIRST after the verdict.
        let end = t(20) + HOLD_FIRST;
        assert_eq!(
            review(&p, &f, set("198.51.100.2:1001"), end - S).action,
            Action::Leave
        );
        assert_eq!(
            review(&p, &f, set("198.51.100.2:1001"), end),
            set("198.51.100.2:1001")
        );
        p.applied(ep("198.51.100.2:1001"), end);
        let f = facts(Some("198.51.100.2:1001"), None);
        assert!(p.observe(&f, end, &th()).is_some(), "not direct -> pending");
        let verdict = end + DEFAULT_PENDING_FOR;
        assert!(
            p.observe(&f, verdict, &th()).is_some(),
            "pending -> not direct"
        );
        // The second failure doubles the pause.
        let decision = review(
            &p,
            &f,
            set("198.51.100.2:1002"),
            verdict + 2 * HOLD_FIRST - S,
        );
        assert_eq!(decision.action, Action::Leave);
        assert_eq!(
            review(&p, &f, set("198.51.100.2:1002"), verdict + 2 * HOLD_FIRST).action,
            Action::Set(ep("198.51.100.2:1002"))
        );
    }

    #[test]
    fn a_late_handshake_lifts_the_hold() {
        let mut p = PeerHealth::default();
        p.applied(ep(A), t(0));
        p.observe(&facts(Some(A), None), t(30), &th());
        let f = facts(Some(A), Some(t(40)));
        p.observe(&f, t(41), &th());
        assert_eq!(
            review(&p, &f, set("198.51.100.2:1001"), t(42)),
            set("198.51.100.2:1001")
        );
    }

    #[test]
    fn the_pause_grows_to_its_cap() {
        let th = th();
        assert_eq!(th.hold(1), HOLD_FIRST);
        assert_eq!(th.hold(2), 2 * HOLD_FIRST);
        assert_eq!(th.hold(5), HOLD_MAX);
        assert_eq!(th.hold(u32::MAX), HOLD_MAX);
    }

    #[test]
    fn where_the_endpoint_came_from() {
        let mut p = PeerHealth::default();
        assert_eq!(p.endpoint_source(&facts(None, None)), EndpointSource::None);
        assert_eq!(
            p.endpoint_source(&facts(Some(A), None)),
            EndpointSource::Static
        );
        p.applied(ep(A), t(0));
        assert_eq!(
            p.endpoint_source(&facts(Some(A), None)),
            EndpointSource::Registry
        );
        assert_eq!(
            p.endpoint_source(&facts(Some("198.51.100.2:4444"), None)),
            EndpointSource::Roaming
        );
    }
}

//! Whether the endpoints we set lead to handshakes.
//!
//! Setting an endpoint is a bet that the peer can be reached there. If no handshake
//! follows (symmetric NAT on either side, a filtering firewall), the registry may keep
//! publishing addresses that do not work either; rather than chase each one, the peer
//! is marked not direct, says so, and further changes wait out a pause that grows with
//! each failed attempt. A handshake at any time clears all of it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use punchwire_wg::{Endpoint, Peer, PublicKey};

use crate::policy::{Action, Decision, Reason};

/// How long after setting an endpoint a handshake must follow. WireGuard retries a
/// handshake every 5 s, and the other side needs a moment to set our endpoint too.
pub const DEFAULT_DIRECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The pause after the first failed attempt; it doubles with each further one.
pub const HOLD_FIRST: Duration = Duration::from_secs(60);
pub const HOLD_MAX: Duration = Duration::from_secs(15 * 60);

/// Something worth telling about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A handshake followed the endpoint we set.
    Direct { endpoint: Endpoint },
    /// No handshake followed the endpoint we set.
    NotDirect { endpoint: Endpoint },
    /// The peer had a fresh handshake and no longer does.
    Stale { age: Option<Duration> },
}

#[derive(Debug, Clone, Default)]
struct Track {
    attempt: Option<Attempt>,
    failed: Option<Failed>,
    failures: u32,
    was_fresh: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    endpoint: Endpoint,
    at: SystemTime,
}

#[derive(Debug, Clone, Copy)]
struct Failed {
    endpoint: Endpoint,
    since: SystemTime,
    hold_until: SystemTime,
}

/// Per-peer memory across passes.
#[derive(Debug, Clone)]
pub struct Tracker {
    direct_timeout: Duration,
    peers: HashMap<PublicKey, Track>,
}

impl Tracker {
    pub fn new(direct_timeout: Duration) -> Self {
        Self {
            direct_timeout,
            peers: HashMap::new(),
        }
    }

    /// Looks at the peer as the device reports it at `now`, before deciding.
    pub fn observe(
        &mut self,
        peer: &Peer,
        now: SystemTime,
        fresh_handshake: Duration,
    ) -> Vec<Observation> {
        let track = self.peers.entry(peer.public_key).or_default();
        let mut seen = Vec::new();
        let handshake_after = |t: SystemTime| {
            // Handshake times are reported to the second: compare at that resolution.
            peer.last_handshake.is_some_and(|h| h >= whole_seconds(t))
        };
        if let Some(attempt) = track.attempt {
            if handshake_after(attempt.at) {
                seen.push(Observation::Direct {
                    endpoint: attempt.endpoint,
                });
                *track = Track::default();
            } else if now >= attempt.at + self.direct_timeout {
                track.attempt = None;
                track.failures = track.failures.saturating_add(1);
                track.failed = Some(Failed {
                    endpoint: attempt.endpoint,
                    since: attempt.at,
                    hold_until: now + hold(track.failures),
                });
                seen.push(Observation::NotDirect {
                    endpoint: attempt.endpoint,
                });
            }
        } else if let Some(failed) = track.failed {
            if handshake_after(failed.since) {
                seen.push(Observation::Direct {
                    endpoint: failed.endpoint,
                });
                *track = Track::default();
            }
        }
        let age = peer.handshake_age(now);
        let fresh = age.is_some_and(|a| a < fresh_handshake);
        if track.was_fresh == Some(true) && !fresh {
            seen.push(Observation::Stale { age });
        }
        track.was_fresh = Some(fresh);
        seen
    }

    /// Holds back the policy's decision while a peer is marked not direct: no new
    /// endpoint until the pause is over, and "unchanged" becomes the plain reason why the
    /// peer is still not reachable.
    pub fn review(&self, peer: &Peer, decision: Decision, now: SystemTime) -> Decision {
        let Some(failed) = self.peers.get(&peer.public_key).and_then(|t| t.failed) else {
            return decision;
        };
        let not_direct = Decision {
            action: Action::Leave,
            reason: Reason::NotDirect {
                endpoint: failed.endpoint,
            },
        };
        match (&decision.action, &decision.reason) {
            (Action::Set(_), _) if now < failed.hold_until => not_direct,
            (Action::Leave, Reason::Unchanged) if peer.endpoint == Some(failed.endpoint.addr()) => {
                not_direct
            }
            _ => decision,
        }
    }

    /// Records that `endpoint` was set on the peer at `now`.
    pub fn applied(&mut self, key: PublicKey, endpoint: Endpoint, now: SystemTime) {
        let track = self.peers.entry(key).or_default();
        track.attempt = Some(Attempt { endpoint, at: now });
        track.failed = None;
    }

    /// Forgets peers that are no longer on the device.
    pub fn retain(&mut self, keep: impl Fn(&PublicKey) -> bool) {
        self.peers.retain(|k, _| keep(k));
    }
}

fn hold(failures: u32) -> Duration {
    HOLD_FIRST
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(HOLD_MAX)
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

    const FRESH: Duration = Duration::from_secs(150);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn peer() -> Peer {
        Peer {
            public_key: PublicKey::from_bytes([2; 32]),
            has_preshared_key: false,
            endpoint: None,
            allowed_ips: vec![],
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: Some(5),
        }
    }

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    fn set(s: &str) -> Decision {
        Decision {
            action: Action::Set(ep(s)),
            reason: Reason::Set,
        }
    }

    #[test]
    fn a_handshake_after_setting_makes_the_peer_direct() {
        let mut tracker = Tracker::new(DEFAULT_DIRECT_TIMEOUT);
        let mut p = peer();
        assert_eq!(tracker.observe(&p, t(0), FRESH), vec![]);
        tracker.applied(p.public_key, ep("198.51.100.2:1000"), t(0));
        p.endpoint = Some(ep("198.51.100.2:1000").addr());
        assert_eq!(tracker.observe(&p, t(1), FRESH), vec![]);
        p.last_handshake = Some(t(2));
        assert_eq!(
            tracker.observe(&p, t(3), FRESH),
            vec![Observation::Direct {
                endpoint: ep("198.51.100.2:1000")
            }]
        );
        assert_eq!(tracker.observe(&p, t(4), FRESH), vec![]);
    }

    #[test]
    fn no_handshake_after_setting_holds_further_changes_back() {
        let mut tracker = Tracker::new(DEFAULT_DIRECT_TIMEOUT);
        let mut p = peer();
        tracker.applied(p.public_key, ep("198.51.100.2:1000"), t(0));
        p.endpoint = Some(ep("198.51.100.2:1000").addr());
        assert_eq!(tracker.observe(&p, t(19), FRESH), vec![]);
        assert_eq!(
            tracker.observe(&p, t(20), FRESH),
            vec![Observation::NotDirect {
                endpoint: ep("198.51.100.2:1000")
            }]
        );
        let not_direct = "not direct: no handshake after setting 198.51.100.2:1000 (symmetric NAT on either side?)";
        // The registry keeps publishing other ports: none is set during the pause.
        let held = tracker.review(&p, set("198.51.100.2:1001"), t(21));
        assert_eq!(held.action, Action::Leave);
        assert_eq!(held.reason.to_string(), not_direct);
        let unchanged = Decision {
            action: Action::Leave,
            reason: Reason::Unchanged,
        };
        assert_eq!(
            tracker.review(&p, unchanged, t(21)).reason.to_string(),
            not_direct
        );
        // After the pause, one more attempt.
        let later = t(20) + HOLD_FIRST;
        assert_eq!(
            tracker.review(&p, set("198.51.100.2:1001"), later),
            set("198.51.100.2:1001")
        );
        tracker.applied(p.public_key, ep("198.51.100.2:1001"), later);
        p.endpoint = Some(ep("198.51.100.2:1001").addr());
        let verdict = later + DEFAULT_DIRECT_TIMEOUT;
        assert_eq!(tracker.observe(&p, verdict, FRESH).len(), 1);
        // The second failure doubles the pause.
        let still_held = verdict + HOLD_FIRST;
        assert_eq!(
            tracker
                .review(&p, set("198.51.100.2:1002"), still_held)
                .action,
            Action::Leave
        );
        assert_eq!(
            tracker
                .review(&p, set("198.51.100.2:1002"), verdict + 2 * HOLD_FIRST)
                .action,
            Action::Set(ep("198.51.100.2:1002"))
        );
    }

    #[test]
    fn a_late_handshake_clears_not_direct() {
        let mut tracker = Tracker::new(DEFAULT_DIRECT_TIMEOUT);
        let mut p = peer();
        tracker.applied(p.public_key, ep("198.51.100.2:1000"), t(0));
        assert_eq!(tracker.observe(&p, t(30), FRESH).len(), 1);
        p.last_handshake = Some(t(40));
        assert_eq!(
            tracker.observe(&p, t(41), FRESH),
            vec![Observation::Direct {
                endpoint: ep("198.51.100.2:1000")
            }]
        );
        assert_eq!(
            tracker.review(&p, set("198.51.100.2:1001"), t(42)),
            set("198.51.100.2:1001")
        );
    }

    #[test]
    fn a_peer_whose_handshake_ages_goes_stale_once() {
        let mut tracker = Tracker::new(DEFAULT_DIRECT_TIMEOUT);
        let mut p = peer();
        p.last_handshake = Some(t(0));
        assert_eq!(tracker.observe(&p, t(10), FRESH), vec![]);
        assert_eq!(
            tracker.observe(&p, t(150), FRESH),
            vec![Observation::Stale {
                age: Some(Duration::from_secs(150))
            }]
        );
        assert_eq!(tracker.observe(&p, t(180), FRESH), vec![]);
    }
}

//! Which way to reach a peer that is not direct: its registered candidates (see
//! [`crate::candidates`]) in a sensible order, then the NAT mapping the registry sees,
//! each given a few seconds to complete a handshake; the first that does is kept.
//!
//! The order: a LAN address first, but only when the peer shares our public address
//! (we are behind the same router, which most routers do not hairpin, so its mapping
//! cannot work; anywhere else its LAN address is someone else's LAN); then a global IPv6
//! address when this machine has one (no NAT in the way); then a public IPv4 address
//! on the peer's own interface; the mapping last. Every candidate left out is named
//! with the reason.
//!
//! A [`Trial`] is steered by the core at each pass ([`steer`]): the policy still says
//! when the peer needs an endpoint at all (it never replaces a working one), and the
//! trial only chooses which.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use punchwire_wg::{Endpoint, LocalAddresses, Peer};

use crate::address_class::{is_global_ipv6, never_a_peer};
use crate::peer_health::handshake_since;
use crate::policy::{Action, Decision, Reason};

/// How long each candidate is given to complete a handshake. A peer made anew
/// initiates at once (see the backends' first contact), and a LAN or IPv6 round trip is
/// milliseconds; the other side may need a poll (1 s) to hear of us.
pub const TRIAL_STEP: Duration = Duration::from_secs(3);

/// What kind of address a candidate is, which decides its place in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// A private IPv4 or unique-local IPv6 address: the peer's LAN.
    Lan,
    /// A global IPv6 address.
    Ipv6,
    /// A public IPv4 address on the peer's own interface.
    Public,
    /// The NAT mapping the registry sees.
    Mapping,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathKind::Lan => "LAN address",
            PathKind::Ipv6 => "global IPv6 address",
            PathKind::Public => "public address",
            PathKind::Mapping => "NAT mapping",
        })
    }
}

/// Why a candidate is not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A LAN address of a peer behind another public address: not our LAN.
    OtherNetwork,
    /// A global IPv6 address, and this machine has none to reach it from.
    NoIpv6,
    /// One of this machine's own addresses.
    OwnAddress,
    /// An address no peer can have, or the mapping itself.
    Unusable,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::OtherNetwork => "its public address is not ours, so this is another LAN",
            Skip::NoIpv6 => "this machine has no global IPv6 address",
            Skip::OwnAddress => "it is this machine's own address",
            Skip::Unusable => "no peer can be reached there",
        })
    }
}

/// A candidate in the order, or left out, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to try, in order; the mapping is always last.
    pub order: Vec<(Endpoint, PathKind)>,
    pub skipped: Vec<(SocketAddr, Skip)>,
}

/// What this machine knows of itself that bears on the order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ours<'a> {
    /// Our public address, as a registry sees our own mapping; `None` when unknown.
    pub public_ip: Option<IpAddr>,
    pub local: Option<&'a LocalAddresses>,
}

impl Ours<'_> {
    fn has_global_ipv6(&self) -> bool {
        self.local
            .is_some_and(|local| local.host.iter().any(|&ip| is_global_ipv6(ip)))
    }

    fn is_own(&self, ip: IpAddr) -> bool {
        self.local.is_some_and(|local| local.host.contains(&ip))
    }
}

/// Orders `candidates` before `mapping` (see the module's text).
pub fn plan(candidates: &[SocketAddr], mapping: Endpoint, ours: Ours<'_>) -> Plan {
    let same_public = ours.public_ip == Some(mapping.addr().ip().to_canonical());
    let mut order = Vec::new();
    let mut skipped = Vec::new();
    for &candidate in candidates {
        let ip = candidate.ip().to_canonical();
        if candidate == mapping.addr() {
            // The mapping itself: tried last anyway.
            continue;
        }
        let verdict = match kind(ip) {
            _ if candidate.port() == 0 => Err(Skip::Unusable),
            _ if never_a_peer(ip).is_some() => Err(Skip::Unusable),
            _ if ours.is_own(ip) => Err(Skip::OwnAddress),
            PathKind::Lan if !same_public => Err(Skip::OtherNetwork),
            PathKind::Ipv6 if !ours.has_global_ipv6() => Err(Skip::NoIpv6),
            kind => Ok(kind),
        };
        match verdict {
            Ok(kind) => match Endpoint::try_from(SocketAddr::new(ip, candidate.port())) {
                Ok(endpoint) => order.push((endpoint, kind)),
                Err(_) => skipped.push((candidate, Skip::Unusable)),
            },
            Err(why) => skipped.push((candidate, why)),
        }
    }
    // Stable: within a kind, the peer's own order.
    order.sort_by_key(|(_, kind)| *kind);
    order.dedup();
    order.push((mapping, PathKind::Mapping));
    Plan { order, skipped }
}

fn kind(ip: IpAddr) -> PathKind {
    match ip {
        IpAddr::V4(v4) if v4.is_private() => PathKind::Lan,
        IpAddr::V4(_) => PathKind::Public,
        IpAddr::V6(v6) if v6.is_unique_local() => PathKind::Lan,
        IpAddr::V6(_) => PathKind::Ipv6,
    }
}

/// One peer's way through its [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    /// What it was planned from: another mapping or another set starts a new trial.
    mapping: Endpoint,
    candidates: Vec<SocketAddr>,
    plan: Plan,
    /// The path being tried, an index into the plan's order.
    at: usize,
    /// When its endpoint was set.
    since: SystemTime,
    /// The candidate a handshake completed on, once one did.
    won: Option<(Endpoint, PathKind)>,
    /// Every path has been tried (the mapping last) or one won.
    over: bool,
}

impl Trial {
    /// Whether the core should look again in [`TRIAL_STEP`] rather than at the interval.
    pub fn in_progress(&self) -> bool {
        !self.over
    }
}

/// What the core knows of a peer when it steers its decision.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub peer: &'a Peer,
    /// A handshake on its endpoint is fresh, and followed the endpoint we last set:
    /// the path works.
    pub direct: bool,
    /// The registry's answer, as the policy checked it; `None` when there is no usable
    /// one (then nothing is tried).
    pub mapping: Option<Endpoint>,
    /// The candidates the same registry published for the peer.
    pub candidates: &'a [SocketAddr],
}

/// Steers a peer's `decision` through its candidates; `trial` is the peer's trial so
/// far, which this updates.
///
/// The policy decides whether the peer needs an endpoint; this decides which. A trial
/// starts when the policy sets the mapping, or when the peer is not direct on the
/// mapping and its candidates are new (registered after the mapping was tried, say):
/// each candidate in the plan's order, [`TRIAL_STEP`] each, then the mapping. A pause
/// the policy holds the peer in does not stop a trial: its candidates are new. A path
/// on which a handshake completes is kept (the policy leaves a fresh handshake alone),
/// and the decision then says which candidate won. One trial per mapping and set of
/// candidates, unless the policy wants a new endpoint again (the path died).
pub fn steer(
    decision: Decision,
    now_at: Situation<'_>,
    trial: &mut Option<Trial>,
    ours: Ours<'_>,
    now: SystemTime,
) -> Decision {
    let Situation {
        peer,
        direct,
        mapping,
        candidates,
    } = now_at;
    if let Some(t) = trial.as_mut() {
        if !t.over && handshake_since(peer.last_handshake, t.since) {
            let tried = t.plan.order[t.at];
            t.over = true;
            t.won = (tried.1 != PathKind::Mapping).then_some(tried);
        }
    }
    let Some(mapping) = mapping else {
        return said_won(decision, peer, trial.as_ref());
    };
    let same_inputs = |t: &Trial| t.mapping == mapping && t.candidates.as_slice() == candidates;
    // A trial goes on whatever the policy says meanwhile: the handshake it sees as
    // fresh may be the old path's, and a pause it holds the peer in is for the mapping.
    // New inputs mid-trial (the peer registered other candidates, its mapping moved)
    // start it over from them: the endpoint is a candidate of the old plan.
    let mid_trial = match trial.as_mut().filter(|t| !t.over) {
        Some(t) if same_inputs(t) => return step(t, now),
        Some(_) => true,
        None => false,
    };
    let policy_sets = matches!(
        (&decision.action, &decision.reason),
        (Action::Set(_), Reason::Set | Reason::Moved { .. })
    );
    // Not direct by our account (no handshake followed the endpoint we set), whatever
    // the policy makes of an older handshake.
    let not_direct = !direct
        && matches!(
            (&decision.action, &decision.reason),
            (
                Action::Leave,
                Reason::Unchanged | Reason::NotDirect { .. } | Reason::FreshHandshake
            )
        );
    if !mid_trial && !policy_sets && !not_direct {
        return said_won(decision, peer, trial.as_ref());
    }
    if !mid_trial && !policy_sets && trial.as_ref().is_some_and(same_inputs) {
        // Tried already: the policy's pause and its next answer decide from here.
        return decision;
    }
    let plan = plan(candidates, mapping, ours);
    if plan.order.len() == 1 {
        *trial = None;
        // Nothing worth a try but the mapping. Mid-trial, the endpoint is an old
        // candidate: the mapping is set now. Otherwise the policy's decision stands.
        return match mid_trial && !policy_sets {
            true => Decision {
                action: Action::Set(mapping),
                reason: Reason::Set,
            },
            false => decision,
        };
    }
    let (first, kind) = plan.order[0];
    let decided = trying(first, kind, &plan);
    *trial = Some(Trial {
        mapping,
        candidates: candidates.to_vec(),
        plan,
        at: 0,
        since: now,
        won: None,
        over: false,
    });
    decided
}

/// A trial in progress at `now`: the same path until its step is over, then the next.
fn step(t: &mut Trial, now: SystemTime) -> Decision {
    if now < t.since + TRIAL_STEP {
        let (candidate, kind) = t.plan.order[t.at];
        return Decision {
            action: Action::Leave,
            reason: Reason::Trying {
                candidate,
                kind,
                skipped: t.plan.skipped.clone(),
            },
        };
    }
    let tried: Vec<SocketAddr> = t.plan.order[..=t.at]
        .iter()
        .map(|(e, _)| e.addr())
        .collect();
    t.at += 1;
    t.since = now;
    let (next, kind) = t.plan.order[t.at];
    if kind == PathKind::Mapping {
        t.over = true;
        return Decision {
            action: Action::Set(next),
            reason: Reason::CandidatesFailed { tried },
        };
    }
    trying(next, kind, &t.plan)
}

fn trying(candidate: Endpoint, kind: PathKind, plan: &Plan) -> Decision {
    Decision {
        action: Action::Set(candidate),
        reason: Reason::Trying {
            candidate,
            kind,
            skipped: plan.skipped.clone(),
        },
    }
}

/// A working path that a candidate won says so, rather than only "fresh handshake".
fn said_won(decision: Decision, peer: &Peer, trial: Option<&Trial>) -> Decision {
    let won = trial.and_then(|t| t.won);
    match (decision.reason, won) {
        (Reason::FreshHandshake, Some((endpoint, kind)))
            if peer
                .endpoint
                .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port()))
                == Some(endpoint.addr()) =>
        {
            Decision {
                action: decision.action,
                reason: Reason::CandidateWon { endpoint, kind },
            }
        }
        (reason, _) => Decision {
            action: decision.action,
            reason,
        },
    }
}

#[cfg(test)]
mod tests;

//! The decision for one peer, given what the registry answered: a pure function of the
//! peer as the device reports it, the answer, and the moment.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use punchwire_control::rejection::Rejection;
use punchwire_wg::{Device, Endpoint, LocalAddresses, Peer, PublicKey};
use serde::{Serialize, Serializer};

use crate::address_class::never_a_peer;
use crate::lookup::{Lookup, PublishedEndpoint};
use crate::paths::{PathKind, Skip, TRIAL_STEP};

/// Defined with the other health thresholds; here too because the policy uses it.
pub use crate::peer_health::DEFAULT_FRESH_HANDSHAKE;

/// Everything about the device and the moment that a decision depends on.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    pub now: SystemTime,
    /// A handshake younger than this is fresh: its endpoint is never replaced.
    pub fresh_handshake: Duration,
    /// The address space this device routes into the tunnel (its peers' AllowedIPs).
    pub tunnel_ranges: Vec<IpNet>,
    /// Every peer configured on the device.
    pub our_peers: BTreeSet<PublicKey>,
    /// The peer(s) serving the registry: their endpoints are the user's to manage.
    pub registry_peers: BTreeSet<PublicKey>,
    /// This machine's addresses, and the WireGuard interface's with their subnets:
    /// never a peer's endpoint. Empty until [`PolicyContext::with_local`] says.
    pub local: LocalAddresses,
}

impl PolicyContext {
    /// Reads the context off a device. A registry peer is one whose AllowedIPs contain
    /// the address of a registry DNS server, since that is how the queries reach it.
    pub fn for_device(
        device: &Device,
        now: SystemTime,
        fresh_handshake: Duration,
        registry_ips: &[IpAddr],
    ) -> Self {
        let tunnel_ranges = device
            .allowed_ips()
            // A default route means "send everything through the tunnel"; wg-quick and
            // friends exempt the endpoints themselves (fwmark), so it cannot mean that
            // every endpoint is inside the tunnel.
            .filter(|net| net.prefix_len() != 0)
            .copied()
            .collect();
        let registry_peers = device
            .peers
            .iter()
            .filter(|p| serves_registry(p, registry_ips))
            .map(|p| p.public_key)
            .collect();
        Self {
            now,
            fresh_handshake,
            tunnel_ranges,
            our_peers: device.peers.iter().map(|p| p.public_key).collect(),
            registry_peers,
            local: LocalAddresses::default(),
        }
    }

    /// The context with this machine's addresses (see [`punchwire_wg::local_addresses`]).
    pub fn with_local(mut self, local: LocalAddresses) -> Self {
        self.local = local;
        self
    }

    pub fn is_registry_peer(&self, key: &PublicKey) -> bool {
        self.registry_peers.contains(key)
    }

    fn is_own_address(&self, ip: IpAddr) -> bool {
        self.local.host.contains(&ip) || self.local.interface.iter().any(|net| net.addr() == ip)
    }

    /// The tunnel's address space: the peers' AllowedIPs, and the subnets of the
    /// interface's own addresses (routed into the interface even without a peer).
    fn tunnel_range_containing(&self, ip: IpAddr) -> Option<&IpNet> {
        self.tunnel_ranges
            .iter()
            .chain(
                self.local
                    .interface
                    .iter()
                    .filter(|net| net.prefix_len() != 0),
            )
            .find(|net| net.contains(&ip))
    }
}

/// Whether `peer` serves a registry: its AllowedIPs hold the address of one of the
/// registries' DNS servers, since that is how the queries reach it. The one rule for
/// the policy, the health view and the service's registry re-resolution.
pub fn serves_registry(peer: &Peer, registry_ips: &[IpAddr]) -> bool {
    registry_ips
        .iter()
        .any(|ip| peer.allowed_ips.iter().any(|net| net.contains(ip)))
}

/// What to do with one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Set(Endpoint),
    Leave,
}

/// Why a peer was set or left alone, as the log and the UI show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The endpoint was set to the registry's answer.
    Set,
    /// The registry's answer moved away from the endpoint, `from`, that it gave before:
    /// the peer moved, and its new endpoint was set although the old one's handshake
    /// was still fresh.
    Moved { from: SocketAddr },
    /// The peer already has the registry's endpoint.
    Unchanged,
    /// A handshake on the current endpoint is fresh: it works, keep it.
    FreshHandshake,
    /// The registry has no record for this peer.
    NoRecord,
    /// The registry's answer is unusable, or names an address no peer can have.
    Rejected(Rejection),
    /// No registry answered.
    RegistryUnreachable,
    /// This peer is the registry: its endpoint is configured, not discovered.
    RegistryPeer,
    /// We set `endpoint` and no handshake followed: the peer is not direct, and further
    /// changes are held back for a while (see [`crate::peer_health`]).
    NotDirect { endpoint: Endpoint },
    /// One of the peer's registered candidates is being tried before its NAT mapping
    /// (see [`crate::paths`]); `skipped` are those left out, with why.
    Trying {
        candidate: Endpoint,
        kind: PathKind,
        skipped: Vec<(SocketAddr, Skip)>,
    },
    /// No handshake followed on any of the candidates `tried`: the NAT mapping is set.
    CandidatesFailed { tried: Vec<SocketAddr> },
    /// A handshake completed on a candidate, which is kept.
    CandidateWon { endpoint: Endpoint, kind: PathKind },
}

impl Reason {
    /// Whether the peer was dealt with: set, or left alone on purpose. A registry that
    /// could not be asked is the one reason that leaves the question open.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Reason::RegistryUnreachable)
    }

    /// Why the answer was not used, when it was not.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Reason::Rejected(why) => Some(why),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Set => f.write_str("set"),
            Reason::Moved { from } => write!(f, "moved: the registry's answer left {from}"),
            Reason::Unchanged => f.write_str("unchanged"),
            Reason::FreshHandshake => f.write_str("fresh-handshake"),
            Reason::NoRecord => f.write_str("no-record"),
            Reason::Rejected(why) => write!(f, "rejected: {why}"),
            Reason::RegistryUnreachable => f.write_str("registry-unreachable"),
            Reason::RegistryPeer => f.write_str("registry-peer"),
            Reason::NotDirect { endpoint } => {
                write!(f, "held: no handshake followed {endpoint}")
            }
            Reason::Trying {
                candidate,
                kind,
                skipped,
            } => {
                write!(f, "trying its {kind} {candidate}")?;
                for (i, (addr, why)) in skipped.iter().enumerate() {
                    let lead = if i == 0 { "; not tried: " } else { ", " };
                    write!(f, "{lead}{addr} ({why})")?;
                }
                Ok(())
            }
            Reason::CandidatesFailed { tried } => {
                let tried: Vec<String> = tried.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "set its NAT mapping: no handshake over {} within {} s each",
                    tried.join(", "),
                    TRIAL_STEP.as_secs()
                )
            }
            Reason::CandidateWon { endpoint, kind } => {
                write!(f, "direct over its {kind} {endpoint}")
            }
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Decision {
    fn leave(reason: Reason) -> Self {
        Self {
            action: Action::Leave,
            reason,
        }
    }

    fn set(endpoint: Endpoint) -> Self {
        Self {
            action: Action::Set(endpoint),
            reason: Reason::Set,
        }
    }
}

/// The decision for a peer that needs no lookup at all, if any: the only check made
/// before asking, so that a peer it settles is neither asked about nor decided twice.
pub fn before_lookup(peer: &Peer, ctx: &PolicyContext) -> Option<Decision> {
    ctx.is_registry_peer(&peer.public_key)
        .then(|| Decision::leave(Reason::RegistryPeer))
}

/// An endpoint we set that no handshake followed (see [`crate::peer_health`]): the peer
/// is not direct, and no other endpoint is tried before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub endpoint: Endpoint,
    pub until: SystemTime,
}

/// What discovery remembers of a peer that bears on its next decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recall {
    /// The endpoint held while the peer is not direct.
    pub held: Option<Held>,
    /// The registry's previous usable answer for the peer.
    pub last_answer: Option<SocketAddr>,
}

/// Decides what to do with `peer`, one that [`before_lookup`] left open, given the
/// registry's `answer` and what is remembered of the peer.
///
/// Only ever sets an endpoint or leaves it: a failed lookup never clears one, and while
/// a peer is held no new endpoint is tried. An endpoint on which a handshake is fresh is
/// replaced only when the peer moved: the endpoint is the registry's previous answer and
/// the registry now has another. The registry learns a new mapping only from the peer's
/// own authenticated packets, so its answer moves when the peer's NAT mapping did, and
/// the old path is then dead although its handshake is still young. A registry answer
/// that differs from a working endpoint without having moved (the peer's mapping towards
/// us is not the one the registry sees) leaves it alone.
pub fn decide(peer: &Peer, answer: &Lookup, ctx: &PolicyContext, recall: Recall) -> Decision {
    let decision = decide_on_answer(peer, answer, ctx, recall.last_answer);
    match recall.held {
        Some(held) => hold_back(decision, held, peer.endpoint, ctx.now),
        None => decision,
    }
}

fn decide_on_answer(
    peer: &Peer,
    answer: &Lookup,
    ctx: &PolicyContext,
    last_answer: Option<SocketAddr>,
) -> Decision {
    let answer = match answer {
        Lookup::Found(answer) => answer,
        Lookup::NoRecord => return Decision::leave(Reason::NoRecord),
        Lookup::Unreachable(_) => return Decision::leave(Reason::RegistryUnreachable),
        Lookup::Rejected(why) => {
            return Decision::leave(Reason::Rejected(Rejection::UnusableAnswer {
                why: why.clone(),
            }))
        }
    };
    let endpoint = match check(peer, answer, ctx) {
        Ok(endpoint) => endpoint,
        Err(why) => return Decision::leave(Reason::Rejected(why)),
    };
    let current = peer
        .endpoint
        .map(|addr| SocketAddr::new(addr.ip().to_canonical(), addr.port()));
    if current == Some(endpoint.addr()) {
        return Decision::leave(Reason::Unchanged);
    }
    if current.is_none() {
        return Decision::set(endpoint);
    }
    match peer.handshake_age(ctx.now) {
        Some(age) if age < ctx.fresh_handshake => match current {
            Some(from) if last_answer == Some(from) => Decision {
                action: Action::Set(endpoint),
                reason: Reason::Moved { from },
            },
            _ => Decision::leave(Reason::FreshHandshake),
        },
        _ => Decision::set(endpoint),
    }
}

/// While a peer is held: no new endpoint until the pause is over, and "unchanged" on the
/// held endpoint becomes the plain reason why the peer is still not reachable.
pub fn hold_back(
    decision: Decision,
    held: Held,
    current: Option<SocketAddr>,
    now: SystemTime,
) -> Decision {
    let holding = Decision::leave(Reason::NotDirect {
        endpoint: held.endpoint,
    });
    match (&decision.action, &decision.reason) {
        (Action::Set(_), _) if now < held.until => holding,
        (Action::Leave, Reason::Unchanged) if current == Some(held.endpoint.addr()) => holding,
        _ => decision,
    }
}

/// Whether an answer may become this peer's endpoint; `Err` says why not.
fn check(
    peer: &Peer,
    answer: &PublishedEndpoint,
    ctx: &PolicyContext,
) -> Result<Endpoint, Rejection> {
    if !ctx.our_peers.contains(&answer.key) {
        return Err(Rejection::NotOurPeer {
            key: answer.key.to_string(),
        });
    }
    if answer.key != peer.public_key {
        return Err(Rejection::OtherPeer {
            asked: peer.public_key.to_string(),
            record: answer.key.to_string(),
        });
    }
    if answer.addr.port() == 0 {
        return Err(Rejection::PortZero { addr: answer.addr });
    }
    // `::ffff:127.0.0.1` is 127.0.0.1 on the wire: judged as the IPv4 address it is.
    let ip = answer.addr.ip().to_canonical();
    if let Some(class) = never_a_peer(ip) {
        return Err(class);
    }
    if ctx.is_own_address(ip) {
        return Err(Rejection::OwnAddress { ip });
    }
    if let Some(range) = ctx.tunnel_range_containing(ip) {
        return Err(Rejection::InsideTunnel { ip, range: *range });
    }
    Endpoint::new(SocketAddr::new(ip, answer.addr.port())).map_err(|e| Rejection::UnusableAnswer {
        why: format!("{}: {e}", answer.addr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_SECS: u64 = 1_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn peer(n: u8) -> Peer {
        Peer {
            allowed_ips: vec![format!("10.99.0.{n}/32").parse().unwrap()],
            persistent_keepalive: Some(5),
            ..Peer::new(key(n))
        }
    }

    /// A device with the registry (peer 1, serving DNS on 10.99.0.1) and peers 2 and 3.
    fn ctx() -> PolicyContext {
        let device = Device {
            name: "wg0".into(),
            public_key: Some(key(100)),
            listen_port: Some(51820),
            fwmark: None,
            peers: vec![peer(1), peer(2), peer(3)],
        };
        PolicyContext::for_device(
            &device,
            now(),
            DEFAULT_FRESH_HANDSHAKE,
            &["10.99.0.1".parse().unwrap()],
        )
    }

    fn found(n: u8, addr: &str) -> Lookup {
        Lookup::Found(PublishedEndpoint {
            key: key(n),
            addr: addr.parse().unwrap(),
        })
    }

    fn ago(secs: u64) -> Option<SystemTime> {
        Some(now() - Duration::from_secs(secs))
    }

    fn set(addr: &str) -> Decision {
        Decision::set(addr.parse().unwrap())
    }

    #[test]
    fn sets_a_peer_that_has_no_endpoint() {
        let d = decide(
            &peer(2),
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d, set("198.51.100.2:40000"));
        assert_eq!(d.reason.to_string(), "set");
    }

    #[test]
    fn sets_a_peer_without_endpoint_even_if_it_had_a_fresh_handshake() {
        let mut p = peer(2);
        p.last_handshake = ago(1);
        let d = decide(
            &p,
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d, set("198.51.100.2:40000"));
    }

    #[test]
    fn replaces_an_endpoint_whose_handshake_is_stale() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        p.last_handshake = ago(151);
        let d = decide(
            &p,
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d, set("198.51.100.2:40000"));
    }

    #[test]
    fn replaces_an_endpoint_that_never_had_a_handshake() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        let d = decide(
            &p,
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d, set("198.51.100.2:40000"));
    }

    #[test]
    fn never_replaces_an_endpoint_on_which_a_handshake_is_fresh() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        p.last_handshake = ago(149);
        let d = decide(
            &p,
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d.action, Action::Leave);
        assert_eq!(d.reason.to_string(), "fresh-handshake");
    }

    /// The peer's NAT gave it a new mapping: the registry's answer moved away from the
    /// endpoint it gave before, and that endpoint's young handshake is a dead path's.
    #[test]
    fn follows_a_peer_whose_registry_answer_moved_away_from_its_endpoint() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        p.last_handshake = ago(3);
        let recall = Recall {
            last_answer: Some("198.51.100.2:1111".parse().unwrap()),
            ..Recall::default()
        };
        let d = decide(&p, &found(2, "198.51.100.2:45000"), &ctx(), recall);
        assert_eq!(d.action, Action::Set("198.51.100.2:45000".parse().unwrap()));
        assert_eq!(
            d.reason.to_string(),
            "moved: the registry's answer left 198.51.100.2:1111"
        );
    }

    /// A working tunnel whose endpoint is not what the registry publishes (the peer's
    /// mapping towards us differs from the one the registry sees) is never flapped: not
    /// while the answer stays, and not when the answer moves elsewhere.
    #[test]
    fn leaves_a_working_endpoint_that_the_registry_never_gave() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:2222".parse().unwrap());
        p.last_handshake = ago(3);
        for (last, now) in [
            (None, "198.51.100.2:1111"),
            (Some("198.51.100.2:1111"), "198.51.100.2:1111"),
            (Some("198.51.100.2:1111"), "198.51.100.2:3333"),
        ] {
            let recall = Recall {
                last_answer: last.map(|a| a.parse().unwrap()),
                ..Recall::default()
            };
            let d = decide(&p, &found(2, now), &ctx(), recall);
            assert_eq!(d.reason, Reason::FreshHandshake, "{last:?} -> {now}");
        }
    }

    #[test]
    fn the_threshold_is_the_contexts() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        p.last_handshake = ago(20);
        let mut c = ctx();
        c.fresh_handshake = Duration::from_secs(10);
        assert_eq!(
            decide(&p, &found(2, "198.51.100.2:40000"), &c, Recall::default()),
            set("198.51.100.2:40000")
        );
    }

    #[test]
    fn leaves_an_endpoint_that_already_matches() {
        let mut p = peer(2);
        p.endpoint = Some("[::ffff:198.51.100.2]:40000".parse().unwrap());
        let d = decide(
            &p,
            &found(2, "198.51.100.2:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d, Decision::leave(Reason::Unchanged));
        assert_eq!(d.reason.to_string(), "unchanged");
    }

    #[test]
    fn never_clears_an_endpoint_because_a_lookup_failed() {
        let mut p = peer(2);
        p.endpoint = Some("198.51.100.2:1111".parse().unwrap());
        p.last_handshake = ago(1_000);
        for (answer, reason) in [
            (Lookup::NoRecord, "no-record"),
            (
                Lookup::Unreachable("timed out".into()),
                "registry-unreachable",
            ),
            (
                Lookup::Rejected("SRV target has no address".into()),
                "rejected: SRV target has no address",
            ),
        ] {
            let d = decide(&p, &answer, &ctx(), Recall::default());
            assert_eq!(d.action, Action::Leave);
            assert_eq!(d.reason.to_string(), reason);
        }
    }

    /// The device of [`ctx`] on a machine whose WireGuard interface holds 10.99.0.2/24
    /// and fd99::2/64, with a LAN address 192.168.1.20 and an IPv6 one.
    fn ctx_on_this_machine() -> PolicyContext {
        ctx().with_local(LocalAddresses {
            host: [
                "127.0.0.1",
                "::1",
                "192.168.1.20",
                "2001:db8:1::20",
                "10.99.0.2",
            ]
            .iter()
            .map(|ip| ip.parse().unwrap())
            .collect(),
            interface: vec![
                "10.99.0.2/24".parse().unwrap(),
                "fd99::2/64".parse().unwrap(),
            ],
        })
    }

    /// Every class of address no registry answer may set, each with the rejection it
    /// gets and the words the log and the status show.
    #[test]
    fn rejects_every_address_that_is_never_a_peers() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: Vec<(&str, &str, Rejection, &str)> = vec![
            (
                "port zero",
                "198.51.100.2:0",
                Rejection::PortZero {
                    addr: "198.51.100.2:0".parse().unwrap(),
                },
                "198.51.100.2:0: port 0 is not a reachable port",
            ),
            (
                "unspecified v4",
                "0.0.0.0:40000",
                Rejection::Unspecified { ip: ip("0.0.0.0") },
                "0.0.0.0 is an unspecified address (0.0.0.0/8 or ::)",
            ),
            (
                "this network 0/8",
                "0.1.2.3:40000",
                Rejection::Unspecified { ip: ip("0.1.2.3") },
                "0.1.2.3 is an unspecified address (0.0.0.0/8 or ::)",
            ),
            (
                "unspecified v6",
                "[::]:40000",
                Rejection::Unspecified { ip: ip("::") },
                ":: is an unspecified address (0.0.0.0/8 or ::)",
            ),
            (
                "loopback",
                "127.0.0.1:51820",
                Rejection::Loopback {
                    ip: ip("127.0.0.1"),
                },
                "127.0.0.1 is a loopback address",
            ),
            (
                "loopback /8",
                "127.45.6.7:51820",
                Rejection::Loopback {
                    ip: ip("127.45.6.7"),
                },
                "127.45.6.7 is a loopback address",
            ),
            (
                "loopback v6",
                "[::1]:51820",
                Rejection::Loopback { ip: ip("::1") },
                "::1 is a loopback address",
            ),
            (
                "loopback, IPv4-mapped",
                "[::ffff:127.0.0.1]:51820",
                Rejection::Loopback {
                    ip: ip("127.0.0.1"),
                },
                "127.0.0.1 is a loopback address",
            ),
            (
                "link-local",
                "169.254.10.1:51820",
                Rejection::LinkLocal {
                    ip: ip("169.254.10.1"),
                },
                "169.254.10.1 is a link-local address",
            ),
            (
                "link-local v6",
                "[fe80::1]:51820",
                Rejection::LinkLocal { ip: ip("fe80::1") },
                "fe80::1 is a link-local address",
            ),
            (
                "link-local v6, top of fe80::/10",
                "[febf::1]:51820",
                Rejection::LinkLocal { ip: ip("febf::1") },
                "febf::1 is a link-local address",
            ),
            (
                "link-local, IPv4-mapped",
                "[::ffff:169.254.1.1]:51820",
                Rejection::LinkLocal {
                    ip: ip("169.254.1.1"),
                },
                "169.254.1.1 is a link-local address",
            ),
            (
                "multicast",
                "224.0.0.5:40000",
                Rejection::Multicast {
                    ip: ip("224.0.0.5"),
                },
                "224.0.0.5 is a multicast address",
            ),
            (
                "multicast, top of 224/4",
                "239.255.255.255:40000",
                Rejection::Multicast {
                    ip: ip("239.255.255.255"),
                },
                "239.255.255.255 is a multicast address",
            ),
            (
                "multicast v6",
                "[ff02::1]:40000",
                Rejection::Multicast { ip: ip("ff02::1") },
                "ff02::1 is a multicast address",
            ),
            (
                "broadcast",
                "255.255.255.255:40000",
                Rejection::Broadcast {
                    ip: ip("255.255.255.255"),
                },
                "255.255.255.255 is the broadcast address",
            ),
            (
                "reserved 240/4",
                "240.0.0.1:40000",
                Rejection::Reserved {
                    ip: ip("240.0.0.1"),
                },
                "240.0.0.1 is in the reserved 240.0.0.0/4",
            ),
            (
                "reserved, IPv4-mapped",
                "[::ffff:250.1.2.3]:40000",
                Rejection::Reserved {
                    ip: ip("250.1.2.3"),
                },
                "250.1.2.3 is in the reserved 240.0.0.0/4",
            ),
            (
                "this machine's LAN address",
                "192.168.1.20:51820",
                Rejection::OwnAddress {
                    ip: ip("192.168.1.20"),
                },
                "192.168.1.20 is an address of this machine",
            ),
            (
                "this machine's v6 address",
                "[2001:db8:1::20]:51820",
                Rejection::OwnAddress {
                    ip: ip("2001:db8:1::20"),
                },
                "2001:db8:1::20 is an address of this machine",
            ),
            (
                "this machine's, IPv4-mapped",
                "[::ffff:192.168.1.20]:51820",
                Rejection::OwnAddress {
                    ip: ip("192.168.1.20"),
                },
                "192.168.1.20 is an address of this machine",
            ),
            (
                "the interface's own address",
                "10.99.0.2:51820",
                Rejection::OwnAddress {
                    ip: ip("10.99.0.2"),
                },
                "10.99.0.2 is an address of this machine",
            ),
            (
                "a peer's AllowedIPs",
                "10.99.0.3:51820",
                Rejection::InsideTunnel {
                    ip: ip("10.99.0.3"),
                    range: "10.99.0.3/32".parse().unwrap(),
                },
                "10.99.0.3 is inside this device's tunnel range 10.99.0.3/32",
            ),
            (
                "the interface's subnet",
                "10.99.0.77:51820",
                Rejection::InsideTunnel {
                    ip: ip("10.99.0.77"),
                    range: "10.99.0.2/24".parse().unwrap(),
                },
                "10.99.0.77 is inside this device's tunnel range 10.99.0.2/24",
            ),
            (
                "the interface's v6 subnet",
                "[fd99::77]:51820",
                Rejection::InsideTunnel {
                    ip: ip("fd99::77"),
                    range: "fd99::2/64".parse().unwrap(),
                },
                "fd99::77 is inside this device's tunnel range fd99::2/64",
            ),
        ];
        let c = ctx_on_this_machine();
        for (class, addr, rejection, words) in cases {
            let d = decide(&peer(2), &found(2, addr), &c, Recall::default());
            assert_eq!(d.action, Action::Leave, "{class}: {addr}");
            assert_eq!(d.reason, Reason::Rejected(rejection), "{class}: {addr}");
            assert_eq!(
                d.reason.to_string(),
                format!("rejected: {words}"),
                "{class}"
            );
        }
    }

    /// The edges of each class, and the addresses real peers have, are set.
    #[test]
    fn sets_addresses_at_the_edges_of_every_rejected_class() {
        let c = ctx_on_this_machine();
        for addr in [
            "198.51.100.1:51820",
            "1.0.0.1:51820",     // just past 0.0.0.0/8
            "126.255.255.255:1", // just below 127/8
            "128.0.0.1:51820",   // just past 127/8
            "169.253.255.255:1", // just below 169.254/16
            "169.255.0.1:51820", // just past 169.254/16
            "223.255.255.254:1", // just below 224/4
            "100.64.0.1:51820",  // CGNAT: peers behind carrier NAT are real
            "100.127.255.254:1",
            "192.168.1.21:51820", // a neighbour on this machine's LAN
            "10.99.1.1:51820",    // just past the interface's /24
            "[fe7f::1]:51820",    // below fe80::/10
            "[fec0::1]:51820",    // past fe80::/10
            "[fd00::1]:51820",    // unique local, outside the tunnel's fd99::/64
            "[2001:db8::2]:51820",
            "[::ffff:198.51.100.1]:51820",
            "198.51.100.1:65535",
        ] {
            let d = decide(&peer(2), &found(2, addr), &c, Recall::default());
            let want: SocketAddr = addr.parse().unwrap();
            let want = SocketAddr::new(want.ip().to_canonical(), want.port());
            assert_eq!(d, set(&want.to_string()), "{addr}");
        }
    }

    #[test]
    fn an_unreadable_answer_is_rejected_by_kind() {
        let d = decide(
            &peer(2),
            &Lookup::Rejected("SRV target has no address".into()),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(
            d.reason.rejection(),
            Some(&Rejection::UnusableAnswer {
                why: "SRV target has no address".into()
            })
        );
    }

    #[test]
    fn a_default_route_does_not_make_every_endpoint_a_tunnel_address() {
        let mut full = peer(1);
        full.allowed_ips.push("0.0.0.0/0".parse().unwrap());
        let device = Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers: vec![full, peer(2)],
        };
        let c = PolicyContext::for_device(&device, now(), DEFAULT_FRESH_HANDSHAKE, &[]);
        assert_eq!(
            decide(
                &peer(2),
                &found(2, "198.51.100.2:40000"),
                &c,
                Recall::default()
            ),
            set("198.51.100.2:40000")
        );
    }

    #[test]
    fn rejects_a_record_for_a_key_that_is_not_our_peer() {
        let d = decide(
            &peer(2),
            &found(9, "198.51.100.9:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d.action, Action::Leave);
        assert!(matches!(
            d.reason.rejection(),
            Some(Rejection::NotOurPeer { .. })
        ));
        assert_eq!(
            d.reason.to_string(),
            format!(
                "rejected: the record is for {}, which is not a peer of this device",
                key(9)
            )
        );
    }

    #[test]
    fn rejects_a_record_for_another_of_our_peers() {
        let d = decide(
            &peer(2),
            &found(3, "198.51.100.3:40000"),
            &ctx(),
            Recall::default(),
        );
        assert_eq!(d.action, Action::Leave);
        assert!(matches!(
            d.reason.rejection(),
            Some(Rejection::OtherPeer { .. })
        ));
        assert!(d.reason.to_string().starts_with("rejected: asked for "));
    }

    #[test]
    fn skips_the_registry_peer() {
        let d = before_lookup(&peer(1), &ctx()).unwrap();
        assert_eq!(d, Decision::leave(Reason::RegistryPeer));
        assert_eq!(d.reason.to_string(), "registry-peer");
        assert_eq!(before_lookup(&peer(2), &ctx()), None);
    }

    #[test]
    fn only_an_unreachable_registry_leaves_a_peer_unsettled() {
        assert!(!Reason::RegistryUnreachable.is_settled());
        assert!(Reason::NoRecord.is_settled());
        assert!(Reason::Rejected(Rejection::UnusableAnswer { why: "x".into() }).is_settled());
    }

    #[test]
    fn not_direct_says_what_was_tried() {
        let r = Reason::NotDirect {
            endpoint: "198.51.100.2:40000".parse().unwrap(),
        };
        assert_eq!(
            r.to_string(),
            "held: no handshake followed 198.51.100.2:40000"
        );
    }
}

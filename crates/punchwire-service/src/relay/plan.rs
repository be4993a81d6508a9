//! Which peers go through the registry and which come back, decided from one device
//! reading and each peer's health as discovery judges it: no I/O, every moment given.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use punchwire_control::status::{Health, HealthState};
use punchwire_wg::{Device, Peer, PublicKey};

use super::record::Record;

/// How long a peer must have been not direct, without a break, before it is relayed:
/// long enough that a service just started, or a peer just back, is not relayed for the
/// few seconds its first handshake takes. Discovery's own wait (an endpoint it set is
/// "pending" for 20 s) comes before this.
pub const NOT_DIRECT_FOR: Duration = Duration::from_secs(10);

/// One change the relay makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Route the peer's tunnel addresses through the registry peer; `because` is why it
    /// is not direct, in discovery's words.
    Relay { peer: PublicKey, because: String },
    /// Give the peer its own addresses back.
    Return { peer: PublicKey, why: Return },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// A handshake on the direct path completed after the relay began.
    DirectHandshake,
    /// The peer is no longer on the device: nothing to give back to it.
    PeerRemoved,
}

impl Return {
    pub fn words(self) -> &'static str {
        match self {
            Return::DirectHandshake => "a direct handshake completed",
            Return::PeerRemoved => "the peer was removed from the interface",
        }
    }
}

/// What the relay remembers between readings, besides its record.
#[derive(Debug, Default)]
pub struct Memory {
    /// Since when each peer has been not direct without a break.
    pub not_direct_since: HashMap<PublicKey, SystemTime>,
    /// Each relayed peer: when (a handshake after it is a direct one) and why.
    pub relayed: HashMap<PublicKey, Episode>,
}

/// One peer's relay, from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub since: SystemTime,
    /// Why it is not direct, in discovery's words.
    pub because: String,
}

/// The steps for this reading. `health` is discovery's judgement of a peer now.
pub fn plan(
    device: &Device,
    registry: &PublicKey,
    record: &Record,
    memory: &mut Memory,
    now: SystemTime,
    health: impl Fn(&Peer) -> Health,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for key in &record.relayed {
        let Some(peer) = device.peer(key) else {
            steps.push(Step::Return {
                peer: *key,
                why: Return::PeerRemoved,
            });
            continue;
        };
        let relayed_at = memory.relayed.get(key).map_or(now, |e| e.since);
        if peer.last_handshake.is_some_and(|at| at > relayed_at) {
            steps.push(Step::Return {
                peer: *key,
                why: Return::DirectHandshake,
            });
        }
    }
    for peer in &device.peers {
        let key = &peer.public_key;
        if key == registry || record.is_relayed(key) {
            memory.not_direct_since.remove(key);
            continue;
        }
        let health = health(peer);
        if health.state != HealthState::NotDirect {
            memory.not_direct_since.remove(key);
            continue;
        }
        let since = *memory.not_direct_since.entry(*key).or_insert(now);
        // Without a keepalive nothing would try the direct path while relayed, and the
        // peer would never come back.
        let long_enough = now.duration_since(since).unwrap_or_default() >= NOT_DIRECT_FOR;
        if long_enough && peer.persistent_keepalive.is_some() {
            steps.push(Step::Relay {
                peer: *key,
                because: health.text,
            });
        }
    }
    steps
}

/// Whether the device still holds what the relay set for its relayed peers: a write
/// by someone else (a userspace backend that made a peer anew with the AllowedIPs it
/// had read a moment before) can take addresses back from the registry peer.
pub fn holds(device: &Device, registry: &PublicKey, record: &Record) -> bool {
    let carried = record.registry_allowed_ips(registry);
    let registry_holds = device
        .peer(registry)
        .is_some_and(|p| carried.iter().all(|net| p.allowed_ips.contains(net)));
    let relayed_hold = record
        .relayed
        .iter()
        .filter_map(|key| device.peer(key))
        .all(|p| p.allowed_ips.is_empty());
    registry_holds && relayed_hold
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_control::status::HealthReason;
    use punchwire_testkit::wg::{key, peer};
    use std::net::SocketAddr;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    fn device(peers: Vec<Peer>) -> Device {
        Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers,
        }
    }

    fn with_keepalive(mut p: Peer) -> Peer {
        p.persistent_keepalive = Some(25);
        p
    }

    fn not_direct(_: &Peer) -> Health {
        let endpoint: SocketAddr = "203.0.113.10:51820".parse().unwrap();
        Health::new(HealthReason::NoHandshakeAfterSet { endpoint })
    }

    #[test]
    fn a_peer_not_direct_long_enough_is_relayed_with_discoverys_reason() {
        let registry = key(1);
        let bob = with_keepalive(peer(key(3), Some("203.0.113.10:51820"), &["10.99.0.3/32"]));
        let dev = device(vec![peer(registry, None, &["10.99.0.1/32"]), bob]);
        let mut memory = Memory::default();
        let record = Record::default();
        assert!(plan(&dev, &registry, &record, &mut memory, at(0), not_direct).is_empty());
        assert!(plan(&dev, &registry, &record, &mut memory, at(9), not_direct).is_empty());
        let steps = plan(&dev, &registry, &record, &mut memory, at(10), not_direct);
        assert_eq!(
            steps,
            vec![Step::Relay {
                peer: key(3),
                because: not_direct(&dev.peers[1]).text,
            }]
        );
    }

    #[test]
    fn a_break_in_not_direct_starts_the_wait_again_and_no_keepalive_is_never_relayed() {
        let registry = key(1);
        let bob = with_keepalive(peer(key(3), None, &["10.99.0.3/32"]));
        let carol = peer(key(4), None, &["10.99.0.4/32"]);
        let dev = device(vec![bob, carol]);
        let mut memory = Memory::default();
        let record = Record::default();
        plan(&dev, &registry, &record, &mut memory, at(0), not_direct);
        let pending = |_: &Peer| Health::new(HealthReason::NoHandshakeYet { decision: None });
        let direct = |_: &Peer| Health::new(HealthReason::FreshHandshake { age_secs: 1 });
        assert_eq!(pending(&dev.peers[0]).state, HealthState::NotDirect);
        plan(&dev, &registry, &record, &mut memory, at(5), direct);
        assert!(plan(&dev, &registry, &record, &mut memory, at(12), not_direct).is_empty());
        let steps = plan(&dev, &registry, &record, &mut memory, at(22), not_direct);
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(matches!(&steps[0], Step::Relay { peer, .. } if *peer == key(3)));
    }

    #[test]
    fn a_handshake_after_the_relay_began_brings_the_peer_back() {
        let registry = key(1);
        let mut bob = with_keepalive(peer(key(3), None, &[]));
        bob.last_handshake = Some(at(50));
        let dev = device(vec![
            peer(registry, None, &["10.99.0.1/32", "10.99.0.3/32"]),
            bob,
        ]);
        let mut record = Record::default();
        record.remember(registry, &["10.99.0.1/32".parse().unwrap()]);
        record.remember(key(3), &["10.99.0.3/32".parse().unwrap()]);
        record.relayed.push(key(3));
        let mut memory = Memory::default();
        memory.relayed.insert(
            key(3),
            Episode {
                since: at(60),
                because: "no handshake yet".into(),
            },
        );
        // The handshake at 50 came before the relay (at 60): not a direct one.
        assert!(plan(&dev, &registry, &record, &mut memory, at(70), not_direct).is_empty());
        assert!(holds(&dev, &registry, &record));
        let mut later = dev.clone();
        later.peers[1].last_handshake = Some(at(75));
        assert_eq!(
            plan(&later, &registry, &record, &mut memory, at(76), not_direct),
            vec![Step::Return {
                peer: key(3),
                why: Return::DirectHandshake
            }]
        );
    }

    #[test]
    fn a_relayed_peer_that_took_its_addresses_back_is_noticed() {
        let registry = key(1);
        let dev = device(vec![
            peer(registry, None, &["10.99.0.1/32"]),
            peer(key(3), None, &["10.99.0.3/32"]),
        ]);
        let mut record = Record::default();
        record.remember(registry, &["10.99.0.1/32".parse().unwrap()]);
        record.remember(key(3), &["10.99.0.3/32".parse().unwrap()]);
        record.relayed.push(key(3));
        assert!(!holds(&dev, &registry, &record));
        let mut memory = Memory::default();
        let gone = device(vec![peer(registry, None, &["10.99.0.1/32"])]);
        assert_eq!(
            plan(&gone, &registry, &record, &mut memory, at(1), not_direct),
            vec![Step::Return {
                peer: key(3),
                why: Return::PeerRemoved
            }]
        );
    }
}

//! The core driven by plain function calls at chosen moments: no runtime, no device, no
//! DNS. `World` stands in for the driver: it holds the device and the registries'
//! records, answers the core's questions and carries out its writes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use punchwire_control::status::HealthState;
use punchwire_wg::{Device, LocalAddresses, Peer, PublicKey};

use super::*;
use crate::config::DEFAULT_POLL;
use crate::events::Event;
use crate::fixtures::{addr, device, key, registry, IFACE};
use crate::health::BACKOFF_FIRST;
use crate::lookup::{Lookup, PublishedEndpoint};
use crate::peer_health::DEFAULT_PENDING_FOR;
use crate::policy::Reason;

const S: Duration = Duration::from_secs(1);

struct World {
    core: Core,
    device: Device,
    records: HashMap<(SocketAddr, PublicKey), SocketAddr>,
    candidates: HashMap<(SocketAddr, PublicKey), Vec<SocketAddr>>,
    /// This machine's addresses, as the driver would read them.
    local: LocalAddresses,
    down: HashSet<SocketAddr>,
    refuse_writes: bool,
    questions: Vec<Question>,
    writes: Vec<EndpointWrite>,
    start: Moment,
}

impl World {
    fn new(registries: &[SocketAddr]) -> Self {
        Self {
            core: Core::new(Config::new(IFACE, registries.to_vec())),
            device: device(),
            records: HashMap::new(),
            candidates: HashMap::new(),
            local: LocalAddresses::default(),
            down: HashSet::new(),
            refuse_writes: false,
            questions: Vec::new(),
            writes: Vec::new(),
            start: Moment {
                wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                mono: Instant::now(),
            },
        }
    }

    /// The moment `after` the world's start, on both clocks.
    fn at(&self, after: Duration) -> Moment {
        Moment {
            wall: self.start.wall + after,
            mono: self.start.mono + after,
        }
    }

    fn publish(&mut self, registry: SocketAddr, n: u8, at: &str) {
        self.records.insert((registry, key(n)), addr(at));
    }

    fn lookup(&self, q: &Question) -> Lookup {
        if self.down.contains(&q.registry) {
            return Lookup::Unreachable(format!("{}: timed out", q.registry));
        }
        match self.records.get(&(q.registry, q.peer)) {
            Some(&addr) => Lookup::Found(PublishedEndpoint { key: q.peer, addr }),
            None => Lookup::NoRecord,
        }
    }

    /// One pass as the driver runs it, every step at `now`.
    fn pass(&mut self, now: Moment) -> Pass {
        let plan = self
            .core
            .plan_pass(self.device.clone(), self.local.clone(), now);
        let replies = plan
            .questions()
            .iter()
            .map(|q| Reply {
                question: *q,
                lookup: self.lookup(q),
                candidates: match q.candidates {
                    true => self.candidates.get(&(q.registry, q.peer)).cloned(),
                    false => None,
                }
                .unwrap_or_default(),
            })
            .collect();
        self.questions.extend_from_slice(plan.questions());
        let decided = self.core.decide(plan, replies, now, 0.0);
        let mut results = WriteResults::new();
        for write in decided.writes() {
            let result = if self.refuse_writes {
                Err(format!("permission denied on {IFACE}"))
            } else {
                self.peer_mut(write.peer.public_key).endpoint = Some(write.endpoint.addr());
                Ok(())
            };
            results.insert(write.peer.public_key, result);
            self.writes.push(write.clone());
        }
        self.core.conclude(decided, results, now)
    }

    fn peer_mut(&mut self, key: PublicKey) -> &mut Peer {
        self.device
            .peers
            .iter_mut()
            .find(|p| p.public_key == key)
            .unwrap()
    }

    fn endpoint_of(&self, n: u8) -> Option<SocketAddr> {
        self.device.peer(&key(n)).unwrap().endpoint
    }

    fn events(&mut self) -> Vec<Event> {
        self.core.take_events()
    }
}

fn reasons(pass: &Pass) -> Vec<String> {
    pass.outcomes
        .iter()
        .map(|o| o.decision.reason.to_string())
        .collect()
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

#[test]
fn a_pass_sets_published_endpoints_and_nothing_else() {
    let mut world = World::new(&[registry(1)]);
    world.publish(registry(1), 1, "198.51.100.1:1");
    world.publish(registry(1), 2, "198.51.100.2:40002");

    let pass = world.pass(world.at(Duration::ZERO));

    assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
    assert!(pass.all_settled());
    // The registry peer is not even asked about; the others are, with their
    // candidates, and so is this device's own key (our public address orders them).
    let asked: Vec<(PublicKey, bool)> = world
        .questions
        .iter()
        .map(|q| (q.peer, q.candidates))
        .collect();
    let own = device().public_key.unwrap();
    assert_eq!(asked, [(key(2), true), (key(3), true), (own, false)]);
    // The one write carries the peer as the pass read it.
    assert_eq!(world.writes.len(), 1);
    assert_eq!(world.writes[0].peer, device().peers[1]);
    assert_eq!(world.writes[0].registry, Some(registry(1)));
    let mut expected = device();
    expected.peers[1].endpoint = Some(addr("198.51.100.2:40002"));
    assert_eq!(world.device, expected);
    let events = world.events();
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
    let pass = world.pass(world.at(S));
    assert_eq!(reasons(&pass), ["registry-peer", "unchanged", "no-record"]);
    assert_eq!(world.writes.len(), 1);
}

#[test]
fn an_unreachable_registry_clears_nothing_and_is_retried_after_a_pause() {
    let mut world = World::new(&[registry(1)]);
    world.peer_mut(key(2)).endpoint = Some(addr("198.51.100.2:1111"));
    world.publish(registry(1), 2, "198.51.100.2:40002");
    world.down.insert(registry(1));

    let t0 = world.at(Duration::ZERO);
    let pass = world.pass(t0);
    assert_eq!(
        reasons(&pass),
        [
            "registry-peer",
            "registry-unreachable",
            "registry-unreachable"
        ]
    );
    assert!(!pass.all_settled());
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:1111")));
    assert!(world.events().iter().any(|e| matches!(
        e,
        Event::RegistryUnreachable { registry: r, .. } if *r == registry(1)
    )));

    // While it backs off, it is not asked, and peers keep their endpoints.
    let asked = world.questions.len();
    let pass = world.pass(t0);
    assert_eq!(world.questions.len(), asked);
    assert_eq!(
        pass.outcomes[1].decision.reason,
        Reason::RegistryUnreachable
    );
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:1111")));

    // It comes back: asked again after the pause, without a restart.
    world.down.clear();
    let pass = world.pass(world.at(BACKOFF_FIRST));
    assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:40002")));
    assert!(world.events().contains(&Event::RegistryReachable {
        registry: registry(1)
    }));
}

#[test]
fn with_several_registries_one_that_answers_is_enough() {
    let mut world = World::new(&[registry(1), registry(9)]);
    world.down.insert(registry(1));
    world.publish(registry(9), 3, "198.51.100.3:40003");

    let pass = world.pass(world.at(Duration::ZERO));

    assert_eq!(reasons(&pass), ["registry-peer", "no-record", "set"]);
    assert_eq!(pass.outcomes[2].registry, Some(registry(9)));
    assert_eq!(world.endpoint_of(3), Some(addr("198.51.100.3:40003")));
    let events = world.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RegistryUnreachable { registry: r, .. } if *r == registry(1))));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::EndpointChanged { registry: r, .. } if *r == registry(9)
    )));
}

#[test]
fn the_soa_poll_fills_the_view_and_says_when_a_serial_moved() {
    let mut world = World::new(&[registry(1), registry(9)]);
    let now = world.at(Duration::ZERO);
    assert_eq!(world.core.view().registry(registry(1)).reachable, None);
    assert_eq!(
        world.core.serial_questions(now.mono),
        [registry(1), registry(9)]
    );
    let poll = |serial: u32| {
        vec![
            SerialReply {
                registry: registry(1),
                answer: Ok((Duration::from_millis(3), serial)),
            },
            SerialReply {
                registry: registry(9),
                answer: Err("timed out".into()),
            },
        ]
    };

    assert!(world.core.serials_answered(poll(7), now, 0.0), "first seen");

    let up = world.core.view().registry(registry(1));
    assert_eq!(up.reachable, Some(true));
    assert_eq!(up.serial, Some(7));
    assert_eq!(up.rtt, Some(Duration::from_millis(3)));
    assert_eq!(up.last_answer, Some(now.mono));
    assert_eq!(up.error, None);
    let down = world.core.view().registry(registry(9));
    assert_eq!(down.reachable, Some(false));
    assert_eq!(down.error.as_deref(), Some("timed out"));
    // The failed one backs off; the other is asked again.
    assert_eq!(world.core.serial_questions(now.mono), [registry(1)]);
    let later = world.at(BACKOFF_FIRST);
    assert!(!world
        .core
        .serials_answered(poll(7)[..1].to_vec(), later, 0.0));
    assert!(world
        .core
        .serials_answered(poll(8)[..1].to_vec(), later, 0.0));
}

#[test]
fn a_failed_write_is_reported_not_hidden() {
    let mut world = World::new(&[registry(1)]);
    world.refuse_writes = true;
    world.publish(registry(1), 2, "198.51.100.2:40002");

    let pass = world.pass(world.at(Duration::ZERO));

    assert!(!pass.all_settled());
    let outcome = &pass.outcomes[1];
    assert_eq!(outcome.decision.reason, Reason::Set);
    let error = outcome.error.as_deref().unwrap();
    assert!(error.contains("permission denied on wg0"), "{error}");
    assert_eq!(outcome.endpoint, None);
    assert!(!world
        .events()
        .iter()
        .any(|e| matches!(e, Event::EndpointChanged { .. })));
}

#[test]
fn a_peer_that_never_handshakes_is_reported_and_not_chased() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    world.pass(t0);
    assert_eq!(
        health_changes(&world.events(), key(2)),
        [(
            HealthState::NotDirect,
            HealthState::Pending,
            "waiting for the first handshake on 198.51.100.2:40002, set 0 s ago".into()
        )]
    );

    // No handshake within the timeout; the registry now says another port.
    world.publish(registry(1), 2, "198.51.100.2:40099");
    let later = world.at(DEFAULT_PENDING_FOR + S);
    let pass = world.pass(later);
    assert_eq!(
        pass.outcomes[1].decision.reason.to_string(),
        "held: no handshake followed 198.51.100.2:40002"
    );
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:40002")));
    let not_direct =
        "no handshake followed endpoint 198.51.100.2:40002 (symmetric NAT on either side?)";
    assert_eq!(
        health_changes(&world.events(), key(2)),
        [(
            HealthState::Pending,
            HealthState::NotDirect,
            not_direct.into()
        )]
    );
    // The view says the same as the events.
    let bob = world.device.peer(&key(2)).unwrap().clone();
    assert_eq!(world.core.view().health(&bob, later.wall).text, not_direct);

    // The other side gets through after all: direct, and the hold is lifted.
    world.peer_mut(key(2)).last_handshake = Some(later.wall);
    let pass = world.pass(world.at(DEFAULT_PENDING_FOR + 2 * S));
    assert_eq!(
        health_changes(&world.events(), key(2)),
        [(
            HealthState::NotDirect,
            HealthState::Direct,
            "handshake 1 s ago".into()
        )]
    );
    // Its handshake is fresh, so the working endpoint stays.
    assert_eq!(pass.outcomes[1].decision.reason, Reason::FreshHandshake);
}

#[test]
fn a_decision_is_told_only_when_it_changes() {
    let mut world = World::new(&[registry(1)]);
    let decisions = |events: Vec<Event>| -> Vec<(PublicKey, String)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Decision { peer, reason, .. } => Some((peer, reason.to_string())),
                _ => None,
            })
            .collect()
    };
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    assert_eq!(
        decisions(world.events()),
        [
            (key(1), "registry-peer".into()),
            (key(2), "no-record".into()),
            (key(3), "no-record".into())
        ]
    );
    world.pass(t0);
    world.pass(t0);
    assert_eq!(
        decisions(world.events()),
        [],
        "nothing changed, nothing told"
    );
    world.publish(registry(1), 3, "198.51.100.3:40003");
    world.pass(t0);
    world.pass(t0);
    assert_eq!(
        decisions(world.events()),
        [(key(3), "set".into()), (key(3), "unchanged".into())]
    );
}

#[test]
fn a_health_check_between_passes_tells_the_end_of_the_pending_window() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    world.pass(t0);
    world.events();
    assert_eq!(
        world.core.next_check(),
        Some(t0.wall + DEFAULT_POLL),
        "watched while pending"
    );
    world
        .core
        .check_health(&world.device, t0.wall + DEFAULT_PENDING_FOR - S);
    assert_eq!(health_changes(&world.events(), key(2)), []);
    world
        .core
        .check_health(&world.device, t0.wall + DEFAULT_PENDING_FOR);
    assert_eq!(
        health_changes(&world.events(), key(2))
            .into_iter()
            .map(|(from, to, _)| (from, to))
            .collect::<Vec<_>>(),
        [(HealthState::Pending, HealthState::NotDirect)]
    );
    assert_eq!(
        world.core.next_check(),
        None,
        "nothing changes by itself any more"
    );
}

#[test]
fn a_pass_is_due_at_first_when_a_serial_moves_and_when_the_interval_is_over() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    assert_eq!(world.core.due(false, t0), Due::Pass, "at first");
    world.pass(t0);
    let interval = world.core.config().interval;
    assert_eq!(world.core.due(false, t0), Due::Nothing);
    assert_eq!(world.core.due(true, t0), Due::Pass);
    assert_eq!(world.core.wake_at(t0.mono), t0.mono + DEFAULT_POLL);
    let end = world.at(interval);
    assert_eq!(world.core.due(false, end), Due::Pass);
}

#[test]
fn a_pending_peer_makes_a_health_check_due_between_passes() {
    let mut world = World::new(&[registry(1)]);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    let poll = world.at(DEFAULT_POLL);
    assert_eq!(world.core.due(false, poll), Due::HealthCheck);
    world.core.health_unreadable();
    assert_eq!(world.core.due(false, poll), Due::Nothing);
}

#[test]
fn an_unreadable_device_is_tried_again_at_the_next_poll_with_serials_forgotten() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    let serial = || {
        vec![SerialReply {
            registry: registry(1),
            answer: Ok((Duration::from_millis(1), 1)),
        }]
    };
    assert!(world.core.serials_answered(serial(), t0, 0.0));
    world.pass(t0);
    world.core.device_unreadable(t0.mono);
    assert_eq!(world.core.wake_at(t0.mono), t0.mono + DEFAULT_POLL);
    let poll = world.at(DEFAULT_POLL);
    assert_eq!(world.core.due(false, poll), Due::Pass);
    assert!(
        world.core.serials_answered(serial(), poll, 0.0),
        "the same serial counts as moved once the device is back"
    );
}

#[test]
fn a_peer_that_moved_is_followed_although_its_handshake_is_fresh() {
    let mut world = World::new(&[registry(1)]);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    world.pass(world.at(Duration::ZERO));
    world.peer_mut(key(2)).last_handshake = Some(world.at(S).wall);
    let pass = world.pass(world.at(2 * S));
    assert_eq!(pass.outcomes[1].decision.reason, Reason::Unchanged);
    world.events();

    // The registry saw the peer come from a new mapping: the old path is dead.
    world.publish(registry(1), 2, "198.51.100.2:45000");
    let pass = world.pass(world.at(3 * S));

    assert_eq!(
        pass.outcomes[1].decision.reason.to_string(),
        "moved: the registry's answer left 198.51.100.2:40002"
    );
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:45000")));
    assert!(world.events().contains(&Event::EndpointChanged {
        iface: IFACE.into(),
        peer: key(2),
        old: Some(addr("198.51.100.2:40002")),
        new: "198.51.100.2:45000".parse().unwrap(),
        registry: registry(1),
    }));
}

#[test]
fn a_live_tunnel_with_a_different_registry_answer_is_left_alone() {
    let mut world = World::new(&[registry(1)]);
    // The peer reached us from its own mapping towards us, which WireGuard roamed to;
    // the registry sees another.
    world.peer_mut(key(2)).endpoint = Some(addr("198.51.100.2:2222"));
    world.peer_mut(key(2)).last_handshake = Some(world.at(Duration::ZERO).wall);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    for secs in 1..=3 {
        let pass = world.pass(world.at(secs * S));
        assert_eq!(pass.outcomes[1].decision.reason, Reason::FreshHandshake);
    }
    // Even when the registry's answer moves, it never was this tunnel's endpoint.
    world.publish(registry(1), 2, "198.51.100.2:45000");
    let pass = world.pass(world.at(4 * S));

    assert_eq!(pass.outcomes[1].decision.reason, Reason::FreshHandshake);
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.2:2222")));
    assert!(world.writes.is_empty());
}

#[test]
fn a_network_change_makes_a_pass_due_at_once_and_says_so() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    world.events();
    assert_eq!(world.core.due(false, t0), Due::Nothing);

    world.core.network_changed("192.0.2.7/24 came up".into());

    assert_eq!(
        world.events(),
        [Event::NetworkChanged {
            iface: IFACE.into(),
            what: "192.0.2.7/24 came up".into()
        }]
    );
    assert_eq!(world.core.due(false, t0), Due::Pass);
}

/// The monotonic clock stops while the machine sleeps; the wall clock does not.
#[test]
fn waking_from_sleep_counts_as_a_network_change() {
    let mut world = World::new(&[registry(1)]);
    let t0 = world.at(Duration::ZERO);
    world.pass(t0);
    assert_eq!(world.core.due(false, t0), Due::Nothing);
    // An ordinary poll: both clocks moved alike.
    let poll = world.at(S);
    assert_eq!(world.core.due(false, poll), Due::Nothing);
    world.events();

    let woke = Moment {
        wall: poll.wall + Duration::from_secs(3600) + S,
        mono: poll.mono + S,
    };
    assert_eq!(world.core.due(false, woke), Due::Pass);
    assert_eq!(
        world.events(),
        [Event::NetworkChanged {
            iface: IFACE.into(),
            what: "woke from sleep, or the clock was set, 3600 s ahead".into()
        }]
    );
    // A gap below the bound is a late poll, not a sleep.
    let late = Moment {
        wall: woke.wall + ASLEEP_AFTER,
        mono: woke.mono + S,
    };
    world.pass(woke);
    world.events();
    assert_eq!(world.core.due(false, late), Due::Nothing);
    assert_eq!(world.events(), []);
}

#[test]
fn a_peer_behind_our_router_is_tried_on_its_lan_address_first() {
    let mut world = World::new(&[registry(1)]);
    // Both behind one public address, as the registry sees our mappings.
    world.publish(registry(1), 2, "198.51.100.9:40002");
    world.publish(registry(1), 100, "198.51.100.9:40100");
    world
        .candidates
        .insert((registry(1), key(2)), vec![addr("192.168.1.3:51820")]);
    world.local = LocalAddresses {
        host: vec!["192.168.1.2".parse().unwrap()],
        interface: vec![],
    };

    let pass = world.pass(world.at(Duration::ZERO));
    assert_eq!(world.endpoint_of(2), Some(addr("192.168.1.3:51820")));
    assert_eq!(
        reasons(&pass)[1],
        "trying its LAN address 192.168.1.3:51820"
    );
    // The trial moves on after its step, not at the interval.
    let wake = world.core.wake_at(world.at(Duration::ZERO).mono);
    assert!(wake <= world.at(crate::paths::TRIAL_STEP).mono);

    // No handshake within the step: the mapping, and the reason names what was tried.
    let pass = world.pass(world.at(crate::paths::TRIAL_STEP));
    assert_eq!(world.endpoint_of(2), Some(addr("198.51.100.9:40002")));
    assert_eq!(
        reasons(&pass)[1],
        "set its NAT mapping: no handshake over 192.168.1.3:51820 within 3 s each"
    );

    // A peer whose mapping moves is tried again, and this time its LAN answers.
    world.publish(registry(1), 2, "198.51.100.9:40009");
    let pass = world.pass(world.at(10 * S));
    assert_eq!(world.endpoint_of(2), Some(addr("192.168.1.3:51820")));
    assert!(
        reasons(&pass)[1].starts_with("trying"),
        "{:?}",
        reasons(&pass)
    );
    world.peer_mut(key(2)).last_handshake = Some(world.at(11 * S).wall);
    let pass = world.pass(world.at(12 * S));
    assert_eq!(
        reasons(&pass)[1],
        "direct over its LAN address 192.168.1.3:51820"
    );
    assert_eq!(world.endpoint_of(2), Some(addr("192.168.1.3:51820")));
}

#[test]
fn a_direct_peer_is_not_asked_for_candidates() {
    let mut world = World::new(&[registry(1)]);
    world.publish(registry(1), 2, "198.51.100.2:40002");
    world.pass(world.at(Duration::ZERO));
    world.peer_mut(key(2)).last_handshake = Some(world.at(S).wall);
    world.questions.clear();

    world.pass(world.at(2 * S));

    let asked: Vec<(PublicKey, bool)> = world
        .questions
        .iter()
        .map(|q| (q.peer, q.candidates))
        .collect();
    let own = device().public_key.unwrap();
    // Peer 2 works: its lookup alone, as before candidates. Peer 3 never answered, so
    // its candidates are asked for, and with them our own public address.
    assert_eq!(asked, [(key(2), false), (key(3), true), (own, false)]);
}

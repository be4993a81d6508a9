use std::time::{Duration, SystemTime, UNIX_EPOCH};

use punchwire_wg::{LocalAddresses, Peer, PublicKey};

use super::*;

const MAPPING: &str = "198.51.100.2:40000";
const OUR_PUBLIC: &str = "198.51.100.2";

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// This machine, with the public address that `MAPPING`'s peer has too.
fn behind_our_public_address(here: &LocalAddresses) -> Ours<'_> {
    Ours {
        public_ip: Some(OUR_PUBLIC.parse().unwrap()),
        local: Some(here),
    }
}

fn local(host: &[&str]) -> LocalAddresses {
    LocalAddresses {
        host: host.iter().map(|ip| ip.parse().unwrap()).collect(),
        interface: vec![],
    }
}

fn set_mapping() -> Decision {
    Decision {
        action: Action::Set(MAPPING.parse().unwrap()),
        reason: Reason::Set,
    }
}

fn peer(endpoint: Option<&str>, handshake: Option<SystemTime>) -> Peer {
    let mut peer = Peer::new(PublicKey::from_bytes([2; 32]));
    peer.endpoint = endpoint.map(|e| e.parse().unwrap());
    peer.last_handshake = handshake;
    peer
}

/// The peer as the core sees it: direct when its handshake is fresh (younger than 2 s
/// at these tests' moments is enough to tell), with the mapping.
fn at<'a>(peer: &'a Peer, direct: bool, candidates: &'a [SocketAddr]) -> Situation<'a> {
    Situation {
        peer,
        direct,
        mapping: Some(MAPPING.parse().unwrap()),
        candidates,
    }
}

fn leave(reason: Reason) -> Decision {
    Decision {
        action: Action::Leave,
        reason,
    }
}

/// The policy's word when the registry's answer moved away from the endpoint `from`.
fn moved_from(from: &str) -> Decision {
    Decision {
        action: Action::Set(MAPPING.parse().unwrap()),
        reason: Reason::Moved {
            from: from.parse().unwrap(),
        },
    }
}

fn set_to(decision: &Decision) -> Option<String> {
    match decision.action {
        Action::Set(e) => Some(e.to_string()),
        Action::Leave => None,
    }
}

#[test]
fn a_lan_address_is_first_only_behind_the_same_public_address() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let order = plan(
        &lan,
        MAPPING.parse().unwrap(),
        behind_our_public_address(&here),
    )
    .order;
    assert_eq!(
        order[0],
        ("192.168.1.3:51820".parse().unwrap(), PathKind::Lan)
    );
    assert_eq!(order[1].1, PathKind::Mapping);

    let elsewhere = Ours {
        public_ip: Some("203.0.113.9".parse().unwrap()),
        local: Some(&here),
    };
    let plan = plan(&lan, MAPPING.parse().unwrap(), elsewhere);
    assert_eq!(plan.order.len(), 1, "the mapping alone");
    assert_eq!(plan.skipped, [(lan[0], Skip::OtherNetwork)]);
}

#[test]
fn lan_then_ipv6_then_public_then_the_mapping_and_every_other_one_named() {
    let candidates = addrs(&[
        "203.0.113.50:51820",
        "[2001:db8:5::3]:51820",
        "[fd00:1::3]:51820",
        "192.168.1.3:51820",
        "192.168.1.2:51820",
        "127.0.0.1:51820",
        MAPPING,
    ]);
    let here = local(&["192.168.1.2", "2001:db8:7::2"]);
    let ours = behind_our_public_address(&here);
    let plan = plan(&candidates, MAPPING.parse().unwrap(), ours);
    let order: Vec<String> = plan.order.iter().map(|(e, _)| e.to_string()).collect();
    assert_eq!(
        order,
        [
            "[fd00:1::3]:51820",
            "192.168.1.3:51820",
            "[2001:db8:5::3]:51820",
            "203.0.113.50:51820",
            MAPPING,
        ]
    );
    assert_eq!(
        plan.skipped,
        [
            (candidates[4], Skip::OwnAddress),
            (candidates[5], Skip::Unusable),
        ]
    );
    // Without a global IPv6 address here, the peer's is left out and said why.
    let v4_only = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&v4_only);
    let plan = super::plan(&candidates[1..2], MAPPING.parse().unwrap(), ours);
    assert_eq!(plan.skipped, [(candidates[1], Skip::NoIpv6)]);
}

#[test]
fn each_candidate_gets_its_step_then_the_mapping_is_set() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    let nobody = peer(None, None);
    let first = steer(
        set_mapping(),
        at(&nobody, false, &lan),
        &mut trial,
        ours,
        t(0),
    );
    assert_eq!(set_to(&first).as_deref(), Some("192.168.1.3:51820"));
    assert_eq!(
        first.reason.to_string(),
        "trying its LAN address 192.168.1.3:51820"
    );
    assert!(trial.as_ref().unwrap().in_progress());

    // The policy still wants the mapping; within the step, the candidate stays.
    let on_lan = peer(Some("192.168.1.3:51820"), None);
    let waiting = steer(
        set_mapping(),
        at(&on_lan, false, &lan),
        &mut trial,
        ours,
        t(2),
    );
    assert_eq!(waiting.action, Action::Leave);
    assert!(matches!(waiting.reason, Reason::Trying { .. }));

    let fallback = steer(
        set_mapping(),
        at(&on_lan, false, &lan),
        &mut trial,
        ours,
        t(3),
    );
    assert_eq!(set_to(&fallback).as_deref(), Some(MAPPING));
    assert_eq!(
        fallback.reason.to_string(),
        "set its NAT mapping: no handshake over 192.168.1.3:51820 within 3 s each"
    );
    assert!(!trial.as_ref().unwrap().in_progress(), "over: no loop");
}

#[test]
fn a_handshake_on_a_candidate_wins_and_is_said() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    let nobody = peer(None, None);
    steer(
        set_mapping(),
        at(&nobody, false, &lan),
        &mut trial,
        ours,
        t(0),
    );
    // The handshake completed at t(1); the policy leaves a fresh handshake alone.
    let direct = peer(Some("192.168.1.3:51820"), Some(t(1)));
    let fresh = Decision {
        action: Action::Leave,
        reason: Reason::FreshHandshake,
    };
    let said = steer(
        fresh.clone(),
        at(&direct, true, &lan),
        &mut trial,
        ours,
        t(2),
    );
    assert_eq!(said.action, Action::Leave);
    assert_eq!(
        said.reason.to_string(),
        "direct over its LAN address 192.168.1.3:51820"
    );
    assert!(!trial.as_ref().unwrap().in_progress());
    // Roamed elsewhere since (the peer's packets came from another address): plain.
    let roamed = peer(Some("198.51.100.2:40000"), Some(t(5)));
    assert_eq!(
        steer(fresh, at(&roamed, true, &lan), &mut trial, ours, t(6)).reason,
        Reason::FreshHandshake
    );
}

#[test]
fn candidates_registered_after_the_mapping_failed_are_tried_once_even_while_held() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    let on_mapping = peer(Some(MAPPING), None);
    let held = leave(Reason::NotDirect {
        endpoint: MAPPING.parse().unwrap(),
    });
    let first = steer(
        held.clone(),
        at(&on_mapping, false, &lan),
        &mut trial,
        ours,
        t(0),
    );
    assert_eq!(set_to(&first).as_deref(), Some("192.168.1.3:51820"));
    let on_lan = peer(Some("192.168.1.3:51820"), None);
    // Still held by the policy: the trial goes on regardless.
    let next = steer(
        held.clone(),
        at(&on_lan, false, &lan),
        &mut trial,
        ours,
        t(3),
    );
    assert_eq!(set_to(&next).as_deref(), Some(MAPPING));
    // Tried: the same mapping and candidates are not tried again.
    let after = steer(
        held.clone(),
        at(&on_mapping, false, &lan),
        &mut trial,
        ours,
        t(60),
    );
    assert_eq!(after, held);
}

#[test]
fn a_new_mapping_or_set_starts_over_and_no_candidates_changes_nothing() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    let nobody = peer(None, None);
    steer(
        set_mapping(),
        at(&nobody, false, &lan),
        &mut trial,
        ours,
        t(0),
    );
    let moved = addrs(&["192.168.1.4:51820"]);
    let again = steer(
        set_mapping(),
        at(&nobody, false, &moved),
        &mut trial,
        ours,
        t(1),
    );
    assert_eq!(set_to(&again).as_deref(), Some("192.168.1.4:51820"));

    let none = steer(
        set_mapping(),
        at(&nobody, false, &[]),
        &mut trial,
        ours,
        t(2),
    );
    assert_eq!(none, set_mapping(), "the policy's decision as it was");
    assert_eq!(trial, None);
}

#[test]
fn a_peer_that_moved_behind_our_router_is_tried_there_though_its_old_handshake_is_young() {
    let lan = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    // The registry's answer moved away from the working endpoint: the policy sets the
    // new mapping although the old path's handshake is young.
    let old_path = peer(Some("203.0.113.7:40000"), Some(t(0)));
    let moved = moved_from("203.0.113.7:40000");
    let first = steer(moved, at(&old_path, true, &lan), &mut trial, ours, t(5));
    assert_eq!(set_to(&first).as_deref(), Some("192.168.1.3:51820"));
    // Next pass the policy sees the young handshake and would leave the candidate; the
    // trial goes on, and moves to the mapping when the step is over.
    let on_lan = peer(Some("192.168.1.3:51820"), Some(t(0)));
    let fresh = leave(Reason::FreshHandshake);
    let next = steer(fresh, at(&on_lan, false, &lan), &mut trial, ours, t(8));
    assert_eq!(set_to(&next).as_deref(), Some(MAPPING));
}

#[test]
fn new_candidates_mid_trial_start_it_over_whatever_the_policy_makes_of_an_old_handshake() {
    let stale = addrs(&["192.168.2.2:51820"]);
    let fresh_set = addrs(&["192.168.1.3:51820"]);
    let here = local(&["192.168.1.2"]);
    let ours = behind_our_public_address(&here);
    let mut trial = None;
    let old_path = peer(Some("203.0.113.7:40000"), Some(t(0)));
    let moved = moved_from("203.0.113.7:40000");
    let first = steer(moved, at(&old_path, true, &stale), &mut trial, ours, t(5));
    assert_eq!(set_to(&first).as_deref(), Some("192.168.2.2:51820"));
    // The peer registers its new LAN address a moment later. The policy sees the old
    // path's young handshake on the endpoint we set and would leave it.
    let on_stale = peer(Some("192.168.2.2:51820"), Some(t(0)));
    let fresh = leave(Reason::FreshHandshake);
    let next = steer(
        fresh.clone(),
        at(&on_stale, false, &fresh_set),
        &mut trial,
        ours,
        t(6),
    );
    assert_eq!(set_to(&next).as_deref(), Some("192.168.1.3:51820"));
    // And with no candidate left worth a try, the mapping is set rather than the old
    // candidate kept.
    let mut trial_b = None;
    steer(
        Decision {
            action: Action::Set(MAPPING.parse().unwrap()),
            reason: Reason::Set,
        },
        at(&peer(None, None), false, &stale),
        &mut trial_b,
        ours,
        t(1),
    );
    let elsewhere = Ours {
        public_ip: Some("203.0.113.99".parse().unwrap()),
        local: Some(&here),
    };
    let gone = steer(
        fresh,
        at(&on_stale, false, &fresh_set),
        &mut trial_b,
        elsewhere,
        t(1),
    );
    assert_eq!(set_to(&gone).as_deref(), Some(MAPPING));
}

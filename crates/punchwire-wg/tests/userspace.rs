//! UapiBackend against real wireguard-go and real boringtun, each in namespaces the
//! test creates: what it reads is what `wg` reads, handshake times are true times, and
//! setting an endpoint changes only the endpoint and leaves the daemon alive.
#![cfg(unix)]

mod common;

use std::time::{Duration, SystemTime};

use common::{Daemon, Kind, Netns, Pair, NOWHERE, RIGHT_PUBLIC, RIGHT_TUNNEL};
use punchwire_wg::{
    BackendError, Implementation, Peer, PublicKey, SystemBackend, UapiBackend, WireGuard,
};

fn reads_what_wg_configured(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let ns = Netns::new(&common::tag());
    let iface = format!("pw{}", common::tag());
    let daemon = Daemon::start(kind, &binary, &ns, &iface);
    let keys = common::Keys::generate();
    let peer = common::Keys::generate();
    let (psk_file, _) = common::preshared_key();
    daemon.wg(&[
        "set",
        &iface,
        "private-key",
        keys.path(),
        "listen-port",
        "41234",
        "peer",
        &peer.public.to_base64(),
        "allowed-ips",
        "10.99.0.2/32,fd99::/64",
        "persistent-keepalive",
        "17",
        "preshared-key",
        psk_file.path().to_str().unwrap(),
        "endpoint",
        "198.51.100.10:40000",
    ]);

    let uapi = UapiBackend::new();
    let device = uapi.device(&iface).unwrap();
    assert_eq!(device.name, iface);
    assert_eq!(device.public_key, Some(keys.public), "{kind:?}");
    assert_eq!(device.listen_port, Some(41234));
    assert_eq!(device.peers.len(), 1);
    let p = &device.peers[0];
    assert_eq!(p.public_key, peer.public);
    assert!(p.has_preshared_key);
    assert_eq!(p.endpoint, Some("198.51.100.10:40000".parse().unwrap()));
    let mut allowed: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
    allowed.sort();
    assert_eq!(allowed, ["10.99.0.2/32", "fd99::/64"]);
    assert_eq!(p.persistent_keepalive, Some(17));
    assert_eq!(p.last_handshake, None, "no handshake has happened");

    assert!(uapi.interfaces().unwrap().contains(&iface));
    // What the CLI uses finds it too, and routes to the daemon.
    let system = SystemBackend::new();
    assert!(system.interfaces().unwrap().contains(&iface));
    assert_eq!(system.device(&iface).unwrap(), device);
    let expected = match kind {
        Kind::WireguardGo => Implementation::Compliant,
        Kind::Boringtun => Implementation::Boringtun,
    };
    assert_eq!(uapi.implementation(&iface).unwrap(), expected);
}

fn handshake_time_is_true(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let pair = Pair::new(kind, &binary);
    pair.ping_through_tunnel();

    let uapi = UapiBackend::new();
    let now = SystemTime::now();
    let device = uapi.device(&pair.left.iface).unwrap();
    let peer = device.peer(&pair.right_keys.public).unwrap();
    let age = peer
        .handshake_age(now)
        .unwrap_or_else(|| panic!("no handshake after a ping went through\n{}", pair.trail()));
    assert!(
        age < Duration::from_secs(30),
        "{kind:?}: handshake age {age:?}"
    );
    let when = peer.last_handshake.unwrap();
    assert!(
        now.duration_since(when).unwrap_or_default() < Duration::from_secs(60)
            && when <= now + Duration::from_secs(1),
        "{kind:?}: last handshake at {when:?}, now is {now:?}"
    );
}

fn set_endpoint_changes_only_the_endpoint(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let mut pair = Pair::new(kind, &binary);
    pair.ping_through_tunnel();
    let uapi = UapiBackend::new();
    let iface = pair.left.iface.clone();
    let right = pair.right_keys.public;

    let before = pair.left.dump();
    assert_eq!(before[0].endpoint, RIGHT_PUBLIC);
    assert_eq!(before[0].preshared_key, pair.psk);
    assert_eq!(before[0].allowed_ips, ["10.98.0.0/16", "10.99.0.2/32"]);
    assert_eq!(before[0].keepalive, "25");

    // Away to an address where nobody answers, then back: both times only the
    // endpoint may change, and the daemon must keep answering (`wg` reads it).
    for target in [NOWHERE, RIGHT_PUBLIC] {
        // The peer as a pass would have read it: with a session, so on wireguard-go
        // only the endpoint moves, without a read.
        let snapshot = uapi.device(&iface).unwrap().peer(&right).unwrap().clone();
        uapi.set_endpoint(&iface, &snapshot, target.parse().unwrap())
            .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{}", pair.trail()));
        assert!(pair.left.alive(), "{kind:?} died\n{}", pair.trail());
        let after = pair.left.dump();
        assert_eq!(after.len(), 1, "{after:?}");
        let expected = common::DumpPeer {
            endpoint: target.to_owned(),
            latest_handshake: after[0].latest_handshake,
            ..before[0].clone()
        };
        assert_eq!(
            after[0], expected,
            "{kind:?}: more than the endpoint changed"
        );
    }

    // The tunnel works again; on boringtun that took a fresh handshake, since the
    // peer was re-created.
    let asked = SystemTime::now();
    pair.ping_through_tunnel();
    let device = uapi.device(&iface).unwrap();
    let peer = device.peer(&right).unwrap();
    let handshake = peer.last_handshake.expect("a handshake after the change");
    if kind == Kind::Boringtun {
        assert!(
            handshake + Duration::from_secs(1) >= asked,
            "boringtun's handshake {handshake:?} predates the change at {asked:?}"
        );
    }
    assert!(pair.left.alive(), "{kind:?} died\n{}", pair.trail());

    // Setting the endpoint a peer already has writes nothing, so the peer is not
    // re-created: its counters keep counting instead of starting again at zero.
    assert!(peer.rx_bytes > 0, "{peer:?}");
    uapi.set_endpoint(&iface, peer, RIGHT_PUBLIC.parse().unwrap())
        .unwrap();
    let again = uapi.device(&iface).unwrap();
    let again = again.peer(&right).unwrap();
    assert!(
        again.rx_bytes >= peer.rx_bytes,
        "{kind:?}: {again:?} after {peer:?}"
    );
}

/// A peer that never had a session is made anew to take its first endpoint (so that
/// its first handshake need not wait out one it tried with no endpoint): it keeps its
/// preshared key, allowed IPs and keepalive.
fn a_peer_without_a_session_keeps_everything_when_its_endpoint_is_set(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let ns = Netns::new(&common::tag());
    let iface = format!("pw{}", common::tag());
    let mut daemon = Daemon::start(kind, &binary, &ns, &iface);
    let keys = common::Keys::generate();
    let peer = common::Keys::generate();
    let (psk_file, psk) = common::preshared_key();
    daemon.wg(&[
        "set",
        &iface,
        "private-key",
        keys.path(),
        "peer",
        &peer.public.to_base64(),
        "allowed-ips",
        "10.99.0.2/32,fd99::/64",
        "persistent-keepalive",
        "25",
        "preshared-key",
        psk_file.path().to_str().unwrap(),
    ]);
    let before = daemon.dump();
    assert_eq!(before[0].endpoint, "(none)");
    assert_eq!(before[0].preshared_key, psk);

    // The snapshot does not hold the preshared key; the backend reads it right before
    // it makes the peer anew.
    let uapi = UapiBackend::new();
    let snapshot = uapi.device(&iface).unwrap().peers[0].clone();
    assert_eq!(snapshot.public_key, peer.public);
    uapi.set_endpoint(&iface, &snapshot, NOWHERE.parse().unwrap())
        .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{}", daemon.log()));

    assert!(daemon.alive(), "{kind:?} died\n{}", daemon.log());
    let after = daemon.dump();
    let expected = common::DumpPeer {
        endpoint: NOWHERE.to_owned(),
        ..before[0].clone()
    };
    assert_eq!(
        after,
        [expected],
        "{kind:?}: more than the endpoint changed"
    );
}

fn unknown_peer_is_refused_and_nothing_changes(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let mut pair = Pair::new(kind, &binary);
    let uapi = UapiBackend::new();
    let stranger = PublicKey::from_bytes([42; 32]);
    let before = pair.left.dump();
    let err = uapi
        .set_endpoint(
            &pair.left.iface,
            &Peer::new(stranger),
            NOWHERE.parse().unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchPeer { peer, .. } if *peer == stranger),
        "{err:?}"
    );
    assert!(pair.left.alive());
    assert_eq!(pair.left.dump(), before);
}

/// After this machine's network changed: the sockets are opened again on the same port,
/// nothing configured changes, and the tunnel still carries traffic.
fn rebinding_keeps_the_configuration_and_the_tunnel(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let mut pair = Pair::new(kind, &binary);
    pair.ping_through_tunnel();
    let uapi = UapiBackend::new();
    let before = uapi.device(&pair.left.iface).unwrap();
    uapi.rebind(&pair.left.iface).unwrap();
    assert!(pair.left.alive());
    let after = uapi.device(&pair.left.iface).unwrap();
    assert_eq!(after.listen_port, before.listen_port);
    assert_eq!(after.public_key, before.public_key);
    let configured = |device: &punchwire_wg::Device| -> Vec<_> {
        device
            .peers
            .iter()
            .map(|p| {
                let endpoint = p.endpoint;
                (
                    p.public_key,
                    p.has_preshared_key,
                    endpoint,
                    p.allowed_ips.clone(),
                    p.persistent_keepalive,
                )
            })
            .collect()
    };
    assert_eq!(
        configured(&after),
        configured(&before),
        "{kind:?}: the configuration changed"
    );
    pair.ping_through_tunnel();
}

/// A relay's move: the registry peer takes the right peer's tunnel address, so traffic
/// to it stops going to the right peer, then gives it back; afterwards the device is
/// exactly as before (only the allowed IPs ever change) and the tunnel works again.
fn allowed_ips_move_to_another_peer_and_back(kind: Kind) {
    let Some(binary) = common::require(kind) else {
        return;
    };
    let mut pair = Pair::new(kind, &binary);
    let iface = pair.left.iface.clone();
    let right = pair.right_keys.public;
    let registry = common::Keys::generate().public;
    pair.left.wg(&[
        "set",
        &iface,
        "peer",
        &registry.to_base64(),
        "allowed-ips",
        "10.97.0.1/32",
        "endpoint",
        NOWHERE,
    ]);
    pair.ping_through_tunnel();
    let uapi = UapiBackend::new();
    // By key: wireguard-go lists its peers in no fixed order.
    let dump = |daemon: &common::Daemon| {
        let mut peers = daemon.dump();
        peers.sort_by(|a, b| a.public_key.cmp(&b.public_key));
        peers
    };
    let before = dump(&pair.left);
    let configured = |device: &punchwire_wg::Device| -> Vec<_> {
        let mut peers: Vec<_> = device
            .peers
            .iter()
            .map(|p| {
                let mut allowed = p.allowed_ips.clone();
                allowed.sort();
                (
                    p.public_key,
                    p.has_preshared_key,
                    p.endpoint,
                    allowed,
                    p.persistent_keepalive,
                )
            })
            .collect();
        peers.sort_by_key(|p| p.0.to_base64());
        peers
    };
    let read_before = configured(&uapi.device(&iface).unwrap());
    let net = |n: &str| -> ipnet::IpNet { n.parse().unwrap() };
    let peer_in = |dump: &[common::DumpPeer], key: &PublicKey| {
        dump.iter()
            .find(|p| p.public_key == key.to_base64())
            .unwrap_or_else(|| panic!("{kind:?}: no peer {key} in {dump:?}"))
            .clone()
    };

    // A stranger in the list: refused before anything is written.
    let stranger = PublicKey::from_bytes([42; 32]);
    let err = uapi
        .set_allowed_ips(&iface, &[(right, vec![]), (stranger, vec![])])
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchPeer { peer, .. } if *peer == stranger),
        "{err:?}"
    );
    assert_eq!(
        dump(&pair.left),
        before,
        "{kind:?}: a refused call changed something"
    );

    // Listing the address for the registry peer alone takes it from the right peer.
    uapi.set_allowed_ips(
        &iface,
        &[(registry, vec![net("10.97.0.1/32"), net(RIGHT_TUNNEL_NET)])],
    )
    .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{}", pair.trail()));
    assert!(pair.left.alive(), "{kind:?} died\n{}", pair.trail());
    let moved = dump(&pair.left);
    assert_eq!(moved.len(), 2, "{moved:?}");
    let expected_right = common::DumpPeer {
        allowed_ips: vec!["10.98.0.0/16".into()],
        latest_handshake: peer_in(&moved, &right).latest_handshake,
        ..peer_in(&before, &right)
    };
    assert_eq!(peer_in(&moved, &right), expected_right, "{kind:?}");
    let expected_registry = common::DumpPeer {
        allowed_ips: vec!["10.97.0.1/32".into(), RIGHT_TUNNEL_NET.into()],
        ..peer_in(&before, &registry)
    };
    assert_eq!(peer_in(&moved, &registry), expected_registry, "{kind:?}");
    assert!(
        !pair.left_ns.ping(RIGHT_TUNNEL),
        "{kind:?}: {RIGHT_TUNNEL} still answers through the right peer\n{}",
        pair.trail()
    );

    // And back: both peers listed, in one call.
    uapi.set_allowed_ips(
        &iface,
        &[
            (registry, vec![net("10.97.0.1/32")]),
            (right, vec![net(RIGHT_TUNNEL_NET), net("10.98.0.0/16")]),
        ],
    )
    .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{}", pair.trail()));
    assert!(pair.left.alive(), "{kind:?} died\n{}", pair.trail());
    let after = dump(&pair.left);
    let without_handshakes = |dump: &[common::DumpPeer]| -> Vec<common::DumpPeer> {
        dump.iter()
            .map(|p| common::DumpPeer {
                latest_handshake: 0,
                ..p.clone()
            })
            .collect()
    };
    assert_eq!(
        without_handshakes(&after),
        without_handshakes(&before),
        "{kind:?}: the device is not as before"
    );
    assert_eq!(configured(&uapi.device(&iface).unwrap()), read_before);
    pair.ping_through_tunnel();
    assert!(pair.left.alive(), "{kind:?} died\n{}", pair.trail());
}

const RIGHT_TUNNEL_NET: &str = "10.99.0.2/32";

macro_rules! against {
    ($kind:ident, $module:ident) => {
        mod $module {
            use super::*;

            #[test]
            fn reads_what_wg_configured() {
                super::reads_what_wg_configured(Kind::$kind);
            }

            #[test]
            fn handshake_time_is_true() {
                super::handshake_time_is_true(Kind::$kind);
            }

            #[test]
            fn set_endpoint_changes_only_the_endpoint() {
                super::set_endpoint_changes_only_the_endpoint(Kind::$kind);
            }

            #[test]
            fn a_peer_without_a_session_keeps_everything_when_its_endpoint_is_set() {
                super::a_peer_without_a_session_keeps_everything_when_its_endpoint_is_set(
                    Kind::$kind,
                );
            }

            #[test]
            fn unknown_peer_is_refused_and_nothing_changes() {
                super::unknown_peer_is_refused_and_nothing_changes(Kind::$kind);
            }

            #[test]
            fn allowed_ips_move_to_another_peer_and_back() {
                super::allowed_ips_move_to_another_peer_and_back(Kind::$kind);
            }

            #[test]
            fn rebinding_keeps_the_configuration_and_the_tunnel() {
                super::rebinding_keeps_the_configuration_and_the_tunnel(Kind::$kind);
            }
        }
    };
}

against!(WireguardGo, wireguard_go);
against!(Boringtun, boringtun);

#[test]
fn missing_interface_is_no_such_interface() {
    let iface = format!("pwx{}", common::tag());
    let err = UapiBackend::new().device(&iface).unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchInterface { iface: i } if *i == iface),
        "{err:?}"
    );
}

//! Windows: the wireguard-nt backend as a user meets it without the driver's DLL. Run
//! under Wine by scripts/check-platforms (Wine has no wireguard.dll and no driver).
#![cfg(windows)]

use std::time::SystemTime;

use punchwire_wg::{BackendError, Device, Endpoint, NtBackend, Peer, SystemBackend, WireGuard};

#[test]
fn a_missing_dll_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let dll = dir.path().join("wireguard.dll");
    let backend = NtBackend::new().with_dll(&dll);
    for err in [
        backend.device("wg0").unwrap_err(),
        backend.interfaces().unwrap_err(),
        backend
            .set_endpoint(
                "wg0",
                &Peer::new(punchwire_wg::PublicKey::from_bytes([1; 32])),
                "192.0.2.1:51820".parse().unwrap(),
            )
            .unwrap_err(),
    ] {
        assert!(matches!(err, BackendError::DriverMissing { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("wireguard.dll"), "{message}");
        assert!(message.contains(&dll.display().to_string()), "{message}");
        assert!(message.contains("next to punchwire.exe"), "{message}");
    }
}

#[test]
fn the_system_backend_on_windows_is_wireguard_nt() {
    // Without wireguard.dll anywhere (as under Wine), every call says so.
    let err = SystemBackend::new().device("wg0").unwrap_err();
    assert!(matches!(err, BackendError::DriverMissing { .. }), "{err:?}");
}

/// Through the real DLL boundary, against scripts/windows/fake-wireguard.c (one adapter,
/// "pwtest", two peers; it applies a configuration as the driver does and refuses any
/// interface flag). scripts/check-platforms builds it and names it in
/// PUNCHWIRE_FAKE_WIREGUARD_DLL.
#[test]
#[ignore = "needs PUNCHWIRE_FAKE_WIREGUARD_DLL (scripts/check-platforms builds it)"]
fn list_read_and_set_endpoints_through_wireguard_dll() {
    let dll = std::env::var_os("PUNCHWIRE_FAKE_WIREGUARD_DLL")
        .expect("PUNCHWIRE_FAKE_WIREGUARD_DLL names the fake wireguard.dll");
    let tunnels = tempfile::tempdir().unwrap();
    // Tunnels of the official client: one whose adapter exists, one whose does not.
    std::fs::write(tunnels.path().join("pwtest.conf.dpapi"), "").unwrap();
    std::fs::write(tunnels.path().join("stopped.conf.dpapi"), "").unwrap();
    let backend = NtBackend::new()
        .with_dll(&dll)
        .with_tunnels_dir(tunnels.path());
    assert_eq!(backend.interfaces().unwrap(), ["pwtest"]);

    let before = backend.device("pwtest").unwrap();
    assert_eq!(before.listen_port, Some(51820));
    assert_eq!(before.peers.len(), 2);
    let (first, second) = (&before.peers[0], &before.peers[1]);
    assert_eq!(first.endpoint, Some("192.0.2.1:51820".parse().unwrap()));
    assert_eq!((first.tx_bytes, first.rx_bytes), (100, 2048));
    assert!(first.last_handshake.is_some());
    assert_eq!(
        second.endpoint, None,
        "a peer without an endpoint reads fine"
    );
    assert!(second.has_preshared_key);

    // First contact: the second peer has no session, so it is made anew at its first
    // endpoint, keeping its preshared key, allowed IPs and keepalive.
    let new: Endpoint = "198.51.100.7:40000".parse().unwrap();
    backend.set_endpoint("pwtest", second, new).unwrap();
    let after = backend.device("pwtest").unwrap();
    let remade = peer(&after, second);
    assert_eq!(remade.endpoint, Some(new.addr()));
    assert_eq!(remade.allowed_ips, second.allowed_ips);
    assert_eq!(remade.persistent_keepalive, Some(25));
    assert!(remade.has_preshared_key, "the preshared key stays");
    assert_eq!(*peer(&after, first), *first, "the other peer is untouched");

    // The first peer's handshake is days old: no session, so it too is made anew,
    // which a new peer's counters show.
    let moved: Endpoint = "203.0.113.9:41000".parse().unwrap();
    backend.set_endpoint("pwtest", first, moved).unwrap();
    let after = backend.device("pwtest").unwrap();
    let remade = peer(&after, first);
    assert_eq!(remade.endpoint, Some(moved.addr()));
    assert_eq!((remade.tx_bytes, remade.rx_bytes), (0, 0));
    assert_eq!(remade.last_handshake, None);
    assert_eq!(remade.allowed_ips, first.allowed_ips);
    assert_eq!(remade.persistent_keepalive, Some(25));

    // A peer with a session only has its endpoint moved, in place: nothing else it
    // has is written, so nothing else changes.
    let mut live = peer(&after, second).clone();
    live.last_handshake = Some(SystemTime::now());
    backend.set_endpoint("pwtest", &live, moved).unwrap();
    let after_move = backend.device("pwtest").unwrap();
    let mut expected = after.clone();
    expected
        .peers
        .iter_mut()
        .find(|p| p.public_key == live.public_key)
        .unwrap()
        .endpoint = Some(moved.addr());
    assert_eq!(after_move, expected);

    let err = backend.device("nope").unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
    // A peer the adapter does not have (removed since the snapshot) is never created:
    // without a session it is read first and named; with one, the update-only write
    // is skipped, as the driver does.
    let mut stranger = Peer::new(punchwire_wg::PublicKey::from_bytes([9; 32]));
    let err = backend.set_endpoint("pwtest", &stranger, new).unwrap_err();
    assert!(matches!(err, BackendError::NoSuchPeer { .. }), "{err:?}");
    stranger.last_handshake = Some(SystemTime::now());
    backend.set_endpoint("pwtest", &stranger, new).unwrap();
    assert_eq!(backend.device("pwtest").unwrap(), after_move);

    // Run here, not as a test of its own: the fake holds one adapter per process,
    // which tests in parallel would both change.
    allowed_ips_move_between_peers_and_back(&backend);
}

/// A relay's move: the second peer takes the first's address, then gives it back; only
/// the allowed IPs change, and afterwards the adapter is as it was.
fn allowed_ips_move_between_peers_and_back(backend: &NtBackend) {
    let before = backend.device("pwtest").unwrap();
    let (first, second) = (&before.peers[0], &before.peers[1]);
    let first_net = first.allowed_ips[0];
    let second_net = second.allowed_ips[0];

    backend
        .set_allowed_ips(
            "pwtest",
            &[(second.public_key, vec![second_net, first_net])],
        )
        .unwrap();
    let moved = backend.device("pwtest").unwrap();
    let mut expected = before.clone();
    expected.peers[0].allowed_ips = vec![];
    expected.peers[1].allowed_ips = vec![second_net, first_net];
    assert_eq!(
        moved, expected,
        "the address moved and nothing else changed"
    );

    backend
        .set_allowed_ips(
            "pwtest",
            &[
                (second.public_key, vec![second_net]),
                (first.public_key, vec![first_net]),
            ],
        )
        .unwrap();
    assert_eq!(backend.device("pwtest").unwrap(), before);

    // A peer the adapter does not have is named, and nothing is written.
    let stranger = punchwire_wg::PublicKey::from_bytes([9; 32]);
    let err = backend
        .set_allowed_ips(
            "pwtest",
            &[(first.public_key, vec![]), (stranger, vec![first_net])],
        )
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchPeer { peer, .. } if *peer == stranger),
        "{err:?}"
    );
    assert_eq!(backend.device("pwtest").unwrap(), before);
}

fn peer<'a>(device: &'a Device, like: &Peer) -> &'a Peer {
    device
        .peers
        .iter()
        .find(|p| p.public_key == like.public_key)
        .expect("the peer is still there")
}

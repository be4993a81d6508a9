//! Windows: the wireguard-nt backend as a user meets it without the driver's DLL. Run
//! under Wine by scripts/check-platforms (Wine has no wireguard.dll and no driver).
#![cfg(windows)]

use punchwire_wg::{BackendError, NtBackend, Peer, SystemBackend, WireGuard};

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
/// "pwtest", two peers; it refuses any write but an update-only endpoint change).
/// scripts/check-platforms builds it and names it in PUNCHWIRE_FAKE_WIREGUARD_DLL.
#[test]
#[ignore = "needs PUNCHWIRE_FAKE_WIREGUARD_DLL (scripts/check-platforms builds it)"]
fn list_read_and_set_an_endpoint_through_wireguard_dll() {
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

    let new: punchwire_wg::Endpoint = "198.51.100.7:40000".parse().unwrap();
    backend.set_endpoint("pwtest", second, new).unwrap();
    let after = backend.device("pwtest").unwrap();
    assert_eq!(after.peers[1].endpoint, Some(new.addr()));
    assert_eq!(after.peers[1].allowed_ips, second.allowed_ips);
    assert_eq!(after.peers[1].persistent_keepalive, Some(25));
    assert_eq!(after.peers[0], *first, "the other peer is untouched");

    let err = backend.device("nope").unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
    // A peer the adapter does not have (removed since the snapshot) is not created:
    // the update-only write is skipped, as the driver does, and nothing changes.
    let stranger = Peer::new(punchwire_wg::PublicKey::from_bytes([9; 32]));
    backend.set_endpoint("pwtest", &stranger, new).unwrap();
    assert_eq!(backend.device("pwtest").unwrap(), after);
}

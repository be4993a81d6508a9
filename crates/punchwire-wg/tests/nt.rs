//! Windows: the wireguard-nt backend as a user meets it without the driver's DLL. Run
//! under Wine by scripts/check-platforms (Wine has no wireguard.dll and no driver).
#![cfg(windows)]

use punchwire_wg::{BackendError, NtBackend, SystemBackend, WireGuard};

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
                &punchwire_wg::PublicKey::from_bytes([1; 32]),
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

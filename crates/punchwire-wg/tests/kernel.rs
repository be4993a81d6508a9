//! The kernel backend on a machine without the WireGuard module (this project's CI):
//! it must report "nothing here" plainly, never hang or panic. Where the module is
//! loaded these still hold for an interface that does not exist.
#![cfg(target_os = "linux")]

use std::time::SystemTime;

use punchwire_wg::{BackendError, KernelBackend, Peer, PublicKey, WireGuard};

const MISSING: &str = "pwnosuchif0";

#[test]
fn listing_works_without_the_module() {
    let names = KernelBackend::new().interfaces().unwrap();
    assert!(!names.iter().any(|n| n == MISSING), "{names:?}");
}

#[test]
fn missing_interface_is_named() {
    let err = KernelBackend::new().device(MISSING).unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchInterface { iface } if iface == MISSING),
        "{err:?}"
    );
}

#[test]
fn set_endpoint_never_creates_an_interface() {
    let kernel = KernelBackend::new();
    let err = kernel
        .set_endpoint(
            MISSING,
            &Peer::new(PublicKey::from_bytes([3; 32])),
            "192.0.2.1:51820".parse().unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
    assert!(!kernel.interfaces().unwrap().iter().any(|n| n == MISSING));
}

#[test]
fn set_allowed_ips_never_creates_an_interface() {
    let kernel = KernelBackend::new();
    let err = kernel
        .set_allowed_ips(
            MISSING,
            &[(
                PublicKey::from_bytes([3; 32]),
                vec!["10.99.0.2/32".parse().unwrap()],
            )],
        )
        .unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
    assert!(!kernel.interfaces().unwrap().iter().any(|n| n == MISSING));
}

#[test]
fn impossible_names_are_no_such_interface() {
    let err = KernelBackend::new()
        .device("a-name-far-too-long-for-linux")
        .unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
}

#[test]
fn a_link_that_is_not_wireguard_is_no_such_interface() {
    let kernel = KernelBackend::new();
    let err = kernel.device("lo").unwrap_err();
    assert!(
        matches!(&err, BackendError::NoSuchInterface { iface } if iface == "lo"),
        "{err:?}"
    );
    // A peer with a session only has its endpoint moved, with no read, so the write
    // itself has to say it (where the module is loaded, the kernel answers
    // EOPNOTSUPP, not "no WireGuard here"); a peer without one is read first.
    let mut with_session = Peer::new(PublicKey::from_bytes([3; 32]));
    with_session.last_handshake = Some(SystemTime::now());
    let without_session = Peer::new(PublicKey::from_bytes([4; 32]));
    for peer in [with_session, without_session] {
        let err = kernel
            .set_endpoint("lo", &peer, "192.0.2.1:51820".parse().unwrap())
            .unwrap_err();
        assert!(
            matches!(&err, BackendError::NoSuchInterface { iface } if iface == "lo"),
            "{err:?}"
        );
    }
}

//! `punchwire demo` in the NAT lab, as CI runs it. A test target of its own because it
//! needs the binary built with the demo (`--features demo`); the other lab tests run
//! the binary that ships.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_punchwire");

/// The README's first command, as CI runs it: every claim it narrates is checked by
/// the demo itself, which exits non-zero if one fails.
#[test]
fn the_demo_proves_its_narration() {
    if !punchwire_lab::can_run("demo") {
        return;
    }
    let out = Command::new(BIN)
        .args(["demo", "--exit-when-done", "--step-timeout", "60s"])
        .output()
        .expect("punchwire demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for claim in [
        "their NAT mappings",
        "PTR -> 2 peers",
        "alice set bob's endpoint to 203.0.113.10:",
        "20 received, 0% packet loss",
        "keepalives only",
        ": direct; endpoint 203.0.113.10:",
        "Demo complete",
        "namespaces, daemons and sockets removed",
    ] {
        assert!(
            stdout.contains(claim),
            "the demo did not say {claim:?}:\n{stdout}"
        );
    }
}

//! The tray app speaks to the service through `punchwire-control` alone: none of the
//! engine, the registry, DNS serving or WireGuard may come into its build, where they
//! would add size, privileges-minded code and attack surface to a desktop app.

use std::process::Command;

/// Crates the tray app must never link, whichever path would bring them in.
const FORBIDDEN: &[&str] = &[
    "hickory-server",
    "wireguard-control",
    "punchwire-discovery",
    "punchwire-registry",
    "punchwire-service",
    "punchwire-wg",
    // The TypeScript generator is for the control crate's own tests.
    "ts-rs",
];

#[test]
fn the_tray_links_none_of_the_engine_registry_or_wireguard_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            "punchwire-tray",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"punchwire-control"),
        "the tree is the tray's: {tree}"
    );
    let linked: Vec<&&str> = FORBIDDEN.iter().filter(|c| crates.contains(c)).collect();
    assert!(
        linked.is_empty(),
        "the tray app links {linked:?}; `cargo tree -p punchwire-tray -e normal -i <crate>` shows through what"
    );
}

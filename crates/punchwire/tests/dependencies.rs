//! The `punchwire` that ships (`cargo build -p punchwire`, the .deb's) leaves the NAT lab
//! out: the lab creates namespaces, rewrites iptables and starts daemons as root, which a
//! user's service must never be able to do by accident. Only `--features demo` brings it.

use std::process::Command;

/// The crates the default build must not link, whatever path would bring them in.
const DEMO_ONLY: &[&str] = &["punchwire-lab"];

fn normal_dependencies(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut args = vec![
        "tree",
        "--locked",
        "--manifest-path",
        manifest,
        "-p",
        "punchwire",
        "-e",
        "normal",
        // Every platform's dependencies, not only this host's.
        "--target",
        "all",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ];
    args.extend_from_slice(features);
    let out = Command::new(cargo)
        .args(&args)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_default_build_links_no_lab() {
    let crates = normal_dependencies(&[]);
    assert!(
        crates.iter().any(|c| c == "punchwire-service"),
        "the tree is punchwire's: {crates:?}"
    );
    let linked: Vec<&&str> = DEMO_ONLY
        .iter()
        .filter(|c| crates.iter().any(|linked| linked == *c))
        .collect();
    assert!(
        linked.is_empty(),
        "the default punchwire build links {linked:?}; `cargo tree -p punchwire -e normal,features -i <crate>` shows through what"
    );
}

#[test]
fn the_demo_build_links_the_lab() {
    let crates = normal_dependencies(&["--features", "demo"]);
    assert!(
        crates.iter().any(|c| c == "punchwire-lab"),
        "`--features demo` does not bring the lab in: {crates:?}"
    );
}

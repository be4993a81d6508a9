//! A registry behind a dynamic address, in the NAT lab with the real binaries: alice's
//! and bob's wg-quick files name the registry peer's endpoint `home.example.net:51820`,
//! which a real Knot DNS in the simulated internet answers. The registry host gets a new
//! public address and the record is changed; with no restart, alice and bob find the
//! registry at its new address, handshake with it there, ask it again, and still reach
//! each other. Prints the seconds from the DNS change to both having the registry back.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default).
#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{name_server_ip, wait_until_ok, Host, Lab, ServiceOptions};
use serde_json::Value;

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, key, ping, wait_direct, STEP};

/// The registry's name: `home` in the lab DNS's zone.
const NAME: &str = "home.example.net";
/// Where the registry host moves to, in its own network.
const MOVED_TO: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
/// The target, from the DNS change to the registry regained.
const TARGET: Duration = Duration::from_secs(30);

fn recent_events(socket: &Path) -> Vec<Value> {
    let recent = control(socket, ControlCommand::RecentEvents);
    recent["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_registry_that_moves_is_found_again_by_its_name() {
    if !punchwire_lab::can_run("registry behind a dynamic address") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        let mut dns = lab
            .start_name_server("example.net.", &[("home", Host::Registry.lan_ip())])
            .unwrap();
        assert_eq!(dns.fqdn("home"), NAME);
        // Alice and bob ask the lab's DNS, each through its own NAT.
        for host in [Host::Alice, Host::Bob] {
            lab.use_resolver(host, name_server_ip(host)).unwrap();
        }

        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let options = ServiceOptions {
            registry_endpoint_name: Some(format!("{NAME}:{}", lab.listen_port(Host::Registry))),
            ..Default::default()
        };
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        wait_direct(lab, "alice and bob direct before the move");
        // The name is watched from the start, and says what it gives.
        wait_until_ok(STEP, "alice's service says what the name gives", || {
            Ok(lab.log(&alice.process).contains(&format!(
                "named endpoint, {NAME}:{}, which gives [{}]",
                lab.listen_port(Host::Registry),
                Host::Registry.lan_ip()
            )))
        })
        .unwrap();
        let before = lab.registry_endpoint();

        lab.move_registry(MOVED_TO).unwrap();
        dns.set(lab, "home", MOVED_TO).unwrap();
        let changed = Instant::now();
        let changed_at = SystemTime::now();
        let moved = lab.registry_endpoint();
        assert_ne!(moved, before);

        let mut regained = [Duration::ZERO; 2];
        for (i, host) in [Host::Alice, Host::Bob].into_iter().enumerate() {
            wait_until_ok(
                Duration::from_secs(120),
                &format!("{host} has the registry back at {moved}"),
                || lab.has_registry_since(host, changed_at),
            )
            .unwrap();
            regained[i] = changed.elapsed();
        }
        let slowest = regained[0].max(regained[1]);
        eprintln!(
            "registry regained after the DNS change: alice {:.1} s, bob {:.1} s (target ≤ {} s)",
            regained[0].as_secs_f64(),
            regained[1].as_secs_f64(),
            TARGET.as_secs()
        );
        assert!(
            slowest <= TARGET,
            "the registry came back {:.1} s after the DNS change, over the {} s target",
            slowest.as_secs_f64(),
            TARGET.as_secs()
        );

        // How it went, in alice's service's words.
        for line in lab.log(&alice.process).lines() {
            if line.contains("registry peer") {
                eprintln!("alice's service: {line}");
            }
        }

        // The registry sees them from their NATs again, and they still reach each other.
        wait_until_ok(STEP, "alice pings bob after the move", || {
            let _ = ping(lab, Host::Bob, Host::Alice);
            Ok(ping(lab, Host::Alice, Host::Bob))
        })
        .unwrap();

        // What a user of `punchwire events` or the window sees.
        for service in [&alice, &bob] {
            let events = recent_events(&service.socket);
            let moved_event = events
                .iter()
                .find(|e| e["type"] == "registry-moved")
                .unwrap_or_else(|| panic!("no registry-moved event: {events:?}"));
            assert_eq!(moved_event["new"], moved.to_string(), "{moved_event}");
            assert_eq!(moved_event["old"], before.to_string(), "{moved_event}");
            assert_eq!(moved_event["peer"], key(lab, Host::Registry));
            assert_eq!(moved_event["name"], "registry");
            assert_eq!(
                moved_event["host"],
                format!("{NAME}:{}", lab.listen_port(Host::Registry))
            );
        }
    });
    let resolver_dirs =
        [Host::Alice, Host::Bob].map(|h| Path::new("/etc/netns").join(lab.namespace(h)));
    lab.shutdown().expect("the lab tears down");
    for dir in resolver_dirs {
        assert!(!dir.exists(), "{} is removed with the lab", dir.display());
    }
}

//! Relay through the registry in the NAT lab, with the real binaries: when no direct
//! path can work, the peers' tunnel addresses go through the registry peer, the status
//! says "relayed via registry" and why, and the user's AllowedIPs come back exactly as
//! they were when the service stops, after a `kill -9` mid-relay, and when a direct
//! handshake succeeds.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use punchwire_lab::{wait_for, wait_until, Host, Lab, NatBehaviour, Node, ServiceOptions, Spawned};

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, key, peer_status, ping, recent_events, STEP};

/// The host's WireGuard configuration as `wg showconf` prints it, without the
/// endpoints (those are discovery's to change, relay or not), its peers sorted by key:
/// wireguard-go lists them in no fixed order, whatever anyone changed.
fn configuration(lab: &Lab, host: Host) -> String {
    let iface = lab.host(host).iface.clone();
    let shown = lab.exec(host, &["wg", "showconf", &iface]).unwrap();
    let mut sections: Vec<String> = shown
        .split("\n\n")
        .map(|section| {
            section
                .lines()
                .filter(|l| !l.starts_with("Endpoint"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    // The [Interface] section first, then the peers by key.
    sections[1..].sort();
    sections.join("\n\n")
}

/// Waits until the service at `socket` says `peer` is relayed; its health text.
fn wait_relayed(socket: &Path, peer: &str, what: &str) -> String {
    let (text, took) = wait_for(STEP, what, || {
        let health = &peer_status(socket, peer)["health"];
        Ok((health["state"] == "relayed").then(|| health["text"].as_str().unwrap().to_owned()))
    })
    .unwrap();
    eprintln!("{what}: after {took:?}");
    text
}

/// The registry device's IPv4 forwarding switch, and whether Punchwire's rules are in
/// the registry host's FORWARD chain.
fn registry_forwarding(lab: &Lab) -> (String, bool) {
    let iface = lab.host(Host::Registry).iface.clone();
    let key = format!("net.ipv4.conf.{iface}.forwarding");
    let forwarding = lab.exec(Host::Registry, &["sysctl", "-n", &key]).unwrap();
    let rules = lab
        .exec(Host::Registry, &["iptables", "-S", "FORWARD"])
        .unwrap();
    (
        forwarding.trim().to_owned(),
        rules.contains("punchwire-relay"),
    )
}

/// SIGTERM, and waits for the process to exit.
fn terminate(lab: &Lab, process: &Spawned, what: &str) {
    let term = Command::new("kill")
        .args(["-TERM", &process.pid.to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    wait_for(Duration::from_secs(10), what, || lab.try_wait(process)).unwrap();
}

fn relaying() -> ServiceOptions {
    ServiceOptions {
        relay: true,
        ..Default::default()
    }
}

/// Both ping until one gets through (each side's relay starts on its own).
fn wait_pings(lab: &Lab, what: &str) {
    wait_until(STEP, what, || {
        let _ = ping(lab, Host::Bob, Host::Alice);
        ping(lab, Host::Alice, Host::Bob)
    })
    .unwrap();
}

#[test]
fn peers_behind_symmetric_nats_are_relayed_and_their_allowed_ips_come_back() {
    if !punchwire_lab::can_run("relay through the registry") {
        return;
    }
    let lab = Lab::builder()
        .nat_a(NatBehaviour::Symmetric)
        .nat_b(NatBehaviour::Symmetric)
        .build()
        .expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let before = [Host::Alice, Host::Bob].map(|h| configuration(lab, h));
        assert_eq!(registry_forwarding(lab), ("0".to_owned(), false));
        let registry = lab.start_relaying_registry(bin()).unwrap();
        assert_eq!(registry_forwarding(lab), ("1".to_owned(), true));
        let alice = lab.start_service(Host::Alice, bin(), &relaying()).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &relaying()).unwrap();

        let text = wait_relayed(
            &alice.socket,
            &key(lab, Host::Bob),
            "alice's service says bob is relayed",
        );
        assert!(text.starts_with("relayed via registry for "), "{text}");
        assert!(text.contains("no handshake"), "{text}");
        wait_relayed(
            &bob.socket,
            &key(lab, Host::Alice),
            "bob's service says alice is relayed",
        );
        wait_pings(lab, "alice pings bob through the registry");
        // The status still shows bob's own tunnel address, not the empty list the
        // device holds for him meanwhile.
        let bob_seen = peer_status(&alice.socket, &key(lab, Host::Bob));
        assert_eq!(bob_seen["tunnel_ips"], serde_json::json!(["10.99.0.3/32"]));
        // And the registry peer its own alone, though the device lists bob's there too.
        let registry_seen = peer_status(&alice.socket, &key(lab, Host::Registry));
        assert_eq!(
            registry_seen["tunnel_ips"],
            serde_json::json!(["10.99.0.1/32"])
        );
        let started = recent_events(&alice.socket, "relay-started");
        assert_eq!(started.len(), 1, "{started:?}");
        assert_eq!(started[0]["peer"], key(lab, Host::Bob));
        assert!(
            started[0]["because"]
                .as_str()
                .unwrap()
                .contains("no handshake"),
            "{started:?}"
        );
        assert_ne!(configuration(lab, Host::Alice), before[0]);

        // A graceful stop gives alice's AllowedIPs back.
        terminate(lab, &alice.process, "alice's service exits");
        assert_eq!(configuration(lab, Host::Alice), before[0]);

        // Bob's service dies mid-relay: his device still relays alice...
        lab.stop(&bob.process).unwrap(); // SIGKILL
        assert_ne!(configuration(lab, Host::Bob), before[1]);
        // ...until it starts again, now with relay off: the record it left puts back
        // what was there. (Its dead socket file would fool the lab's wait for the new one.)
        std::fs::remove_file(&bob.socket).unwrap();
        let bob = lab
            .start_service(Host::Bob, bin(), &ServiceOptions::default())
            .unwrap();
        wait_until(STEP, "bob's AllowedIPs are as before the relay", || {
            configuration(lab, Host::Bob) == before[1]
        })
        .unwrap();
        let undone = recent_events(&bob.socket, "relay-undone");
        assert_eq!(undone.len(), 1, "{undone:?}");
        assert_eq!(
            undone[0]["why"],
            "the service had ended without undoing its relay"
        );

        // The registry's forwarding goes with it.
        terminate(lab, &registry, "the registry exits");
        assert_eq!(registry_forwarding(lab), ("0".to_owned(), false));
    });
}

/// A firewall on the way blocks the direct path: the peers are relayed; once it is
/// lifted, the keepalives complete a direct handshake and each peer gets its own
/// addresses back.
#[test]
fn a_relayed_peer_goes_direct_again_when_the_path_opens() {
    if !punchwire_lab::can_run("relay ends with a direct handshake") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let before = [Host::Alice, Host::Bob].map(|h| configuration(lab, h));
        let a = lab.nat_public_ip(Host::Alice).to_string();
        let b = lab.nat_public_ip(Host::Bob).to_string();
        let block = |action: &str| {
            for (from, to) in [(&a, &b), (&b, &a)] {
                lab.exec(
                    Node::Inet,
                    &[
                        "iptables", action, "FORWARD", "-s", from, "-d", to, "-j", "DROP",
                    ],
                )
                .unwrap();
            }
        };
        block("-I");
        let _registry = lab.start_relaying_registry(bin()).unwrap();
        let alice = lab.start_service(Host::Alice, bin(), &relaying()).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &relaying()).unwrap();
        wait_relayed(
            &alice.socket,
            &key(lab, Host::Bob),
            "alice's service says bob is relayed",
        );
        wait_relayed(
            &bob.socket,
            &key(lab, Host::Alice),
            "bob's service says alice is relayed",
        );
        wait_pings(lab, "alice pings bob through the registry");

        block("-D");
        wait_until(STEP, "alice's service says bob is direct again", || {
            peer_status(&alice.socket, &key(lab, Host::Bob))["health"]["state"] == "direct"
        })
        .unwrap();
        wait_until(STEP, "both have their own AllowedIPs back", || {
            configuration(lab, Host::Alice) == before[0]
                && configuration(lab, Host::Bob) == before[1]
        })
        .unwrap();
        let ended = recent_events(&alice.socket, "relay-ended");
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0]["why"], "a direct handshake completed");
        // Direct now: the registry no longer carries bob's traffic.
        let through_registry = lab.counters(Host::Registry, Host::Bob).unwrap();
        wait_pings(lab, "alice pings bob directly");
        assert!(ping(lab, Host::Alice, Host::Bob));
        let after = lab.counters(Host::Registry, Host::Bob).unwrap();
        assert!(
            after.tx - through_registry.tx < 1000,
            "pings still went through the registry: {through_registry:?} → {after:?}"
        );
    });
}

//! Moves in the NAT lab, with the real binaries and the service's defaults: a peer whose
//! NAT re-maps it is followed within seconds although the old path's handshake is still
//! young, and a working tunnel on an endpoint the registry does not publish is left
//! alone.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{wait_for, wait_until, Host, Lab, ServiceOptions};

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, key, ping, wait_direct, STEP};

/// The port alice's NAT maps everything to after her move.
const MOVED_PORT: u16 = 45000;
/// The port bob's router forwards to bob, in the test where bob has one.
const FORWARDED_PORT: u16 = 47000;

/// The reasons of the decisions `socket`'s service took about `peer`, oldest first.
fn decisions(socket: &Path, peer: &str) -> Vec<String> {
    control(socket, ControlCommand::RecentEvents)["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "decision" && e["peer"] == peer)
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_peer_whose_nat_moved_is_followed_though_its_handshake_is_young() {
    if !punchwire_lab::can_run("a NAT move") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let options = ServiceOptions::default();
        let _alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        wait_direct(lab, "alice pings bob directly");
        let nat = Host::Alice.nat().unwrap();
        let old = lab.endpoint_of(Host::Bob, Host::Alice).unwrap();

        lab.move_nat_port(nat, MOVED_PORT).unwrap();

        // Well within the 150 s for which the old path's handshake counts as fresh.
        let moved = SocketAddr::from((nat.public_ip(), MOVED_PORT));
        let (_, took) = wait_for(STEP, "bob follows alice to her new mapping", || {
            Ok(lab
                .endpoint_of(Host::Bob, Host::Alice)?
                .filter(|ep| *ep == moved))
        })
        .unwrap();
        wait_until(STEP, "alice reaches bob again", || {
            ping(lab, Host::Alice, Host::Bob)
        })
        .unwrap();
        let said = decisions(&bob.socket, &key(lab, Host::Alice));
        let reason = format!(
            "moved: the registry's answer left {}",
            old.expect("bob had alice's endpoint")
        );
        assert!(said.contains(&reason), "{said:?}");
        eprintln!("alice's move followed in {took:?}");
    });
}

#[test]
fn a_working_tunnel_on_an_endpoint_the_registry_does_not_publish_is_left_alone() {
    if !punchwire_lab::can_run("a tunnel the registry does not describe") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        // bob's router forwards a port to him: alice reaches him there, while the
        // registry publishes the mapping bob's own packets made.
        let nat = Host::Bob.nat().unwrap();
        lab.forward_port(nat, FORWARDED_PORT).unwrap();
        let forwarded = SocketAddr::from((nat.public_ip(), FORWARDED_PORT));
        lab.set_endpoint_by_hand(Host::Alice, Host::Bob, forwarded)
            .unwrap();
        wait_until(STEP, "alice reaches bob through the forwarded port", || {
            ping(lab, Host::Alice, Host::Bob)
        })
        .unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let published = SocketAddr::from((nat.public_ip(), lab.listen_port(Host::Bob)));
        assert_eq!(
            lab.endpoint_of(Host::Registry, Host::Bob).unwrap(),
            Some(published)
        );

        // Full passes every 2 s: the window below sees several.
        let options = ServiceOptions {
            interval: Duration::from_secs(2),
            ..ServiceOptions::default()
        };
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob_key = key(lab, Host::Bob);
        wait_until(STEP, "alice's service decides about bob", || {
            !decisions(&alice.socket, &bob_key).is_empty()
        })
        .unwrap();
        let window = Instant::now();
        while window.elapsed() < options.interval * 5 {
            assert_eq!(
                lab.endpoint_of(Host::Alice, Host::Bob).unwrap(),
                Some(forwarded),
                "a working endpoint was replaced"
            );
            assert!(ping(lab, Host::Alice, Host::Bob), "the tunnel broke");
        }
        assert_eq!(
            decisions(&alice.socket, &bob_key),
            ["fresh-handshake"],
            "told once, never changed"
        );
    });
}

#[test]
fn a_new_address_on_this_machine_is_noticed_and_every_peer_looked_up_again() {
    if !punchwire_lab::can_run("a local network change") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let options = ServiceOptions::default();
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let _bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        wait_direct(lab, "alice pings bob directly");

        lab.add_host_address(Host::Alice, "192.168.1.3".parse().unwrap())
            .unwrap();

        let said = |what: &str| {
            control(&alice.socket, ControlCommand::RecentEvents)["events"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["type"] == "network-changed" && e["what"] == what)
        };
        wait_until(STEP, "alice's service tells the new address", || {
            said("192.168.1.3/24 came up")
        })
        .unwrap();
        assert!(
            !said("192.168.1.2/24 came up"),
            "an address alice had from the start is no change"
        );
        wait_direct(lab, "alice still reaches bob");
    });
}

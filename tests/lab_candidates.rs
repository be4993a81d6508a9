//! Candidates in the NAT lab, with the real binaries: alice's service registers her own
//! addresses (her LAN address with her listen port) with the registry by DNS UPDATE over
//! her tunnel, and any peer sees them with `dig`, as the design's records table says;
//! when alice gains an address, the registry has it within seconds. Two peers behind
//! one router that does not hairpin meet over its LAN, on those candidates.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{wait_until, Host, Lab, Nat, ServiceOptions, ZONE};

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, ping, wait_direct, STEP};

/// The decisions a service told, in words.
fn decisions(socket: &Path) -> Vec<String> {
    let recent = control(socket, ControlCommand::RecentEvents);
    recent["events"]
        .as_array()
        .expect("a list of events")
        .iter()
        .filter(|e| e["type"] == "decision")
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect()
}

/// What bob's `dig` says of alice's candidates: the SRV's port and target, and the
/// addresses in its additional section.
fn alice_candidates_seen_by_bob(lab: &Lab, name: &str) -> (Vec<String>, Vec<Ipv4Addr>) {
    let srv = lab.dig(Host::Bob, &[name, "SRV", "+short"]).unwrap();
    let a = lab.dig(Host::Bob, &[name, "A", "+short"]).unwrap();
    let mut addresses: Vec<Ipv4Addr> = a.lines().filter_map(|l| l.trim().parse().ok()).collect();
    addresses.sort();
    (
        srv.lines().map(|l| l.trim().to_owned()).collect(),
        addresses,
    )
}

#[test]
fn a_peer_registers_its_lan_address_and_a_new_one_is_registered_by_itself() {
    if !punchwire_lab::can_run("candidates registered by DNS UPDATE") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let alice = lab
            .start_service(Host::Alice, bin(), &ServiceOptions::default())
            .unwrap();

        let label = lab.host(Host::Alice).public_key.to_dns_label();
        let name = format!("_candidates.{label}._wireguard._udp.{ZONE}");
        let port = lab.listen_port(Host::Alice);
        let lan = lab.host(Host::Alice).lan_ip;
        wait_until(
            STEP,
            "bob sees alice's LAN address as her candidate",
            || {
                alice_candidates_seen_by_bob(lab, &name)
                    == (vec![format!("0 0 {port} {name}")], vec![lan])
            },
        )
        .unwrap();

        // What wgsd clients ask is untouched: alice's instance is still her NAT mapping.
        let instance = format!("{label}._wireguard._udp.{ZONE}");
        let mapped = lab.dig(Host::Bob, &[&instance, "A", "+short"]).unwrap();
        assert_eq!(mapped.trim(), lab.nat_public_ip(Host::Alice).to_string());

        // Alice's machine gains an address: registered again without being asked.
        let extra = Ipv4Addr::new(192, 168, 1, 77);
        lab.add_host_address(Host::Alice, extra).unwrap();
        wait_until(STEP, "bob sees alice's new address too", || {
            alice_candidates_seen_by_bob(lab, &name).1 == vec![lan, extra]
        })
        .unwrap();

        // Her service said so, each time, in its events (told once the registry
        // answered, a moment after dig could see it).
        let registered = || -> Vec<serde_json::Value> {
            let recent = control(&alice.socket, ControlCommand::RecentEvents);
            recent["events"]
                .as_array()
                .expect("a list of events")
                .iter()
                .filter(|e| e["type"] == "candidates-registered")
                .cloned()
                .collect()
        };
        let both = serde_json::json!([format!("{lan}:{port}"), format!("{extra}:{port}")]);
        wait_until(STEP, "alice's service tells both registrations", || {
            let told = registered();
            told.len() >= 2 && told.last().is_some_and(|e| e["candidates"] == both)
        })
        .unwrap();
        let told = registered();
        assert_eq!(told[0]["registry"], "10.99.0.1:53");
        assert_eq!(
            told[0]["candidates"],
            serde_json::json!([format!("{lan}:{port}")])
        );
    });
}

/// Bob carries his laptop into alice's home: both now leave through alice's router,
/// which does not hairpin, so bob's NAT mapping as the registry sees it cannot work
/// from alice. Their candidates do: they share a public address, so each one's LAN
/// address is tried first, and the tunnel is direct over the LAN.
#[test]
fn two_peers_behind_one_router_meet_on_its_lan() {
    if !punchwire_lab::can_run("two peers behind one router") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let options = ServiceOptions::default();
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        wait_direct(lab, "alice and bob are direct through their own routers");

        let bob_lan = Ipv4Addr::new(192, 168, 1, 3);
        lab.join_lan(Host::Bob, Nat::A, bob_lan).unwrap();
        let bob_there = SocketAddr::new(bob_lan.into(), lab.listen_port(Host::Bob));
        let took = wait_until(STEP, "alice reaches bob over her LAN", || {
            let _ = ping(lab, Host::Bob, Host::Alice);
            ping(lab, Host::Alice, Host::Bob)
                && lab.endpoint_of(Host::Alice, Host::Bob).ok().flatten() == Some(bob_there)
        })
        .unwrap();
        eprintln!("direct over the LAN {took:?} after bob joined it");
        // The registry sees bob behind alice's public address now: that mapping is what
        // a peer without candidates would be left with, and alice's router drops it.
        let (seen, _) =
            punchwire_lab::wait_for(STEP, "the registry sees bob's new mapping", || {
                Ok(lab.endpoint_of(Host::Registry, Host::Bob)?.filter(|seen| {
                    seen.ip() == std::net::IpAddr::V4(lab.nat_public_ip(Host::Alice))
                }))
            })
            .unwrap();
        assert_ne!(seen, bob_there);

        // The services said which way: one of them tried the other's LAN address.
        let told: Vec<String> = [&alice.socket, &bob.socket]
            .into_iter()
            .flat_map(|socket| decisions(socket))
            .collect();
        assert!(
            told.iter()
                .any(|reason| reason.starts_with("trying its LAN address 192.168.1.")),
            "{told:?}"
        );
    });
}

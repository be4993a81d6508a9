//! Candidates in the NAT lab, with the real binaries: alice's service registers her own
//! addresses (her LAN address with her listen port) with the registry by DNS UPDATE over
//! her tunnel, and any peer sees them with `dig`, as the design's records table says;
//! when alice gains an address, the registry has it within seconds.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{wait_until, Host, Lab, ServiceOptions, ZONE};

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, STEP};

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

        // Her service said so, each time, in its events.
        let recent = control(&alice.socket, ControlCommand::RecentEvents);
        let registered: Vec<&serde_json::Value> = recent["events"]
            .as_array()
            .expect("a list of events")
            .iter()
            .filter(|e| e["type"] == "candidates-registered")
            .collect();
        assert!(registered.len() >= 2, "{recent}");
        assert_eq!(registered[0]["registry"], "10.99.0.1:53");
        assert_eq!(
            registered.last().unwrap()["candidates"],
            serde_json::json!([format!("{lan}:{port}"), format!("{extra}:{port}")])
        );
    });
}

//! A first run in the NAT lab, with the real binaries only: alice's service starts with a
//! configuration that names no interface. It offers alice's interface, says why no
//! registry is found while none runs, and once a client enables the interface through
//! the control socket — no zone, no registry given — it finds both and bob becomes
//! direct.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default).
#![cfg(target_os = "linux")]

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{wait_for, Host, Lab, ServiceOptions, ZONE};
use serde_json::{json, Value};

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, key, try_control, wait_direct, STEP};

/// What alice's status offers for her interface, once `ready` says it is what the test
/// waits for.
fn offered(socket: &std::path::Path, iface: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let (offer, _) = wait_for(STEP, "alice's status offers her interface", || {
        let status = control(socket, ControlCommand::Status);
        let listed = status["unconfigured"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = listed.iter().filter_map(|u| u["name"].as_str()).collect();
        // The other hosts' interfaces share the machine's UAPI socket directory, but not
        // alice's network namespace: they are not hers to offer.
        assert_eq!(names, [iface], "only alice's own interface: {status}");
        Ok(listed
            .into_iter()
            .find(|u| u["name"] == iface && ready(&u["discovery"])))
    })
    .unwrap();
    offer
}

fn recent_events(socket: &std::path::Path) -> Vec<Value> {
    let recent = control(socket, ControlCommand::RecentEvents);
    recent["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_first_run_is_set_up_through_the_control_socket_with_nothing_typed() {
    if !punchwire_lab::can_run("first run through the control socket") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let iface = lab.host(Host::Alice).iface.clone();
        let first_run = ServiceOptions {
            first_run: true,
            ..Default::default()
        };
        let alice = lab.start_service(Host::Alice, bin(), &first_run).unwrap();
        let _bob = lab
            .start_service(Host::Bob, bin(), &ServiceOptions::default())
            .unwrap();

        // No registry runs yet: the offer says what was tried, and the error is kept.
        let status = control(&alice.socket, ControlCommand::Status);
        assert_eq!(status["interfaces"], json!([]), "{status}");
        assert_eq!(status["proposed_registry_zone"], "punchwire.home.arpa.");
        let offer = offered(&alice.socket, &iface, |d| d["kind"] == "not-found");
        let error = offer["discovery"]["text"].as_str().unwrap();
        assert!(
            error.contains("10.99.0.1:53") && error.contains("b._dns-sd._udp"),
            "the error says whom it asked, and what: {error}"
        );
        assert_eq!(offer["peers"], 2, "{offer}");

        // Enabled while nothing answers: the interface keeps looking by itself.
        let read = control(&alice.socket, ControlCommand::GetConfig);
        let mut config = read["config"].clone();
        config["interface"] = json!([{ "name": iface }]);
        let revision = read["revision"].as_str().unwrap().to_owned();
        try_control(
            &alice.socket,
            ControlCommand::SetConfig { config, revision },
        )
        .expect("the interface alone is a configuration the service takes");
        let written = std::fs::read_to_string(&alice.config).unwrap();
        assert!(
            written.contains(&format!("name = \"{iface}\""))
                && !written.contains("zone")
                && !written.contains("registries"),
            "the file holds the interface alone:\n{written}"
        );

        wait_for(
            STEP,
            "alice's interface says no registry answered yet",
            || {
                let status = control(&alice.socket, ControlCommand::Status);
                let discovery = &status["interfaces"][0]["discovery"];
                Ok((discovery["kind"] == "not-found").then_some(()))
            },
        )
        .unwrap();

        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
        let (set, _) = wait_for(STEP, "alice's endpoint for bob is set", || {
            lab.endpoint_of(Host::Alice, Host::Bob)
        })
        .unwrap();
        assert_eq!(set, bob_seen, "alice uses bob's NAT mapping");
        wait_direct(lab, "alice pings bob directly");

        // The status says what was found and from where, and bob is direct.
        let bob_key = key(lab, Host::Bob);
        let (status, _) = wait_for(STEP, "alice's status shows bob direct", || {
            let status = control(&alice.socket, ControlCommand::Status);
            let bob_direct = status["interfaces"][0]["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["public_key"] == bob_key && p["health"]["state"] == "direct");
            Ok(bob_direct.then_some(status))
        })
        .unwrap();
        let shown = &status["interfaces"][0];
        assert_eq!(shown["zone"], ZONE, "{shown}");
        assert_eq!(
            shown["discovery"],
            json!({"kind": "found", "registries": ["10.99.0.1:53"], "zone": ZONE,
                   "text": format!("registry 10.99.0.1, zone {ZONE}")}),
        );
        assert_eq!(shown["registries"][0]["address"], "10.99.0.1:53");
        assert_eq!(status["unconfigured"], json!([]), "{status}");

        // A window opened now shows how it went, each step time-stamped.
        let events = recent_events(&alice.socket);
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        let position = |kind: &str| {
            kinds
                .iter()
                .position(|k| *k == kind)
                .unwrap_or_else(|| panic!("no {kind} among the recent events: {kinds:?}"))
        };
        assert!(position("registries-not-found") < position("registries-found"));
        assert!(position("registries-found") < position("endpoint-changed"));
        assert!(
            events.iter().all(|e| e["at"].as_u64().is_some()),
            "{events:?}"
        );
    });
}

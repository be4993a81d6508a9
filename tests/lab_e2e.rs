//! End to end in the NAT lab, with the real binaries only: `punchwire registry` on the
//! registry, `punchwire service` on alice and bob, no endpoint set by the test. Each
//! test proves what a user would see; on failure the lab prints `wg show` of every
//! host, the NATs' conntrack and iptables, and the programs' logs.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use punchwire_control::client::ControlClient;
use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{
    wait_for, wait_until, Host, Lab, NatBehaviour, Node, RunningService, ServiceOptions, ZONE,
};
use serde_json::Value;

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, key, peer_status, ping, wait_direct, STEP};

/// What `dig NAME PTR` prints when asked from the simulated internet of the registry's
/// public address (where the tests start it, port 5353).
fn dig_from_outside(lab: &Lab, name: &str) -> String {
    let out = lab
        .try_exec(
            Node::Inet,
            &[
                "dig",
                "@192.0.2.10",
                "-p",
                "5353",
                "+time=2",
                "+tries=1",
                name,
                "PTR",
            ],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn registry_bytes(lab: &Lab) -> u64 {
    lab.counters(Host::Registry, Host::Alice).unwrap().total()
        + lab.counters(Host::Registry, Host::Bob).unwrap().total()
}

/// Collects a service's control events on a thread of its own.
struct EventLog {
    events: Arc<Mutex<Vec<Value>>>,
}

impl EventLog {
    fn follow(socket: &Path) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&events);
        let socket = socket.to_owned();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut client = ControlClient::connect(&socket).await.expect("connect");
                client.subscribe().await.expect("subscribe");
                ready_tx.send(()).unwrap();
                while let Ok(event) = client.next_event().await {
                    sink.lock().unwrap().push(event);
                }
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed to the service's events");
        Self { events }
    }

    fn matching(&self, kind: &str, peer: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind && e["peer"] == peer)
            .cloned()
            .collect()
    }
}

#[test]
fn the_registry_answers_dig_over_the_tunnel_and_ignores_outsiders() {
    if !punchwire_lab::can_run("registry over the tunnel") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        // Also on its public address, to prove that a source outside every peer's
        // AllowedIPs gets no answer there (an answer would make it a reflector).
        let _registry = lab.start_registry(bin(), &["192.0.2.10:5353"]).unwrap();

        // As the seed article does it: list, then resolve one instance.
        let listing = lab
            .dig(
                Host::Alice,
                &[&format!("_wireguard._udp.{ZONE}"), "PTR", "+short"],
            )
            .unwrap();
        let labels: Vec<&str> = listing
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels.len(), 2, "alice and bob are listed: {listing}");
        let bob = lab.host(Host::Bob).public_key;
        let instance = labels
            .iter()
            .find(|l| l.starts_with(&bob.to_dns_label()))
            .unwrap_or_else(|| panic!("bob's label in {listing}"));
        let srv = lab.dig(Host::Alice, &[instance, "SRV", "+short"]).unwrap();
        let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
        assert_eq!(
            srv.trim(),
            format!("0 0 {} {instance}", bob_seen.port()),
            "SRV"
        );
        let a = lab.dig(Host::Alice, &[instance, "A", "+short"]).unwrap();
        assert_eq!(a.trim(), bob_seen.ip().to_string(), "A is bob's NAT");

        // The label decodes back to bob's key with coreutils alone.
        let label = instance.split('.').next().unwrap();
        let decoded = lab
            .exec(
                Host::Alice,
                &[
                    "sh",
                    "-c",
                    &format!("echo {label} | tr a-z A-Z | base32 -d | base64"),
                ],
            )
            .unwrap();
        assert_eq!(decoded.trim(), bob.to_base64());

        // From the simulated internet: not a tunnel peer, no answer.
        let text = dig_from_outside(lab, &format!("_wireguard._udp.{ZONE}"));
        assert!(
            text.contains("timed out") && !text.contains("status:"),
            "{text}"
        );
    });
}

/// A user who gives only the interface: `punchwire client --device wg --once` finds the
/// registry among its peers and the zone from the registry's RFC 6763 §11 answer, says
/// so, and sets bob's endpoint. From outside the tunnel the same question gets nothing.
#[test]
fn the_client_needs_only_the_interface() {
    if !punchwire_lab::can_run("client with the interface alone") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &["192.0.2.10:5353"]).unwrap();

        let browse = "b._dns-sd._udp.1.0.99.10.in-addr.arpa";
        let named = lab.dig(Host::Alice, &[browse, "PTR", "+short"]).unwrap();
        assert_eq!(
            named.trim(),
            ZONE,
            "the registry names its zone over the tunnel"
        );
        let text = dig_from_outside(lab, "b._dns-sd._udp.10.2.0.192.in-addr.arpa");
        assert!(
            text.contains("timed out") && !text.contains("status:"),
            "an outsider learns no zone: {text}"
        );

        let iface = lab.host(Host::Alice).iface.clone();
        let bin = bin().to_string_lossy().into_owned();
        let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
        let (run, _) = wait_for(STEP, "the client sets bob's endpoint", || {
            let run = lab.try_exec(Host::Alice, &[&bin, "client", "--device", &iface, "--once"])?;
            Ok(run.status.success().then_some(run))
        })
        .unwrap();
        let said = String::from_utf8_lossy(&run.stderr);
        assert!(
            said.contains(&format!("found: registry 10.99.0.1:53 serving zone {ZONE}")),
            "the client says what it found: {said}"
        );
        assert_eq!(
            lab.endpoint_of(Host::Alice, Host::Bob).unwrap(),
            Some(bob_seen)
        );
    });
}

/// The main path: discovery alone makes a direct tunnel; the events say so; the
/// tunnel survives a registry outage and comes back by itself after bob's NAT mapping
/// changes; SIGTERM leaves every endpoint in place.
#[test]
fn discovery_makes_a_direct_tunnel_and_keeps_it() {
    if !punchwire_lab::can_run("discovery end to end") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let registry = lab.start_registry(bin(), &[]).unwrap();
        // A short threshold so a changed mapping is taken within seconds, not minutes.
        let options = ServiceOptions {
            handshake_threshold: Duration::from_secs(10),
            paused: true,
            ..Default::default()
        };
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        assert_eq!(
            lab.endpoint_of(Host::Alice, Host::Bob).unwrap(),
            None,
            "paused: nothing set"
        );

        let events = EventLog::follow(&alice.socket);
        for service in [&alice, &bob] {
            control(&service.socket, ControlCommand::Resume { interface: None });
        }
        let bob_key = key(lab, Host::Bob);
        let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
        let (set, _) = wait_for(STEP, "alice's endpoint for bob is set", || {
            lab.endpoint_of(Host::Alice, Host::Bob)
        })
        .unwrap();
        assert_eq!(
            set, bob_seen,
            "alice uses bob's NAT mapping as the registry sees it"
        );
        wait_direct(lab, "alice pings bob directly");

        // Direct: 20 KB between them, the registry's counters stay at keepalive level.
        let before = registry_bytes(lab);
        let out = lab
            .exec(
                Host::Alice,
                &[
                    "ping",
                    "-c",
                    "20",
                    "-i",
                    "0.05",
                    "-s",
                    "1000",
                    "-q",
                    "10.99.0.3",
                ],
            )
            .unwrap();
        assert!(out.contains(" 0% packet loss"), "{out}");
        assert!(
            registry_bytes(lab) - before < 5_000,
            "the registry carried the traffic"
        );

        // The events tell the story in order: the endpoint changed, then direct.
        wait_until(STEP, "alice's service reports bob direct", || {
            events
                .matching("peer-health-changed", &bob_key)
                .iter()
                .any(|e| e["to"] == "direct")
        })
        .unwrap();
        let changed = events.matching("endpoint-changed", &bob_key);
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0]["new"], bob_seen.to_string());
        assert_eq!(changed[0]["registry"], "10.99.0.1:53");
        assert!(!events.matching("decision", &bob_key).is_empty());
        let status = peer_status(&alice.socket, &bob_key);
        assert_eq!(status["health"]["state"], "direct", "{status}");
        assert_eq!(status["endpoint_source"], "registry", "{status}");
        // The name comes from the comment in the wg-quick file the lab wrote.
        assert_eq!(status["name"], "bob", "{status}");

        registry_outage(lab, &registry, &alice, &bob_key);
        mapping_change(lab);
        sigterm_keeps_endpoints(lab, &alice);
    });
}

/// The registry stops; no endpoint is lost and the direct tunnel keeps working; the
/// service reports the registry unreachable, then reachable when it returns.
fn registry_outage(
    lab: &Lab,
    registry: &punchwire_lab::Spawned,
    alice: &RunningService,
    bob_key: &str,
) {
    let outage = std::env::var("PUNCHWIRE_E2E_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let alice_ep = lab.endpoint_of(Host::Alice, Host::Bob).unwrap();
    let bob_ep = lab.endpoint_of(Host::Bob, Host::Alice).unwrap();
    lab.stop(registry).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(outage) {
        assert_eq!(
            lab.endpoint_of(Host::Alice, Host::Bob).unwrap(),
            alice_ep,
            "alice lost bob's endpoint"
        );
        assert_eq!(
            lab.endpoint_of(Host::Bob, Host::Alice).unwrap(),
            bob_ep,
            "bob lost alice's endpoint"
        );
        assert!(
            ping(lab, Host::Alice, Host::Bob),
            "the direct tunnel broke without the registry"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let link = &control(&alice.socket, ControlCommand::Status)["interfaces"][0]["registries"][0];
    assert_eq!(link["reachable"], false, "{link}");
    // Never "not direct" for want of a registry. With this test's 10 s handshake
    // threshold (the one threshold for both the policy and health), a working tunnel
    // reads "stale" between WireGuard's two-minute rekeys, so either is right here.
    let health = &peer_status(&alice.socket, bob_key)["health"];
    assert!(
        health["state"] == "direct" || health["state"] == "stale",
        "{health}"
    );

    let _registry = lab.start_registry(bin(), &[]).unwrap();
    wait_until(STEP, "alice's service sees the registry again", || {
        control(&alice.socket, ControlCommand::Status)["interfaces"][0]["registries"][0]
            ["reachable"]
            == true
    })
    .unwrap();
}

/// bob's WireGuard restarts on another port: a new NAT mapping. Both services pick it
/// up from the registry and the direct tunnel comes back with nobody's help.
fn mapping_change(lab: &Lab) {
    let old = lab.endpoint_of(Host::Alice, Host::Bob).unwrap().unwrap();
    lab.restart_wireguard(Host::Bob, 51999).unwrap();
    let (new, took) = wait_for(STEP, "alice follows bob's new mapping", || {
        Ok(lab
            .endpoint_of(Host::Alice, Host::Bob)?
            .filter(|ep| *ep != old))
    })
    .unwrap();
    assert_eq!(
        new,
        SocketAddr::new(IpAddr::V4(lab.nat_public_ip(Host::Bob)), new.port())
    );
    assert_eq!(
        Some(new),
        lab.endpoint_of(Host::Registry, Host::Bob).unwrap()
    );
    wait_direct(lab, "alice pings bob again after his mapping changed");
    eprintln!("mapping change followed in {took:?}");
}

/// SIGTERM is a graceful stop: the service exits 0 and every endpoint stays.
fn sigterm_keeps_endpoints(lab: &Lab, alice: &RunningService) {
    let before = lab.wg_dump(Host::Alice).unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &alice.process.pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, _) = wait_for(Duration::from_secs(10), "alice's service exits", || {
        lab.try_wait(&alice.process)
    })
    .unwrap();
    assert!(
        status.success(),
        "exit status {status}: {}",
        lab.log(&alice.process)
    );
    assert!(!alice.socket.exists(), "the control socket is removed");
    let after = lab.wg_dump(Host::Alice).unwrap();
    for peer in &before.peers {
        let now = after.peer(&peer.public_key).expect("no peer removed");
        assert_eq!(now.endpoint, peer.endpoint, "SIGTERM changed an endpoint");
        assert_eq!(now.allowed_ips, peer.allowed_ips);
    }
    assert!(
        ping(lab, Host::Alice, Host::Bob),
        "the tunnel outlives the service"
    );
}

/// Behind a symmetric NAT no hole can be punched. The service must say so, per peer,
/// and not keep changing the endpoint in a loop.
#[test]
fn symmetric_nat_ends_in_a_clear_reason_not_a_loop() {
    if !punchwire_lab::can_run("symmetric NAT") {
        return;
    }
    let lab = Lab::builder()
        .nat_b(NatBehaviour::Symmetric)
        .build()
        .expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(STEP).unwrap();
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let options = ServiceOptions {
            paused: true,
            ..Default::default()
        };
        let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
        let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
        let events = EventLog::follow(&alice.socket);
        for service in [&alice, &bob] {
            control(&service.socket, ControlCommand::Resume { interface: None });
        }
        let bob_key = key(lab, Host::Bob);
        let (reason, took) = wait_for(STEP, "alice's service reports bob not direct", || {
            let status = peer_status(&alice.socket, &bob_key);
            // Until the engine has tried, the reason is only "no endpoint yet".
            let health = &status["health"];
            Ok((health["reason"]["kind"] == "no-handshake-after-set")
                .then(|| health["text"].as_str().unwrap_or_default().to_owned()))
        })
        .unwrap();
        let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
        assert_eq!(
            reason,
            format!("no handshake followed endpoint {bob_seen} (symmetric NAT on either side?)")
        );
        // The event says so too, with the same words: the engine looks again at the end of
        // the pending window, within a poll of the status saying it.
        wait_until(STEP, "alice's service tells bob went not direct", || {
            events
                .matching("peer-health-changed", &bob_key)
                .iter()
                .any(|e| e["to"] == "not-direct" && e["text"] == reason.as_str())
        })
        .unwrap();
        assert!(
            !ping(lab, Host::Alice, Host::Bob),
            "no direct path is possible here"
        );

        // Watch as long again: the endpoint is not changed over and over.
        let watch_until = Instant::now() + took.max(Duration::from_secs(20));
        while Instant::now() < watch_until {
            std::thread::sleep(Duration::from_secs(1));
        }
        let changes = events.matching("endpoint-changed", &bob_key);
        assert!(
            changes.len() <= 1,
            "endpoint changed {} times: {changes:?}",
            changes.len()
        );
        let status = peer_status(&alice.socket, &bob_key);
        assert_eq!(status["health"]["state"], "not-direct", "{status}");
    });
}

//! The NAT grid (docs/lab.md): one test per way alice's and bob's networks can meet,
//! each with the outcome a user sees, with the real binaries only (`punchwire registry`
//! and `punchwire service`, nothing set by the test): a ping over the tunnel answered
//! or not, what each service's status says of the other peer, and which endpoint won.
//! easy·easy and both-behind-one-router are in lab_e2e and lab_candidates.
//!
//! Needs root (network namespaces); runs against the userspace WireGuard named by
//! PUNCHWIRE_LAB_WG (wireguard-go by default; scripts/test runs boringtun too).
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{
    wait_for, wait_until, Host, Lab, LabBuilder, Nat, NatBehaviour, Node, RunningService,
    ServiceOptions, CARRIER_SUBSCRIBER,
};
use serde_json::Value;

#[path = "common/lab_steps.rs"]
#[allow(dead_code)] // the steps of every lab test; this one takes a few
mod lab_steps;
use lab_steps::{bin, control, key, peer_status, ping, wait_direct, STEP};

/// A lab of `builder`'s shape, alice and bob through to the registry.
fn start(builder: LabBuilder) -> Lab {
    let lab = builder.build().expect("the lab builds");
    lab.wait_registry_handshakes(STEP).unwrap();
    lab
}

fn start_services(lab: &Lab) -> (RunningService, RunningService) {
    let options = ServiceOptions::default();
    let alice = lab.start_service(Host::Alice, bin(), &options).unwrap();
    let bob = lab.start_service(Host::Bob, bin(), &options).unwrap();
    (alice, bob)
}

/// Waits until `service`'s status says `peer` is direct, on `endpoint`.
fn wait_status_direct(lab: &Lab, service: &RunningService, peer: Host, endpoint: SocketAddr) {
    let peer_key = key(lab, peer);
    let what = format!(
        "{}'s service reports {peer} direct on {endpoint}",
        service.host
    );
    wait_until(STEP, &what, || {
        let status = peer_status(&service.socket, &peer_key);
        status["health"]["state"] == "direct" && status["endpoint"] == endpoint.to_string()
    })
    .unwrap();
}

/// Whether a ping from `node` to `target` gets an answer.
fn answers(lab: &Lab, node: Node, target: IpAddr) -> bool {
    let target = target.to_string();
    lab.try_exec(node, &["ping", "-c", "1", "-W", "1", &target])
        .is_ok_and(|o| o.status.success())
}

/// Both peers each on the public address of their own line, behind a stateful firewall
/// and no NAT: the firewall drops whatever nobody inside asked for, and each side's
/// first packet to the other opens the way for the other's.
#[test]
fn firewalled_both_sides_is_direct() {
    if !punchwire_lab::can_run("grid: firewalled and firewalled") {
        return;
    }
    let started = Instant::now();
    let lab = start(
        Lab::builder()
            .nat_a(NatBehaviour::Firewall)
            .nat_b(NatBehaviour::Firewall),
    );
    lab.with_diagnostics_on_panic(|lab| {
        // No NAT: the registry sees each peer at its own address, and nothing from the
        // internet reaches them unasked.
        for host in [Host::Alice, Host::Bob] {
            let own = lab.host(host).lan_ip;
            assert_eq!(lab.nat_public_ip(host), own);
            let seen = lab.endpoint_of(Host::Registry, host).unwrap().unwrap();
            assert_eq!(seen, SocketAddr::new(own.into(), lab.listen_port(host)));
            assert!(
                !answers(lab, Node::Inet, own.into()),
                "{host} is firewalled"
            );
        }
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let (alice, bob) = start_services(lab);
        let took = wait_direct(lab, "alice and bob ping each other through their firewalls");

        for (service, peer) in [(&alice, Host::Bob), (&bob, Host::Alice)] {
            let own = lab.host(peer).lan_ip;
            let endpoint = SocketAddr::new(own.into(), lab.listen_port(peer));
            assert_eq!(lab.endpoint_of(service.host, peer).unwrap(), Some(endpoint));
            wait_status_direct(lab, service, peer, endpoint);
        }
        eprintln!("direct {took:?} after the services started");
    });
    eprintln!("firewalled·firewalled took {:?}", started.elapsed());
}

/// Alice behind a symmetric NAT (a new port for every destination), bob behind the
/// usual home router: no hole can be punched. Each service says so in the same words,
/// and neither keeps changing the endpoint.
#[test]
fn symmetric_and_easy_is_not_direct_with_a_clear_reason() {
    if !punchwire_lab::can_run("grid: symmetric and easy") {
        return;
    }
    no_hole_can_be_punched(
        Lab::builder().nat_a(NatBehaviour::Symmetric),
        "symmetric·easy",
    );
}

/// Both behind symmetric NATs, relay off: the same clear reason on both sides (with relay
/// on they are relayed: `lab_relay`).
#[test]
fn symmetric_and_symmetric_without_relay_is_not_direct_with_a_clear_reason() {
    if !punchwire_lab::can_run("grid: symmetric and symmetric") {
        return;
    }
    no_hole_can_be_punched(
        Lab::builder()
            .nat_a(NatBehaviour::Symmetric)
            .nat_b(NatBehaviour::Symmetric),
        "symmetric·symmetric",
    );
}

/// Each service says in the same words that the other is not direct, and neither keeps
/// changing the endpoint.
fn no_hole_can_be_punched(builder: LabBuilder, cell: &str) {
    let started = Instant::now();
    let lab = start(builder);
    lab.with_diagnostics_on_panic(|lab| {
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let (alice, bob) = start_services(lab);
        let mut longest = Duration::ZERO;
        for (service, peer) in [(&alice, Host::Bob), (&bob, Host::Alice)] {
            let peer_key = key(lab, peer);
            let what = format!("{}'s service reports {peer} not direct", service.host);
            let (reason, took) = wait_for(STEP, &what, || {
                let health = &peer_status(&service.socket, &peer_key)["health"];
                // Until the engine has tried, the reason is only "no endpoint yet".
                Ok((health["reason"]["kind"] == "no-handshake-after-set")
                    .then(|| health["text"].as_str().unwrap_or_default().to_owned()))
            })
            .unwrap();
            let seen = lab.endpoint_of(Host::Registry, peer).unwrap().unwrap();
            assert_eq!(
                reason,
                format!("no handshake followed endpoint {seen} (symmetric NAT on either side?)")
            );
            longest = longest.max(took);
        }
        assert!(
            !ping(lab, Host::Alice, Host::Bob),
            "no direct path is possible here"
        );

        // Watch as long again: neither endpoint is changed over and over.
        let watch_until = Instant::now() + longest.max(Duration::from_secs(20));
        while Instant::now() < watch_until {
            std::thread::sleep(Duration::from_secs(1));
        }
        for (service, peer) in [(&alice, Host::Bob), (&bob, Host::Alice)] {
            let peer_key = key(lab, peer);
            let recent = control(&service.socket, ControlCommand::RecentEvents);
            let changes: Vec<&Value> = recent["events"]
                .as_array()
                .expect("a list of events")
                .iter()
                .filter(|e| e["type"] == "endpoint-changed" && e["peer"] == peer_key.as_str())
                .collect();
            assert!(changes.len() <= 1, "{}: {changes:?}", service.host);
            let status = peer_status(&service.socket, &peer_key);
            assert_eq!(status["health"]["state"], "not-direct", "{status}");
        }
    });
    eprintln!("{cell} took {:?}", started.elapsed());
}

/// A carrier-grade NAT in front of alice's home router: her packets are translated
/// twice, the carrier's public address is all the internet sees. Both NATs map
/// independently of the destination, so the mapping the registry sees is the one bob
/// reaches her at.
#[test]
fn double_nat_is_direct() {
    if !punchwire_lab::can_run("grid: double NAT") {
        return;
    }
    let started = Instant::now();
    let lab = start(Lab::builder().carrier_nat(Nat::A));
    lab.with_diagnostics_on_panic(|lab| {
        // Alice's flow to the registry crosses the carrier from her router's shared
        // address, and leaves with the carrier's public one.
        let seen = lab
            .endpoint_of(Host::Registry, Host::Alice)
            .unwrap()
            .unwrap();
        assert_eq!(seen.ip(), IpAddr::V4(Nat::A.public_ip()));
        let subscriber = CARRIER_SUBSCRIBER.to_string();
        let flows = lab
            .exec(
                Node::Carrier,
                &["conntrack", "-L", "-p", "udp", "--orig-src", &subscriber],
            )
            .unwrap();
        assert!(flows.contains("dport=51820"), "{flows}");

        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let (alice, bob) = start_services(lab);
        let took = wait_direct(lab, "alice and bob ping each other through three NATs");

        // Each ends on the other's NAT mapping as the registry sees it.
        for (service, peer) in [(&alice, Host::Bob), (&bob, Host::Alice)] {
            let seen = lab.endpoint_of(Host::Registry, peer).unwrap().unwrap();
            assert_eq!(seen.ip(), IpAddr::V4(lab.nat_public_ip(peer)));
            assert_eq!(lab.endpoint_of(service.host, peer).unwrap(), Some(seen));
            wait_status_direct(lab, service, peer, seen);
        }
        eprintln!("direct {took:?} after the services started");
    });
    eprintln!("double NAT took {:?}", started.elapsed());
}

/// IPv6 everywhere, routed without NAT, each side behind its router's stateful
/// firewall; IPv4 as usual behind NAT. Each peer registers its global IPv6 address as
/// a candidate, and each tries the other's first: the tunnel is direct over IPv6.
#[test]
fn ipv6_behind_firewalls_is_direct_over_ipv6() {
    if !punchwire_lab::can_run("grid: IPv6 behind firewalls") {
        return;
    }
    let started = Instant::now();
    let lab = start(Lab::builder().ipv6());
    lab.with_diagnostics_on_panic(|lab| {
        let registry_v6 = IpAddr::V6(Host::Registry.ipv6());
        for host in [Host::Alice, Host::Bob] {
            let own = lab.host(host).ipv6.expect("an IPv6 address");
            assert!(
                answers(lab, host.into(), registry_v6),
                "{host} reaches {registry_v6}"
            );
            assert!(
                !answers(lab, Node::Inet, own.into()),
                "{host}'s IPv6 is firewalled"
            );
        }
        let _registry = lab.start_registry(bin(), &[]).unwrap();
        let (alice, bob) = start_services(lab);
        let v6 = |host: Host| {
            SocketAddr::new(lab.host(host).ipv6.unwrap().into(), lab.listen_port(host))
        };
        let took = wait_until(STEP, "alice and bob ping each other over IPv6", || {
            let _ = ping(lab, Host::Bob, Host::Alice);
            ping(lab, Host::Alice, Host::Bob)
                && lab.endpoint_of(Host::Alice, Host::Bob).ok().flatten() == Some(v6(Host::Bob))
                && lab.endpoint_of(Host::Bob, Host::Alice).ok().flatten() == Some(v6(Host::Alice))
        })
        .unwrap();

        for (service, peer) in [(&alice, Host::Bob), (&bob, Host::Alice)] {
            wait_status_direct(lab, service, peer, v6(peer));
            let peer_key = key(lab, peer);
            let won = format!("direct over its global IPv6 address {}", v6(peer));
            wait_until(
                STEP,
                &format!("{}'s service says which path won", service.host),
                || peer_status(&service.socket, &peer_key)["last_decision"] == won.as_str(),
            )
            .unwrap();
        }
        eprintln!("direct over IPv6 {took:?} after the services started");
    });
    eprintln!("IPv6 took {:?}", started.elapsed());
}

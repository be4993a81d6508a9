//! The lab proves itself: with endpoints set by hand, alice and bob talk directly
//! through endpoint-independent NATs and the registry carries nothing; through
//! symmetric NATs they cannot. Needs root; runs against the WireGuard implementation
//! named by PUNCHWIRE_LAB_WG (wireguard-go by default).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use punchwire_lab::{wait_until, Host, Lab, Nat, NatBehaviour, PREFIX, SOCKET_DIR};

const READY: Duration = Duration::from_secs(20);

fn build(builder: punchwire_lab::LabBuilder) -> (Lab, Duration) {
    let started = Instant::now();
    let lab = builder.build().expect("the lab builds");
    (lab, started.elapsed())
}

fn ping(lab: &Lab, from: Host, to: Host, args: &[&str]) -> std::process::Output {
    let target = to.tunnel_ip().to_string();
    let mut all = vec!["ping", "-n", "-q"];
    all.extend(args);
    all.push(&target);
    lab.try_exec(from, &all).expect("ping runs")
}

/// Sets alice's endpoint for bob and bob's for alice to what the registry sees: with
/// endpoint-independent NATs, the mapping a peer's tunnel to the registry punched.
fn set_endpoints_from_registry(lab: &Lab) -> (SocketAddr, SocketAddr) {
    lab.wait_registry_handshakes(READY)
        .expect("alice and bob reach the registry");
    let alice_seen = lab
        .endpoint_of(Host::Registry, Host::Alice)
        .unwrap()
        .unwrap();
    let bob_seen = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
    assert_eq!(alice_seen.ip(), IpAddr::V4(lab.nat_public_ip(Host::Alice)));
    assert_eq!(bob_seen.ip(), IpAddr::V4(lab.nat_public_ip(Host::Bob)));
    lab.set_endpoint_by_hand(Host::Alice, Host::Bob, bob_seen)
        .unwrap();
    lab.set_endpoint_by_hand(Host::Bob, Host::Alice, alice_seen)
        .unwrap();
    (alice_seen, bob_seen)
}

fn registry_traffic(lab: &Lab) -> u64 {
    lab.counters(Host::Registry, Host::Alice).unwrap().total()
        + lab.counters(Host::Registry, Host::Bob).unwrap().total()
}

#[test]
fn endpoints_set_by_hand_give_a_direct_path_that_bypasses_the_registry() {
    if !punchwire_lab::can_run("direct path") {
        return;
    }
    let (lab, up) = build(Lab::builder());
    lab.with_diagnostics_on_panic(|lab| {
        let (alice_seen, bob_seen) = set_endpoints_from_registry(lab);

        // Both sides send, as both peers' keepalives would: the first packet of each
        // opens its own NAT for the other's.
        let took = wait_until(READY, "alice and bob answering each other's pings", || {
            let a = ping(lab, Host::Alice, Host::Bob, &["-c", "1", "-W", "1"]);
            let b = ping(lab, Host::Bob, Host::Alice, &["-c", "1", "-W", "1"]);
            a.status.success() && b.status.success()
        })
        .unwrap();
        eprintln!(
            "{}: direct path up {took:?} after setting endpoints",
            lab.name()
        );

        let registry_before = registry_traffic(lab);
        let direct_before = lab.counters(Host::Alice, Host::Bob).unwrap();
        let out = ping(
            lab,
            Host::Alice,
            Host::Bob,
            &["-c", "20", "-i", "0.05", "-s", "1000", "-W", "2"],
        );
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(
            summary.contains("20 packets transmitted, 20 received"),
            "alice -> bob over the tunnel: {summary}"
        );
        let registry_moved = registry_traffic(lab) - registry_before;
        let direct_moved = lab
            .counters(Host::Alice, Host::Bob)
            .unwrap()
            .since(direct_before);

        assert!(
            direct_moved.rx > 20_000 && direct_moved.tx > 20_000,
            "alice<->bob carried the pings: {direct_moved:?}"
        );
        assert!(
            registry_moved < 5_000,
            "the registry carried {registry_moved} bytes while alice pinged bob"
        );
        // Still the other NAT's public address, not some relayed or roamed one.
        assert_eq!(
            lab.endpoint_of(Host::Alice, Host::Bob).unwrap(),
            Some(bob_seen)
        );
        assert_eq!(
            lab.endpoint_of(Host::Bob, Host::Alice).unwrap(),
            Some(alice_seen)
        );
    });
    let started = Instant::now();
    let name = lab.name().to_owned();
    let wg = lab.wg_impl();
    lab.shutdown().expect("the lab tears down cleanly");
    eprintln!(
        "{name} ({wg}): lab up in {up:?}, down in {:?}",
        started.elapsed()
    );
}

#[test]
fn symmetric_nats_on_both_sides_defeat_endpoints_set_by_hand() {
    if !punchwire_lab::can_run("symmetric NAT") {
        return;
    }
    let (lab, _) = build(
        Lab::builder()
            .nat_a(NatBehaviour::Symmetric)
            .nat_b(NatBehaviour::Symmetric),
    );
    lab.with_diagnostics_on_panic(|lab| {
        let (alice_seen, _) = set_endpoints_from_registry(lab);

        let a = ping(lab, Host::Alice, Host::Bob, &["-c", "3", "-W", "1"]);
        let b = ping(lab, Host::Bob, Host::Alice, &["-c", "3", "-W", "1"]);
        assert!(
            !a.status.success(),
            "alice reached bob through symmetric NATs"
        );
        assert!(
            !b.status.success(),
            "bob reached alice through symmetric NATs"
        );

        let stats = lab.peer_stats(Host::Alice, Host::Bob).unwrap();
        assert_eq!(stats.rx_bytes, 0, "alice heard from bob: {stats:?}");
        assert_eq!(stats.last_handshake(lab.wg_impl()), None, "{stats:?}");

        // Why: nat-a gave alice's flow to bob another public port than her flow to the
        // registry, so the mapping the registry saw is useless to bob.
        let to_bob = public_port_towards(lab, Nat::A, lab.nat_public_ip(Host::Bob))
            .expect("nat-a tracks alice's flow to nat-b");
        assert_ne!(
            to_bob,
            alice_seen.port(),
            "nat-a reused the registry mapping"
        );
    });
}

#[test]
fn without_a_firewall_the_first_packet_poisons_the_far_nat() {
    if !punchwire_lab::can_run("open NAT race") {
        return;
    }
    let (lab, _) = build(
        Lab::builder()
            .nat_a(NatBehaviour::EndpointIndependentOpen)
            .nat_b(NatBehaviour::EndpointIndependentOpen),
    );
    lab.with_diagnostics_on_panic(|lab| {
        let (alice_seen, bob_seen) = set_endpoints_from_registry(lab);

        // Long enough for wireguard-go's handshake retry (5 s) from both sides.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            let a = ping(lab, Host::Alice, Host::Bob, &["-c", "1", "-W", "1"]);
            let b = ping(lab, Host::Bob, Host::Alice, &["-c", "1", "-W", "1"]);
            assert!(
                !a.status.success() && !b.status.success(),
                "a direct path came up through open NATs"
            );
        }
        // The first side's packet made the far NAT track it as a flow to itself, so the
        // far side's own flow back clashed and was moved to another public port.
        let remapped = [
            (Nat::A, lab.nat_public_ip(Host::Bob), alice_seen.port()),
            (Nat::B, lab.nat_public_ip(Host::Alice), bob_seen.port()),
        ]
        .into_iter()
        .any(|(nat, far, registry_port)| {
            public_port_towards(lab, nat, far).is_some_and(|p| p != registry_port)
        });
        assert!(
            remapped,
            "neither NAT moved its host's flow to another port"
        );
    });
}

/// The public port `nat` maps its host's flow towards `dst` to, from `conntrack -L`:
/// the destination port of the flow's reply direction.
fn public_port_towards(lab: &Lab, nat: Nat, dst: std::net::Ipv4Addr) -> Option<u16> {
    let table = lab.exec(nat, &["conntrack", "-L", "-p", "udp"]).unwrap();
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let orig_dst = fields.iter().find_map(|f| f.strip_prefix("dst="))?;
        if orig_dst != dst.to_string() {
            return None;
        }
        fields
            .iter()
            .filter_map(|f| f.strip_prefix("dport="))
            .nth(1)?
            .parse()
            .ok()
    })
}

#[test]
fn teardown_removes_everything_and_stale_labs_are_cleaned_but_live_ones_kept() {
    if !punchwire_lab::can_run("teardown and cleanup") {
        return;
    }
    // A crashed run: a namespace with a process still in it, a socket, and a state
    // directory whose owner is long gone.
    let stale = format!("{PREFIX}zz{:04}", std::process::id() % 10_000);
    let stale_ns = format!("{stale}-inet");
    let stale_sock = Path::new(SOCKET_DIR).join(format!("{stale}a.sock"));
    let stale_dir = Path::new(punchwire_lab::STATE_ROOT).join(&stale);
    assert!(Command::new("ip")
        .args(["netns", "add", &stale_ns])
        .status()
        .unwrap()
        .success());
    let mut orphan = Command::new("ip")
        .args(["netns", "exec", &stale_ns, "sleep", "600"])
        .spawn()
        .unwrap();
    std::fs::create_dir_all(SOCKET_DIR).unwrap();
    std::fs::write(&stale_sock, b"").unwrap();
    std::fs::create_dir_all(&stale_dir).unwrap();
    std::fs::write(stale_dir.join("owner"), "4194305 1").unwrap(); // above pid_max

    let (lab, _) = build(Lab::builder());
    let names: Vec<String> = lab.nodes().into_iter().map(|n| lab.namespace(n)).collect();
    let sockets: Vec<String> = Host::ALL
        .iter()
        .map(|h| format!("{SOCKET_DIR}/{}.sock", lab.host(*h).iface))
        .collect();
    let state_dir = lab.state_dir();
    let mut greeter = Command::new("sh");
    greeter
        .args(["-c", "echo hello from $WHO; exec sleep 600"])
        .env("WHO", "alice");
    let greeter = lab.spawn(Host::Alice, greeter).unwrap();
    wait_until(READY, "the spawned process logging", || {
        lab.log(&greeter).contains("hello from alice")
    })
    .unwrap();
    assert_eq!(lab.try_wait(&greeter).unwrap(), None, "still running");
    let daemons: Vec<u32> = lab_pids(&lab);
    assert!(
        daemons.contains(&greeter.pid),
        "{daemons:?} lacks {}",
        greeter.pid
    );

    // build() cleaned the stale lab (or a concurrent test did); this one must survive.
    punchwire_lab::cleanup_stale(PREFIX).unwrap();
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        !listed.contains(&stale_ns),
        "stale namespace kept: {listed}"
    );
    assert!(!stale_sock.exists() && !stale_dir.exists());
    assert!(
        orphan.wait().is_ok_and(|s| !s.success()),
        "the orphan was killed"
    );
    for ns in &names {
        assert!(listed.contains(ns.as_str()), "live lab lost {ns}: {listed}");
    }
    assert!(sockets.iter().all(|s| Path::new(s).exists()));

    drop(lab);
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for ns in &names {
        assert!(
            !listed.contains(ns.as_str()),
            "{ns} survived teardown: {listed}"
        );
    }
    for s in &sockets {
        assert!(!Path::new(s).exists(), "{s} survived teardown");
    }
    assert!(
        !state_dir.exists(),
        "{} survived teardown",
        state_dir.display()
    );
    for pid in daemons {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "daemon {pid} survived"
        );
    }
}

#[test]
fn a_restart_on_a_new_port_gives_the_registry_a_new_mapping() {
    if !punchwire_lab::can_run("restart on a new port") {
        return;
    }
    let (lab, _) = build(Lab::builder());
    lab.with_diagnostics_on_panic(|lab| {
        lab.wait_registry_handshakes(READY).unwrap();
        let before = lab
            .endpoint_of(Host::Registry, Host::Alice)
            .unwrap()
            .unwrap();

        lab.restart_wireguard(Host::Alice, 51999).unwrap();
        assert_eq!(lab.listen_port(Host::Alice), 51999);
        assert_eq!(lab.wg_dump(Host::Alice).unwrap().listen_port, 51999);
        lab.wait_registry_handshakes(READY).unwrap();
        let after = lab
            .wait_for_peer(
                Host::Registry,
                Host::Alice,
                READY,
                "the registry seeing alice's new mapping",
                |p| p.endpoint.filter(|e| *e != before),
            )
            .unwrap();
        assert_eq!(after.ip(), IpAddr::V4(lab.nat_public_ip(Host::Alice)));
        // MASQUERADE keeps the source port when it is free.
        assert_eq!(after.port(), 51999);
        // A fresh start: the by-hand endpoint for bob is not kept.
        assert_eq!(lab.endpoint_of(Host::Alice, Host::Bob).unwrap(), None);
    });
}

/// The pids of every process in the lab's host namespaces (its daemons).
fn lab_pids(lab: &Lab) -> Vec<u32> {
    Host::ALL
        .iter()
        .flat_map(|h| {
            let out = Command::new("ip")
                .args(["netns", "pids", &lab.host(*h).namespace])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

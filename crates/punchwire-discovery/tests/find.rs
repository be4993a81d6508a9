//! Finding the registries among a device's peers: a real registry on loopback, asked with
//! the RFC 6763 §11 question over UDP.

use std::net::SocketAddr;
use std::time::Duration;

use punchwire_control::zone::Zone;
use punchwire_discovery::find::{candidates, find, FindError, Outcome};
use punchwire_registry::{Registry, RegistryConfig, RunningRegistry};
use punchwire_wg::{Backend, Device, MemoryBackend, Peer, PublicKey};

fn peer(n: u8, allowed: &[&str]) -> Peer {
    Peer {
        allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
        ..Peer::new(PublicKey::from_bytes([n; 32]))
    }
}

fn device(peers: Vec<Peer>) -> Device {
    Device {
        name: "wg0".into(),
        public_key: Some(PublicKey::from_bytes([99; 32])),
        listen_port: Some(51820),
        fwmark: None,
        peers,
    }
}

async fn registry(zone: &str) -> RunningRegistry {
    let memory = MemoryBackend::new();
    memory.put_device(Device {
        name: "wgreg".into(),
        ..device(vec![peer(1, &["10.0.0.1/32"])])
    });
    let mut config = RegistryConfig::new(zone.parse().unwrap(), "wgreg");
    config.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    config.allow = vec!["127.0.0.0/8".parse().unwrap()];
    Registry::start(config, Backend::new(memory)).await.unwrap()
}

/// A UDP port that takes queries and never answers: a peer that runs no DNS (with no
/// ICMP refusal, the slow case).
async fn silent() -> (tokio::net::UdpSocket, SocketAddr) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

const TIMEOUT: Duration = Duration::from_millis(500);

#[test]
fn candidates_are_the_single_addresses_behind_the_tunnel_on_port_53() {
    let dev = device(vec![
        peer(1, &["10.0.0.1/32", "10.1.0.0/16"]),
        peer(2, &["10.0.0.2/32", "fd00::2/128"]),
        peer(3, &["0.0.0.0/0"]),
        peer(4, &["10.0.0.1/32"]),
    ]);
    let found: Vec<String> = candidates(&dev).iter().map(|a| a.to_string()).collect();
    assert_eq!(found, ["10.0.0.1:53", "10.0.0.2:53", "[fd00::2]:53"]);
}

#[tokio::test]
async fn the_registry_among_silent_peers_names_its_zone() {
    let registry = registry("example.com").await;
    let (_quiet, quiet) = silent().await;
    let servers = [quiet, registry.local_addrs()[0]];
    let found = find("wg0", &servers, None, TIMEOUT).await.unwrap();
    assert_eq!(found.zone, Zone::parse("example.com").unwrap());
    assert_eq!(found.registries, [registry.local_addrs()[0]]);

    // A zone given by the user wins: a registry of another zone does not count.
    let other = Zone::parse("example.org").unwrap();
    let error = find("wg0", &servers, Some(&other), TIMEOUT)
        .await
        .unwrap_err();
    let FindError::NoneAnswered { tried, .. } = &error else {
        panic!("{error}");
    };
    assert!(matches!(tried[0].outcome, Outcome::Failed(_)));
    let text = error.to_string();
    assert!(
        text.contains(&format!("{} named example.com.", servers[1])),
        "{text}"
    );
    assert!(text.contains(&format!("{quiet} did not answer")), "{text}");
    let remedy = error.remedy("--dns", "--zone");
    assert!(
        remedy.contains("--dns") && remedy.contains("--zone"),
        "{remedy}"
    );
}

#[tokio::test]
async fn registries_naming_different_zones_are_not_guessed_between() {
    let a = registry("example.com").await;
    let b = registry("example.org").await;
    let servers = [a.local_addrs()[0], b.local_addrs()[0]];
    let error = find("wg0", &servers, None, TIMEOUT).await.unwrap_err();
    assert!(matches!(error, FindError::Disagree { .. }), "{error}");
    assert_eq!(error.remedy("--dns", "--zone"), "choose one with --zone");
    let chosen = Zone::parse("example.org").unwrap();
    let found = find("wg0", &servers, Some(&chosen), TIMEOUT).await.unwrap();
    assert_eq!(found.registries, [servers[1]]);
}

#[tokio::test]
async fn no_candidate_is_an_error_that_says_what_to_give() {
    let error = find("wg0", &[], None, TIMEOUT).await.unwrap_err();
    assert!(error.to_string().contains("no peer of wg0"), "{error}");
}

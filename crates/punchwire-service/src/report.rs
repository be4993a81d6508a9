//! Turns a device reading and the engine's view into the status a user sees: for each
//! peer, where its endpoint came from and its health (judged by discovery's reducer at
//! the moment of asking, never re-derived here), and the one-glance summary of it all.

use std::time::SystemTime;

use punchwire_control::status::{
    Health, HealthReason, HealthState, InterfaceStatus, PeerStatus, Summary, SummaryState,
};
use punchwire_discovery::InterfaceView;
use punchwire_wg::{Device, Peer};

use crate::relay::{Relayed, Relays};

/// One peer's status. `name` is what the user calls it, where a file says; `view` is
/// what the interface's engine published.
pub fn peer_status(
    peer: &Peer,
    name: Option<String>,
    view: &InterfaceView,
    now: SystemTime,
) -> PeerStatus {
    PeerStatus {
        public_key: peer.public_key.to_base64(),
        name,
        tunnel_ips: peer.allowed_ips.clone(),
        endpoint: peer.endpoint,
        endpoint_source: view.endpoint_source(peer),
        latest_handshake_age_secs: peer.handshake_age(now).map(|a| a.as_secs()),
        rx_bytes: peer.rx_bytes,
        tx_bytes: peer.tx_bytes,
        health: view.health(peer, now),
        last_decision: view
            .last_decision(&peer.public_key)
            .map(ToString::to_string),
        last_rejection: view
            .last_decision(&peer.public_key)
            .and_then(|reason| reason.rejection().cloned()),
    }
}

/// A relayed peer's status: relayed via the registry, why, and its own tunnel addresses
/// (the device lists them on the registry peer meanwhile).
pub fn relayed_status(mut status: PeerStatus, relayed: &Relayed, now: SystemTime) -> PeerStatus {
    let since_secs = now
        .duration_since(relayed.episode.since)
        .unwrap_or_default()
        .as_secs();
    status.health = Health::new(HealthReason::RelayedViaRegistry {
        because: relayed.episode.because.clone(),
        since_secs,
    });
    status.tunnel_ips.clone_from(&relayed.allowed_ips);
    status
}

/// The registry peer shows its own tunnel addresses, not the relayed peers' it carries
/// meanwhile: each address is shown on the peer it belongs to.
pub fn own_tunnel_ips(mut status: PeerStatus, relays: &Relays) -> PeerStatus {
    if let Some((registry, own)) = &relays.registry {
        if status.public_key == registry.to_base64() {
            status.tunnel_ips.clone_from(own);
        }
    }
    status
}

/// What the tray icon and the window's header say: the whole mesh in one state and
/// one sentence. The registry peer does not count: it is reached by its public address.
pub fn summary(interfaces: &[InterfaceStatus]) -> Summary {
    let mesh: Vec<&PeerStatus> = interfaces
        .iter()
        .flat_map(|i| &i.peers)
        .filter(|p| p.health.state != HealthState::Registry)
        .collect();
    let direct = mesh
        .iter()
        .filter(|p| p.health.state == HealthState::Direct)
        .count();
    let (state, text) = if !interfaces.is_empty() && interfaces.iter().all(|i| i.paused) {
        (SummaryState::Paused, "Discovery paused".to_owned())
    } else if mesh.is_empty() {
        (SummaryState::NoPeers, "No peers yet".to_owned())
    } else if direct == mesh.len() {
        let text = match mesh.len() {
            1 => "The peer is direct".to_owned(),
            n => format!("All {n} peers direct"),
        };
        (SummaryState::AllDirect, text)
    } else {
        let relayed = mesh
            .iter()
            .filter(|p| p.health.state == HealthState::Relayed)
            .count();
        let text = match (mesh.len(), relayed) {
            (1, 1) => "The peer is relayed via the registry".to_owned(),
            (1, _) => "The peer is not direct".to_owned(),
            (n, 0) => format!("{direct} of {n} peers direct"),
            (n, r) => format!("{direct} of {n} peers direct, {r} relayed"),
        };
        (SummaryState::SomeNotDirect, text)
    };
    Summary { state, text }
}

/// How many peers of a device would be published by a registry: those with an endpoint.
pub fn peers_with_endpoint(device: &Device) -> usize {
    device.peers.iter().filter(|p| p.endpoint.is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use punchwire_control::status::{EndpointSource, Health, HealthReason, ServiceStatus};
    use punchwire_discovery::Thresholds;
    use punchwire_wg::PublicKey;

    fn peer(
        ips: &str,
        endpoint: Option<&str>,
        handshake_ago: Option<u64>,
        now: SystemTime,
    ) -> Peer {
        Peer {
            endpoint: endpoint.map(|e| e.parse().unwrap()),
            allowed_ips: vec![ips.parse().unwrap()],
            last_handshake: handshake_ago.map(|s| now - Duration::from_secs(s)),
            persistent_keepalive: Some(5),
            ..Peer::new(PublicKey::from_bytes([5; 32]))
        }
    }

    fn view() -> InterfaceView {
        InterfaceView::new(&["10.99.0.1:53".parse().unwrap()], Thresholds::default())
    }

    #[test]
    fn the_registry_peer_is_labelled_as_such() {
        let now = SystemTime::now();
        let p = peer("10.99.0.1/32", Some("192.0.2.10:51820"), Some(3), now);
        let s = peer_status(&p, None, &view(), now);
        assert_eq!(s.health, Health::new(HealthReason::RegistryPeer));
        assert_eq!(s.endpoint_source, EndpointSource::Static);
    }

    #[test]
    fn the_status_judges_the_engine_s_view_at_the_moment_of_asking() {
        let now = SystemTime::now();
        let p = peer("10.99.0.3/32", Some("203.0.113.10:51820"), Some(149), now);
        let s = peer_status(&p, Some("bob".into()), &view(), now);
        assert_eq!(s.health.state, HealthState::Direct);
        assert_eq!(s.latest_handshake_age_secs, Some(149));
        // A second later, with no pass in between: stale, from the same threshold the
        // engine uses (no window where one says stale and the other direct).
        let later = now + Duration::from_secs(1);
        let s = peer_status(&p, None, &view(), later);
        assert_eq!(
            s.health,
            Health::new(HealthReason::HandshakeOld { age_secs: 150 })
        );
        assert_eq!(s.health.text, "latest handshake 150 s ago");
    }

    /// The shared fixture (also read by the tray's and the window's tests): the
    /// service's summary of its peers is the one the fixture carries, and each peer's
    /// text is its typed reason in words.
    #[test]
    fn the_shared_fixture_is_what_the_service_would_say() {
        let read = |name: &str| -> serde_json::Value {
            let path = format!(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/{}"),
                name
            );
            let text =
                std::fs::read_to_string(&path).expect("the shared fixtures are in tests/fixtures");
            serde_json::from_str(&text).expect("the fixture is JSON")
        };
        let fixture: serde_json::Value =
            serde_json::json!({"status": read("status.json"), "events": read("events.json")});
        let status: ServiceStatus = serde_json::from_value(fixture["status"].clone()).unwrap();
        assert_eq!(summary(&status.interfaces), status.summary);
        let mut states = Vec::new();
        for p in status.interfaces.iter().flat_map(|i| &i.peers) {
            assert_eq!(
                p.health,
                Health::new(p.health.reason.clone()),
                "{}",
                p.public_key
            );
            states.push(p.health.state);
        }
        for state in [
            HealthState::Direct,
            HealthState::Pending,
            HealthState::NotDirect,
            HealthState::Stale,
            HealthState::Registry,
        ] {
            assert!(states.contains(&state), "the fixture covers {state:?}");
        }
    }

    fn iface(states: &[HealthState], paused: bool) -> InterfaceStatus {
        let now = SystemTime::now();
        let peers = states
            .iter()
            .map(|state| {
                let mut s = peer_status(&peer("10.99.0.3/32", None, None, now), None, &view(), now);
                s.health.state = *state;
                s
            })
            .collect();
        InterfaceStatus {
            name: "wg0".into(),
            zone: "example.com.".into(),
            paused,
            error: None,
            peers,
            registries: vec![],
            discovery: None,
        }
    }

    #[test]
    fn the_summary_has_one_wording_for_one_peer() {
        use HealthState::*;
        let say = |ifaces: &[InterfaceStatus]| {
            let s = summary(ifaces);
            (s.state, s.text)
        };
        assert_eq!(
            say(&[iface(&[Registry, Direct], false)]),
            (SummaryState::AllDirect, "The peer is direct".into())
        );
        assert_eq!(
            say(&[iface(&[Direct, Direct], false)]),
            (SummaryState::AllDirect, "All 2 peers direct".into())
        );
        assert_eq!(
            say(&[iface(&[Direct, Pending, Stale], false)]),
            (SummaryState::SomeNotDirect, "1 of 3 peers direct".into())
        );
        assert_eq!(
            say(&[iface(&[NotDirect], false)]),
            (SummaryState::SomeNotDirect, "The peer is not direct".into())
        );
        assert_eq!(
            say(&[iface(&[Registry], false)]),
            (SummaryState::NoPeers, "No peers yet".into())
        );
        assert_eq!(
            say(&[iface(&[Direct], true)]),
            (SummaryState::Paused, "Discovery paused".into())
        );
        assert_eq!(say(&[]), (SummaryState::NoPeers, "No peers yet".into()));
    }
}

//! Turns a device reading and the service's notes into the status a user sees: for each
//! peer, where its endpoint came from and whether its tunnel is direct, and why not.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use punchwire_wg::{Device, Peer};

use crate::notes::PeerNotes;
use punchwire_control::status::{EndpointSource, Health, HealthState, PeerStatus, LIVE_HANDSHAKE};

/// How long after Punchwire sets an endpoint a missing handshake is still "pending".
pub const PENDING_FOR: Duration = Duration::from_secs(20);

/// One peer's status. `name` is what the user calls it, where a file says; `registries`
/// are the DNS addresses this interface asks: a peer whose AllowedIPs hold one of them
/// is the registry peer.
pub fn peer_status(
    peer: &Peer,
    name: Option<String>,
    notes: &PeerNotes,
    registries: &[SocketAddr],
    now: SystemTime,
) -> PeerStatus {
    let age = peer.handshake_age(now);
    PeerStatus {
        public_key: peer.public_key.to_base64(),
        name,
        tunnel_ips: peer.allowed_ips.clone(),
        endpoint: peer.endpoint,
        endpoint_source: endpoint_source(peer, notes),
        latest_handshake_age_secs: age.map(|a| a.as_secs()),
        rx_bytes: peer.rx_bytes,
        tx_bytes: peer.tx_bytes,
        health: health(peer, notes, registries, now),
        last_decision: notes.last_decision.clone(),
    }
}

fn endpoint_source(peer: &Peer, notes: &PeerNotes) -> EndpointSource {
    match (peer.endpoint, notes.set_by_us) {
        (None, _) => EndpointSource::None,
        (Some(now), Some((ours, _))) if now == ours => EndpointSource::Registry,
        (Some(_), Some(_)) => EndpointSource::Roaming,
        (Some(_), None) => EndpointSource::Static,
    }
}

fn health(peer: &Peer, notes: &PeerNotes, registries: &[SocketAddr], now: SystemTime) -> Health {
    let is_registry = registries
        .iter()
        .any(|r| peer.allowed_ips.iter().any(|net| net.contains(&r.ip())));
    if is_registry {
        return Health {
            state: HealthState::Registry,
            reason: None,
        };
    }
    let age = peer.handshake_age(now);
    if matches!(age, Some(a) if a <= LIVE_HANDSHAKE) {
        return Health {
            state: HealthState::Direct,
            reason: None,
        };
    }
    if let Some(reason) = &notes.not_direct {
        return Health {
            state: HealthState::NotDirect,
            reason: Some(reason.clone()),
        };
    }
    if let Some((endpoint, when)) = notes.set_by_us {
        let since = now.duration_since(when).unwrap_or_default();
        if since <= PENDING_FOR && Some(endpoint) == peer.endpoint {
            return Health {
                state: HealthState::Pending,
                reason: Some(format!(
                    "endpoint {endpoint} set {} s ago, waiting for a handshake",
                    since.as_secs()
                )),
            };
        }
    }
    if let Some(age) = age {
        return Health {
            state: HealthState::Stale,
            reason: Some(format!("no handshake for {} s", age.as_secs())),
        };
    }
    let reason = match (&peer.endpoint, &notes.last_decision) {
        (None, Some(decision)) => format!("no endpoint yet ({decision})"),
        (None, None) => "no endpoint yet".to_owned(),
        (Some(_), Some(decision)) => format!("no handshake yet ({decision})"),
        (Some(_), None) => "no handshake yet".to_owned(),
    };
    Health {
        state: HealthState::NotDirect,
        reason: Some(reason),
    }
}

/// How many peers of a device would be published by a registry: those with an endpoint.
pub fn peers_with_endpoint(device: &Device) -> usize {
    device.peers.iter().filter(|p| p.endpoint.is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::PublicKey;

    fn peer(
        ips: &str,
        endpoint: Option<&str>,
        handshake_ago: Option<u64>,
        now: SystemTime,
    ) -> Peer {
        Peer {
            public_key: PublicKey::from_bytes([5; 32]),
            has_preshared_key: false,
            endpoint: endpoint.map(|e| e.parse().unwrap()),
            allowed_ips: vec![ips.parse().unwrap()],
            last_handshake: handshake_ago.map(|s| now - Duration::from_secs(s)),
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: Some(5),
        }
    }

    const REGISTRY: &str = "10.99.0.1:53";

    fn status(p: &Peer, notes: &PeerNotes, now: SystemTime) -> PeerStatus {
        peer_status(p, None, notes, &[REGISTRY.parse().unwrap()], now)
    }

    #[test]
    fn the_registry_peer_is_labelled_as_such() {
        let now = SystemTime::now();
        let p = peer("10.99.0.1/32", Some("192.0.2.10:51820"), Some(3), now);
        let s = status(&p, &PeerNotes::default(), now);
        assert_eq!(s.health.state, HealthState::Registry);
        assert_eq!(s.endpoint_source, EndpointSource::Static);
    }

    #[test]
    fn a_fresh_handshake_on_an_endpoint_we_set_is_direct_from_registry() {
        let now = SystemTime::now();
        let p = peer("10.99.0.3/32", Some("203.0.113.10:51820"), Some(10), now);
        let notes = PeerNotes {
            set_by_us: Some((
                "203.0.113.10:51820".parse().unwrap(),
                now - Duration::from_secs(30),
            )),
            ..Default::default()
        };
        let s = status(&p, &notes, now);
        assert_eq!(
            s.health,
            Health {
                state: HealthState::Direct,
                reason: None
            }
        );
        assert_eq!(s.endpoint_source, EndpointSource::Registry);
        assert_eq!(s.latest_handshake_age_secs, Some(10));
    }

    #[test]
    fn an_endpoint_that_moved_after_we_set_it_has_roamed() {
        let now = SystemTime::now();
        let p = peer("10.99.0.3/32", Some("203.0.113.10:40000"), Some(10), now);
        let notes = PeerNotes {
            set_by_us: Some(("203.0.113.10:51820".parse().unwrap(), now)),
            ..Default::default()
        };
        assert_eq!(
            status(&p, &notes, now).endpoint_source,
            EndpointSource::Roaming
        );
    }

    #[test]
    fn just_set_without_handshake_is_pending_then_not_direct_with_the_engine_reason() {
        let now = SystemTime::now();
        let p = peer("10.99.0.3/32", Some("203.0.113.10:51820"), None, now);
        let mut notes = PeerNotes {
            set_by_us: Some((
                "203.0.113.10:51820".parse().unwrap(),
                now - Duration::from_secs(2),
            )),
            last_decision: Some("set".into()),
            ..Default::default()
        };
        assert_eq!(status(&p, &notes, now).health.state, HealthState::Pending);
        notes.not_direct = Some("not direct: no handshake after setting 203.0.113.10:51820 (symmetric NAT on either side?)".into());
        let s = status(&p, &notes, now);
        assert_eq!(s.health.state, HealthState::NotDirect);
        assert!(s.health.reason.unwrap().contains("symmetric NAT"));
    }

    #[test]
    fn an_old_handshake_is_stale_and_no_endpoint_says_why() {
        let now = SystemTime::now();
        let p = peer("10.99.0.3/32", Some("203.0.113.10:51820"), Some(600), now);
        let s = status(&p, &PeerNotes::default(), now);
        assert_eq!(s.health.state, HealthState::Stale);
        assert_eq!(s.health.reason.as_deref(), Some("no handshake for 600 s"));

        let p = peer("10.99.0.3/32", None, None, now);
        let notes = PeerNotes {
            last_decision: Some("no-record".into()),
            ..Default::default()
        };
        let s = status(&p, &notes, now);
        assert_eq!(s.health.state, HealthState::NotDirect);
        assert_eq!(
            s.health.reason.as_deref(),
            Some("no endpoint yet (no-record)")
        );
        assert_eq!(s.endpoint_source, EndpointSource::None);
    }
}

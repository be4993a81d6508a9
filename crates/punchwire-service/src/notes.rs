//! What the service has learned from the discovery engines' events, kept so that a
//! `status` can say where an endpoint came from and why a peer is not direct.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use punchwire_discovery::Event;
use punchwire_wg::PublicKey;
use serde_json::Value;

/// Per-peer notes, keyed by (interface, key).
#[derive(Debug, Default)]
pub struct Notes {
    peers: HashMap<(String, PublicKey), PeerNotes>,
    links: HashMap<(String, SocketAddr), LinkNotes>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerNotes {
    /// The endpoint Punchwire last set, and when.
    pub set_by_us: Option<(SocketAddr, SystemTime)>,
    /// The engine's latest decision, as its reason text.
    pub last_decision: Option<String>,
    /// Set when the engine reported the peer not direct; cleared when it goes direct.
    pub not_direct: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkNotes {
    pub reachable: Option<bool>,
    pub error: Option<String>,
    pub rtt_ms: Option<f64>,
    pub serial: Option<u32>,
    pub last_answer: Option<Instant>,
}

impl Notes {
    pub fn peer(&self, iface: &str, key: &PublicKey) -> PeerNotes {
        self.peers
            .get(&(iface.to_owned(), *key))
            .cloned()
            .unwrap_or_default()
    }

    pub fn link(&self, iface: &str, registry: SocketAddr) -> LinkNotes {
        self.links
            .get(&(iface.to_owned(), registry))
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets everything about an interface (it was removed from the config).
    pub fn forget(&mut self, iface: &str) {
        self.peers.retain(|(i, _), _| i != iface);
        self.links.retain(|(i, _), _| i != iface);
    }

    /// A probe of a registry's SOA: reachable with this round trip and serial, or not.
    pub fn probed(
        &mut self,
        iface: &str,
        registry: SocketAddr,
        result: Result<(f64, u32), String>,
    ) {
        let link = self.links.entry((iface.to_owned(), registry)).or_default();
        match result {
            Ok((rtt_ms, serial)) => {
                link.reachable = Some(true);
                link.error = None;
                link.rtt_ms = Some(rtt_ms);
                link.serial = Some(serial);
                link.last_answer = Some(Instant::now());
            }
            Err(error) => {
                link.reachable = Some(false);
                link.error = Some(error);
                link.rtt_ms = None;
            }
        }
    }

    /// Takes in one engine event. `iface` is the engine's interface (registry events do
    /// not name it).
    pub fn record(&mut self, iface: &str, event: &Event, now: SystemTime) {
        match event {
            Event::EndpointChanged { peer, new, .. } => {
                let notes = self.peers.entry((iface.to_owned(), *peer)).or_default();
                notes.set_by_us = Some((new.addr(), now));
                notes.not_direct = None;
            }
            Event::PeerDirect { peer, .. } => {
                self.peers
                    .entry((iface.to_owned(), *peer))
                    .or_default()
                    .not_direct = None;
            }
            Event::PeerStale { peer, reason, .. } => {
                self.peers
                    .entry((iface.to_owned(), *peer))
                    .or_default()
                    .not_direct = Some(reason.clone());
            }
            Event::Decision { peer, reason, .. } => {
                self.peers
                    .entry((iface.to_owned(), *peer))
                    .or_default()
                    .last_decision = Some(reason.to_string());
            }
            Event::RegistryReachable { registry } => {
                let link = self.links.entry((iface.to_owned(), *registry)).or_default();
                link.reachable = Some(true);
                link.error = None;
                link.last_answer = Some(Instant::now());
            }
            Event::RegistryUnreachable { registry, reason } => {
                let link = self.links.entry((iface.to_owned(), *registry)).or_default();
                link.reachable = Some(false);
                link.error = Some(reason.clone());
            }
        }
    }
}

/// An engine event as the control protocol carries it: a `type` in kebab-case (the
/// protocol's convention) and the event's own fields, plus the interface.
pub fn event_json(iface: &str, event: &Event) -> Value {
    let mut value = serde_json::to_value(event).expect("events are plain data");
    if let Value::Object(fields) = &mut value {
        if let Some(Value::String(kind)) = fields.remove("event") {
            fields.insert("type".into(), Value::String(kind.replace('_', "-")));
        }
        fields
            .entry("iface")
            .or_insert_with(|| Value::String(iface.to_owned()));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_kebab_case_types_with_their_interface() {
        let event = Event::RegistryUnreachable {
            registry: "10.99.0.1:53".parse().unwrap(),
            reason: "timed out".into(),
        };
        let json = event_json("wg0", &event);
        assert_eq!(json["type"], "registry-unreachable");
        assert_eq!(json["iface"], "wg0");
        assert_eq!(json["reason"], "timed out");
        assert!(json.get("event").is_none());
    }

    /// The discovery events as the repository's golden fixture (tests/fixtures/events.json)
    /// has them: exactly what the service sends, so the window's and the tray's tests
    /// that read the fixture see the real thing.
    #[test]
    fn discovery_events_are_sent_as_the_fixture_shows_them() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/events.json"
        );
        let fixture: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).expect("events.json")).unwrap();
        let of_type = |kind: &str| {
            fixture
                .iter()
                .find(|e| e["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in {path}"))
                .clone()
        };
        let bob = PublicKey::from_base64("TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=").unwrap();
        let iface = || "wg0".to_owned();
        let sent = [
            Event::EndpointChanged {
                iface: iface(),
                peer: bob,
                old: Some("203.0.113.9:40000".parse().unwrap()),
                new: "203.0.113.9:51820".parse().unwrap(),
                registry: "10.99.0.1:53".parse().unwrap(),
            },
            Event::PeerDirect {
                iface: iface(),
                peer: bob,
                endpoint: "203.0.113.9:51820".parse().unwrap(),
            },
            Event::PeerStale {
                iface: iface(),
                peer: bob,
                reason: "not direct: no handshake on 203.0.113.9:51820 within 15s".into(),
            },
            Event::RegistryReachable {
                registry: "10.99.0.1:53".parse().unwrap(),
            },
            Event::RegistryUnreachable {
                registry: "10.98.0.1:53".parse().unwrap(),
                reason: "timed out".into(),
            },
            Event::Decision {
                iface: iface(),
                peer: bob,
                reason: punchwire_discovery::policy::Reason::Rejected(
                    "port 0 is not a reachable port".into(),
                ),
                endpoint: None,
            },
        ];
        for event in &sent {
            let json = event_json("wg0", event);
            let kind = json["type"].as_str().expect("a type").to_owned();
            assert_eq!(json, of_type(&kind), "{kind}");
        }
    }

    #[test]
    fn an_endpoint_we_set_is_remembered_and_clears_not_direct() {
        let mut notes = Notes::default();
        let key = PublicKey::from_bytes([3; 32]);
        let now = SystemTime::now();
        notes.record(
            "wg0",
            &Event::PeerStale {
                iface: "wg0".into(),
                peer: key,
                reason: "not direct: no handshake".into(),
            },
            now,
        );
        assert!(notes.peer("wg0", &key).not_direct.is_some());
        notes.record(
            "wg0",
            &Event::EndpointChanged {
                iface: "wg0".into(),
                peer: key,
                old: None,
                new: "198.51.100.10:4000".parse().unwrap(),
                registry: "10.99.0.1:53".parse().unwrap(),
            },
            now,
        );
        let peer = notes.peer("wg0", &key);
        assert_eq!(
            peer.set_by_us,
            Some(("198.51.100.10:4000".parse().unwrap(), now))
        );
        assert_eq!(peer.not_direct, None);
        notes.forget("wg0");
        assert_eq!(notes.peer("wg0", &key), PeerNotes::default());
    }
}

//! Engine events in the control protocol's shape.

use punchwire_discovery::Event;
use serde_json::Value;

/// An engine event as the control protocol carries it: a `type` in kebab-case (the
/// protocol's convention) and the event's own fields, plus the interface, and the
/// peer's `name` where one is known.
pub fn event_json(iface: &str, event: &Event, name: Option<&str>) -> Value {
    let mut value = serde_json::to_value(event).expect("events are plain data");
    if let Value::Object(fields) = &mut value {
        if let Some(Value::String(kind)) = fields.remove("event") {
            fields.insert("type".into(), Value::String(kind.replace('_', "-")));
        }
        fields
            .entry("iface")
            .or_insert_with(|| Value::String(iface.to_owned()));
        if let Some(name) = name {
            fields.insert("name".into(), Value::String(name.to_owned()));
        }
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
        let json = event_json("wg0", &event, None);
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
        // `at` is the moment the event log sent it (see event_log.rs), not part of it.
        let of_type = |kind: &str| {
            let mut event = fixture
                .iter()
                .find(|e| e["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in {path}"))
                .clone();
            assert!(
                event["at"].is_u64(),
                "the fixture's {kind} is sent with its time"
            );
            event.as_object_mut().unwrap().remove("at");
            event
        };
        use punchwire_control::status::{HealthReason, HealthState};
        let bob =
            punchwire_wg::PublicKey::from_base64("TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=")
                .unwrap();
        let iface = || "wg0".to_owned();
        let not_direct = HealthReason::NoHandshakeAfterSet {
            endpoint: "203.0.113.9:40000".parse().unwrap(),
        };
        // Each with the name the interface's file gives the peer, where the fixture has one.
        let sent = [
            (
                Event::EndpointChanged {
                    iface: iface(),
                    peer: bob,
                    old: Some("203.0.113.9:40000".parse().unwrap()),
                    new: "203.0.113.9:51820".parse().unwrap(),
                    registry: "10.99.0.1:53".parse().unwrap(),
                },
                Some("bob"),
            ),
            (
                Event::PeerHealthChanged {
                    iface: iface(),
                    peer: bob,
                    from: HealthState::Pending,
                    to: HealthState::NotDirect,
                    text: not_direct.to_string(),
                    reason: not_direct,
                },
                Some("bob"),
            ),
            (
                Event::RegistryReachable {
                    registry: "10.99.0.1:53".parse().unwrap(),
                },
                None,
            ),
            (
                Event::RegistryUnreachable {
                    registry: "10.98.0.1:53".parse().unwrap(),
                    reason: "timed out".into(),
                },
                None,
            ),
            (
                Event::decision(
                    iface(),
                    bob,
                    punchwire_discovery::policy::Reason::Rejected(
                        punchwire_control::rejection::Rejection::PortZero {
                            addr: "198.51.100.2:0".parse().unwrap(),
                        },
                    ),
                    None,
                ),
                None,
            ),
            (
                Event::NetworkChanged {
                    iface: iface(),
                    what: "192.168.7.9/24 came up".into(),
                },
                None,
            ),
        ];
        for (event, name) in &sent {
            let json = event_json("wg0", event, *name);
            let kind = json["type"].as_str().expect("a type").to_owned();
            assert_eq!(json, of_type(&kind), "{kind}");
        }
    }

    #[test]
    fn a_health_change_reads_as_the_contract_types_it_with_the_peer_s_name() {
        use punchwire_control::events::ServiceEvent;
        use punchwire_control::status::{HealthReason, HealthState};
        let peer = punchwire_wg::PublicKey::from_bytes([3; 32]);
        let reason = HealthReason::NoHandshakeAfterSet {
            endpoint: "198.51.100.10:4000".parse().unwrap(),
        };
        let event = Event::PeerHealthChanged {
            iface: "wg0".into(),
            peer,
            from: HealthState::Pending,
            to: HealthState::NotDirect,
            text: reason.to_string(),
            reason: reason.clone(),
        };
        let json = event_json("wg0", &event, Some("bob"));
        assert_eq!(json["type"], "peer-health-changed");
        assert_eq!(json["reason"]["kind"], "no-handshake-after-set");
        assert_eq!(
            serde_json::from_value::<ServiceEvent>(json).unwrap(),
            ServiceEvent::PeerHealthChanged {
                iface: "wg0".into(),
                peer: peer.to_base64(),
                name: Some("bob".into()),
                from: HealthState::Pending,
                to: HealthState::NotDirect,
                text: reason.to_string(),
                reason,
            }
        );
    }
}

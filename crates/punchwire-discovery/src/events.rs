//! What the engine tells the service and the app, as typed events on a broadcast
//! channel. The names (the `event` field once serialized) are part of the contract.

use std::net::SocketAddr;

use punchwire_control::rejection::Rejection;
use punchwire_control::status::{HealthReason, HealthState};
use punchwire_wg::{Endpoint, PublicKey};
use serde::Serialize;

use crate::policy::Reason;

/// How many events a slow subscriber may fall behind before it misses some.
pub const CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A peer's endpoint was set from a registry's answer.
    EndpointChanged {
        iface: String,
        peer: PublicKey,
        old: Option<SocketAddr>,
        new: Endpoint,
        registry: SocketAddr,
    },
    /// The peer's health moved from one state to another (see
    /// [`crate::peer_health`]); `reason` and `text` say why it is in the new one.
    PeerHealthChanged {
        iface: String,
        peer: PublicKey,
        from: HealthState,
        to: HealthState,
        reason: HealthReason,
        text: String,
    },
    RegistryReachable {
        registry: SocketAddr,
    },
    RegistryUnreachable {
        registry: SocketAddr,
        reason: String,
    },
    /// This machine's network changed (an address came or went, or it woke from
    /// sleep): every peer is looked up again at once, and the query itself tells the
    /// registry this machine's new mapping. `what` says what changed.
    NetworkChanged {
        iface: String,
        what: String,
    },
    /// The engine's decision about one peer changed (it is not repeated while it stays
    /// the same); `endpoint` is the one the peer has afterwards. A rejected answer's
    /// reason is in `reason`'s words and, by kind, in `rejection`.
    Decision {
        iface: String,
        peer: PublicKey,
        reason: Reason,
        #[serde(skip_serializing_if = "Option::is_none")]
        rejection: Option<Rejection>,
        endpoint: Option<SocketAddr>,
    },
}

impl Event {
    /// The event that tells `reason`, the engine's decision about `peer`.
    pub fn decision(
        iface: String,
        peer: PublicKey,
        reason: Reason,
        endpoint: Option<SocketAddr>,
    ) -> Self {
        Event::Decision {
            iface,
            peer,
            rejection: reason.rejection().cloned(),
            reason,
            endpoint,
        }
    }

    /// Writes the event to the log, at the level it deserves: changes at info, a
    /// registry lost at warn, each decision at debug.
    pub fn log(&self) {
        match self {
            Event::EndpointChanged {
                iface,
                peer,
                old,
                new,
                registry,
            } => {
                let old = old.map_or("none".to_owned(), |o| o.to_string());
                tracing::info!("{iface}: {peer}: endpoint {old} -> {new} (from {registry})");
            }
            Event::PeerHealthChanged {
                iface,
                peer,
                from,
                to,
                text,
                ..
            } => {
                let (from, to) = (from.word(), to.word());
                tracing::info!("{iface}: {peer}: {from} -> {to}: {text}")
            }
            Event::RegistryReachable { registry } => tracing::info!("registry {registry} answers"),
            Event::RegistryUnreachable { registry, reason } => {
                tracing::warn!("registry {registry} unreachable: {reason}")
            }
            Event::NetworkChanged { iface, what } => {
                tracing::info!("{iface}: the network changed ({what}): looking every peer up again")
            }
            Event::Decision {
                iface,
                peer,
                reason,
                endpoint,
                ..
            } => {
                let endpoint = endpoint.map_or("-".to_owned(), |e| e.to_string());
                tracing::debug!("{iface}: {peer}: {reason} ({endpoint})");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_stable_names() {
        let peer = PublicKey::from_bytes([2; 32]);
        let event = Event::EndpointChanged {
            iface: "wg0".into(),
            peer,
            old: None,
            new: "198.51.100.2:40000".parse().unwrap(),
            registry: "10.99.0.1:53".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "event": "endpoint_changed",
                "iface": "wg0",
                "peer": peer.to_base64(),
                "old": null,
                "new": "198.51.100.2:40000",
                "registry": "10.99.0.1:53",
            })
        );
        let event = Event::decision(
            "wg0".into(),
            peer,
            Reason::Rejected(Rejection::PortZero {
                addr: "198.51.100.2:0".parse().unwrap(),
            }),
            None,
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "decision");
        assert_eq!(
            json["reason"],
            "rejected: 198.51.100.2:0: port 0 is not a reachable port"
        );
        assert_eq!(
            json["rejection"],
            serde_json::json!({"kind": "port-zero", "addr": "198.51.100.2:0"})
        );
        let json =
            serde_json::to_value(Event::decision("wg0".into(), peer, Reason::Unchanged, None))
                .unwrap();
        assert_eq!(json["reason"], "unchanged");
        assert!(json.get("rejection").is_none(), "{json}");
        let json = serde_json::to_value(Event::RegistryUnreachable {
            registry: "10.99.0.1:53".parse().unwrap(),
            reason: "timed out".into(),
        })
        .unwrap();
        assert_eq!(json["event"], "registry_unreachable");
    }
}

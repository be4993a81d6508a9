//! The events a subscribed client reads, typed for the clients that act on them (the
//! tray's notifications). The service sends more types than these; they read as
//! [`ServiceEvent::Other`], so that a new type never breaks an old client.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::status::{HealthReason, HealthState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServiceEvent {
    /// Punchwire set a peer's endpoint from a registry's answer.
    EndpointChanged {
        iface: String,
        /// The peer's public key, base64.
        peer: String,
        /// The peer's configured name, where there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        old: Option<SocketAddr>,
        new: SocketAddr,
        registry: SocketAddr,
    },
    /// A peer's health moved from one state to another; `reason` and `text` say why it
    /// is in the new one (as the status's `health` does).
    PeerHealthChanged {
        iface: String,
        peer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        from: HealthState,
        to: HealthState,
        reason: HealthReason,
        text: String,
    },
    /// The registry peer's endpoint is a DNS name that now gives another address, and
    /// the service set it (see "Registry re-resolution" in docs/design.md).
    RegistryMoved(RegistryMoved),
    /// That name could not be resolved; said once per distinct error, the endpoint left
    /// as it was.
    RegistryNameUnresolved(RegistryNameUnresolved),
    /// A peer with no direct path is now reached through the registry peer (relay on).
    RelayStarted(RelayStarted),
    /// A relayed peer has its own addresses back.
    RelayEnded(RelayEnded),
    /// Any other type: registry reachability, decisions, pause and resume, ...
    #[serde(other)]
    Other,
}

/// The body of a `relay-started` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RelayStarted {
    pub iface: String,
    /// The peer's public key, base64.
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    /// Why the peer is not direct, in the words of its health.
    pub because: String,
}

/// The body of a `relay-ended` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RelayEnded {
    pub iface: String,
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    /// Why: "a direct handshake completed", or "the peer was removed from the interface".
    pub why: String,
}

/// The body of a `registry-moved` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegistryMoved {
    pub iface: String,
    /// The registry peer's public key, base64.
    pub peer: String,
    /// The peer's configured name, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    /// The endpoint's name as the wg-quick file gives it, e.g. `home.example.net:51820`.
    pub host: String,
    pub old: Option<SocketAddr>,
    pub new: SocketAddr,
}

/// The body of a `registry-name-unresolved` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegistryNameUnresolved {
    pub iface: String,
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    pub host: String,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_changes_read_typed_and_unknown_types_do_not_fail() {
        let event: ServiceEvent = serde_json::from_value(json!({
            "type": "peer-health-changed", "iface": "wg0", "peer": "AAAA", "name": "bob",
            "from": "direct", "to": "stale",
            "reason": {"kind": "handshake-old", "age_secs": 200},
            "text": "latest handshake 200 s ago",
        }))
        .unwrap();
        assert_eq!(
            event,
            ServiceEvent::PeerHealthChanged {
                iface: "wg0".into(),
                peer: "AAAA".into(),
                name: Some("bob".into()),
                from: HealthState::Direct,
                to: HealthState::Stale,
                reason: HealthReason::HandshakeOld { age_secs: 200 },
                text: "latest handshake 200 s ago".into(),
            }
        );
        let other: ServiceEvent = serde_json::from_value(
            json!({"type": "registry-reachable", "registry": "10.99.0.1:53"}),
        )
        .unwrap();
        assert_eq!(other, ServiceEvent::Other);
    }

    #[test]
    fn a_registry_move_reads_back_typed() {
        let moved = ServiceEvent::RegistryMoved(RegistryMoved {
            iface: "wg0".into(),
            peer: "AAAA".into(),
            name: None,
            host: "home.example.net:51820".into(),
            old: Some("192.0.2.10:51820".parse().unwrap()),
            new: "192.0.2.20:51820".parse().unwrap(),
        });
        let json = serde_json::to_value(&moved).unwrap();
        assert_eq!(json["type"], "registry-moved");
        assert_eq!(json["new"], "192.0.2.20:51820");
        assert_eq!(serde_json::from_value::<ServiceEvent>(json).unwrap(), moved);
    }
}

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
    /// Any other type: registry reachability, decisions, pause and resume, ...
    #[serde(other)]
    Other,
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
}

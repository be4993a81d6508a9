//! What the tray shows, as a pure function of what the service last said: the icon's
//! state, the tooltip line and the per-peer quick view. Same rules as the window's
//! header (frontend/src/summary.ts).

use punchwire_control::status::{HealthState, PeerStatus, ServiceStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    AllDirect,
    SomeNotDirect,
    Paused,
    Unreachable,
}

/// Everything the tray displays; compared to the last one so the menu is rebuilt only
/// when something a user can see changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    pub state: TrayState,
    pub summary: String,
    /// Whether any interface is running (so the menu offers Pause rather than Resume).
    pub running: bool,
    pub peers: Vec<PeerLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLine {
    /// "alice: direct"
    pub label: String,
    /// Tunnel addresses without the prefix length, ready to paste.
    pub tunnel_ips: Vec<String>,
}

impl TrayView {
    pub fn unreachable(reason: &str) -> Self {
        Self {
            state: TrayState::Unreachable,
            summary: format!("Punchwire: {reason}"),
            running: false,
            peers: Vec::new(),
        }
    }

    pub fn of(status: &ServiceStatus) -> Self {
        let mesh: Vec<&PeerStatus> = status
            .interfaces
            .iter()
            .flat_map(|i| &i.peers)
            .filter(|p| p.health.state != HealthState::Registry)
            .collect();
        let direct = mesh
            .iter()
            .filter(|p| p.health.state == HealthState::Direct)
            .count();
        let all_paused =
            !status.interfaces.is_empty() && status.interfaces.iter().all(|i| i.paused);
        let (state, summary) = if all_paused {
            (TrayState::Paused, "discovery paused".to_owned())
        } else if mesh.is_empty() {
            (TrayState::AllDirect, "no peers yet".to_owned())
        } else if direct == mesh.len() {
            (
                TrayState::AllDirect,
                format!("all {} peers direct", mesh.len()),
            )
        } else {
            (
                TrayState::SomeNotDirect,
                format!("{direct} of {} peers direct", mesh.len()),
            )
        };
        Self {
            state,
            summary: format!("Punchwire: {summary}"),
            running: status.interfaces.iter().any(|i| !i.paused),
            peers: status
                .interfaces
                .iter()
                .flat_map(|i| &i.peers)
                .map(|p| PeerLine {
                    label: format!("{}: {}", peer_name(p), health_word(p.health.state)),
                    tunnel_ips: p
                        .tunnel_ips
                        .iter()
                        .map(|ip| ip.addr().to_string())
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The configured name, else the start of the key (as the window shows it).
pub fn peer_name(p: &PeerStatus) -> String {
    p.name.clone().unwrap_or_else(|| {
        let key = p.public_key.to_string();
        format!("{}…", &key[..8.min(key.len())])
    })
}

pub fn health_word(state: HealthState) -> &'static str {
    match state {
        HealthState::Direct => "direct",
        HealthState::Pending => "pending",
        HealthState::Stale => "stale",
        HealthState::NotDirect => "not direct",
        HealthState::Registry => "registry",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn status(peers: serde_json::Value, paused: bool) -> ServiceStatus {
        serde_json::from_value(json!({
            "version": "0.1.0", "config_path": "/etc/punchwire/config.toml", "registry": null,
            "interfaces": [{"name": "wg0", "zone": "example.com.", "paused": paused, "error": null,
                            "peers": peers, "registries": []}]
        }))
        .unwrap()
    }

    pub fn peer(name: &str, key_byte: u8, state: &str, endpoint: &str) -> serde_json::Value {
        let key = format!("{key_byte:02}{}=", "A".repeat(41)); // as long as a base64 key
        json!({"public_key": key, "name": name, "tunnel_ips": ["10.99.0.2/32"],
               "endpoint": endpoint, "endpoint_source": "registry", "latest_handshake_age_secs": 5,
               "rx_bytes": 1, "tx_bytes": 2, "health": {"state": state, "reason": null}, "last_decision": null})
    }

    #[test]
    fn the_icon_says_all_direct_some_not_or_paused() {
        let all = status(
            json!([
                peer("reg", 1, "registry", "192.0.2.1:51820"),
                peer("alice", 2, "direct", "198.51.100.7:4000")
            ]),
            false,
        );
        let view = TrayView::of(&all);
        assert_eq!(view.state, TrayState::AllDirect);
        assert_eq!(view.summary, "Punchwire: all 1 peers direct");
        assert_eq!(view.peers[1].label, "alice: direct");
        assert_eq!(view.peers[1].tunnel_ips, ["10.99.0.2"]);

        let some = status(
            json!([
                peer("alice", 2, "direct", "198.51.100.7:4000"),
                peer("bob", 3, "not-direct", "203.0.113.9:1")
            ]),
            false,
        );
        let view = TrayView::of(&some);
        assert_eq!(view.state, TrayState::SomeNotDirect);
        assert_eq!(view.summary, "Punchwire: 1 of 2 peers direct");
        assert_eq!(view.peers[1].label, "bob: not direct");
        assert!(view.running);

        let paused = TrayView::of(&status(
            json!([peer("bob", 3, "not-direct", "203.0.113.9:1")]),
            true,
        ));
        assert_eq!(paused.state, TrayState::Paused);
        assert!(!paused.running);

        assert_eq!(
            TrayView::unreachable("service not running").state,
            TrayState::Unreachable
        );
    }

    #[test]
    fn a_peer_without_a_name_is_shown_by_the_start_of_its_key() {
        let mut p = peer("x", 2, "direct", "198.51.100.7:4000");
        p["name"] = json!(null);
        let view = TrayView::of(&status(json!([p]), false));
        assert_eq!(view.peers[0].label, "AgICAgIC…: direct");
    }
}

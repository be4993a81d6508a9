//! What the tray shows, as a pure function of what the service last said: the icon's
//! state, the tooltip line, the interfaces it offers to set up and the per-peer quick
//! view. The verdicts (the summary, each peer's health, what discovery found) are the
//! service's; this only renders them.

use punchwire_control::setup::{Discovery, UnconfiguredInterface};
use punchwire_control::status::{PeerStatus, ServiceStatus, SummaryState};

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
    /// The WireGuard interfaces the configuration does not name yet.
    pub setup: Vec<SetupLine>,
    pub peers: Vec<PeerLine>,
}

/// One interface the tray offers to set up, or says why it cannot yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLine {
    /// "Keep wg0's peers direct (registry 10.99.0.1, zone example.com.)"
    pub label: String,
    /// The interface a click configures; none while no registry was found for it.
    pub enables: Option<String>,
}

/// A menu item wider than this is cut: the window shows the whole text.
const MAX_LABEL: usize = 80;

impl SetupLine {
    pub fn of(iface: &UnconfiguredInterface) -> Self {
        let name = &iface.name;
        let text = iface.discovery.text();
        match &iface.discovery {
            Discovery::Found { .. } => Self {
                label: shorten(&format!("Keep {name}'s peers direct ({text})")),
                enables: Some(name.clone()),
            },
            Discovery::Looking { .. } | Discovery::NotFound { .. } => Self {
                label: shorten(&format!("{name}: {text}")),
                enables: None,
            },
        }
    }
}

/// `text`, cut to [`MAX_LABEL`] characters with an ellipsis when longer.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_LABEL - 1).collect();
    cut.push('…');
    cut
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
            setup: Vec::new(),
            peers: Vec::new(),
        }
    }

    pub fn of(status: &ServiceStatus) -> Self {
        let state = match status.summary.state {
            // Nothing is wrong with a mesh that has no peers yet.
            SummaryState::AllDirect | SummaryState::NoPeers => TrayState::AllDirect,
            SummaryState::SomeNotDirect => TrayState::SomeNotDirect,
            SummaryState::Paused => TrayState::Paused,
        };
        Self {
            state,
            summary: format!("Punchwire: {}", status.summary.text),
            running: status.interfaces.iter().any(|i| !i.paused),
            setup: status.unconfigured.iter().map(SetupLine::of).collect(),
            peers: status
                .interfaces
                .iter()
                .flat_map(|i| &i.peers)
                .map(|p| PeerLine {
                    label: format!("{}: {}", peer_name(p), p.health.state.word()),
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
    display_name(p.name.as_deref(), &p.public_key)
}

/// `name`, else the first characters of `key`.
pub fn display_name(name: Option<&str>, key: &str) -> String {
    match name {
        Some(name) => name.to_owned(),
        None => format!("{}…", key.get(..8).unwrap_or(key)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The golden status and events shared with the service's, the CLI's and the
    /// window's tests (tests/fixtures/ at the repository root).
    pub fn fixture() -> Value {
        let read = |name: &str| -> serde_json::Value {
            let path = format!(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/{}"),
                name
            );
            let text =
                std::fs::read_to_string(&path).expect("the shared fixtures are in tests/fixtures");
            serde_json::from_str(&text).expect("the fixture is JSON")
        };
        serde_json::json!({"status": read("status.json"), "events": read("events.json")})
    }

    /// A status with `peers` and the summary the service would send with them.
    pub fn status(peers: Value, paused: bool, summary: (&str, &str)) -> ServiceStatus {
        serde_json::from_value(json!({
            "version": "0.1.0", "config_path": "/etc/punchwire/config.toml", "registry": null,
            "summary": {"state": summary.0, "text": summary.1},
            "interfaces": [{"name": "wg0", "zone": "example.com.", "paused": paused, "error": null,
                            "peers": peers, "registries": []}]
        }))
        .unwrap()
    }

    pub fn peer(name: &str, key_byte: u8, state: &str, endpoint: &str) -> Value {
        let key = format!("{key_byte:02}{}=", "A".repeat(41)); // as long as a base64 key
        let reason = match state {
            "registry" => json!({"kind": "registry-peer"}),
            "direct" => json!({"kind": "fresh-handshake", "age_secs": 5}),
            _ => json!({"kind": "no-handshake-yet", "decision": null}),
        };
        json!({"public_key": key, "name": name, "tunnel_ips": ["10.99.0.2/32"],
               "endpoint": endpoint, "endpoint_source": "registry", "latest_handshake_age_secs": 5,
               "rx_bytes": 1, "tx_bytes": 2, "health": {"state": state, "reason": reason, "text": "…"},
               "last_decision": null})
    }

    #[test]
    fn the_tray_says_what_the_shared_fixture_says() {
        let status: ServiceStatus = serde_json::from_value(fixture()["status"].clone()).unwrap();
        let view = TrayView::of(&status);
        assert_eq!(view.state, TrayState::SomeNotDirect);
        assert_eq!(view.summary, "Punchwire: 1 of 5 peers direct");
        let labels: Vec<&str> = view.peers.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "registry: registry",
                "alice: direct",
                "bob: not direct",
                "carol: stale",
                "dave: pending",
                "h5zJ/VdR…: not direct",
            ]
        );
        assert!(view.running);
    }

    #[test]
    fn the_icon_follows_the_service_s_summary() {
        let one = status(
            json!([
                peer("reg", 1, "registry", "192.0.2.1:51820"),
                peer("alice", 2, "direct", "198.51.100.7:4000")
            ]),
            false,
            ("all-direct", "The peer is direct"),
        );
        let view = TrayView::of(&one);
        assert_eq!(view.state, TrayState::AllDirect);
        assert_eq!(view.summary, "Punchwire: The peer is direct");
        assert_eq!(view.peers[1].label, "alice: direct");
        assert_eq!(view.peers[1].tunnel_ips, ["10.99.0.2"]);

        let some = status(
            json!([
                peer("alice", 2, "direct", "198.51.100.7:4000"),
                peer("bob", 3, "not-direct", "203.0.113.9:1")
            ]),
            false,
            ("some-not-direct", "1 of 2 peers direct"),
        );
        let view = TrayView::of(&some);
        assert_eq!(view.state, TrayState::SomeNotDirect);
        assert_eq!(view.summary, "Punchwire: 1 of 2 peers direct");
        assert_eq!(view.peers[1].label, "bob: not direct");
        assert!(view.running);

        let paused = TrayView::of(&status(
            json!([peer("bob", 3, "not-direct", "203.0.113.9:1")]),
            true,
            ("paused", "Discovery paused"),
        ));
        assert_eq!(paused.state, TrayState::Paused);
        assert_eq!(paused.summary, "Punchwire: Discovery paused");
        assert!(!paused.running);

        let empty = TrayView::of(&status(json!([]), false, ("no-peers", "No peers yet")));
        assert_eq!(empty.state, TrayState::AllDirect);

        assert_eq!(
            TrayView::unreachable("service not running").state,
            TrayState::Unreachable
        );
    }

    #[test]
    fn interfaces_not_configured_yet_are_offered_once_a_registry_is_found() {
        let mut status = status(json!([]), false, ("no-peers", "No peers yet"));
        let offer = |name: &str, peers, discovery| UnconfiguredInterface {
            name: name.into(),
            peers,
            discovery,
        };
        let registries = |list: &[&str]| list.iter().map(|r| r.parse().unwrap()).collect();
        status.unconfigured = vec![
            offer(
                "wg1",
                3,
                Discovery::found(registries(&["10.99.0.1:53"]), "example.com.".into()),
            ),
            offer("wg2", 1, Discovery::looking()),
            offer(
                "wg3",
                2,
                Discovery::not_found(
                    "no peer answered at its tunnel address (asked 10.98.0.1, 10.98.0.2)".into(),
                ),
            ),
            offer(
                "wg4",
                2,
                Discovery::found(
                    registries(&["10.97.0.1:53", "10.97.0.2:53", "10.97.0.3:53"]),
                    "home.example.".into(),
                ),
            ),
        ];
        let view = TrayView::of(&status);
        assert_eq!(
            view.setup,
            [
                SetupLine {
                    label: "Keep wg1's peers direct (registry 10.99.0.1, zone example.com.)".into(),
                    enables: Some("wg1".into()),
                },
                SetupLine {
                    label: "wg2: looking for a registry among the peers…".into(),
                    enables: None,
                },
                SetupLine {
                    label:
                        "wg3: no peer answered at its tunnel address (asked 10.98.0.1, 10.98.0.2)"
                            .into(),
                    enables: None,
                },
                SetupLine {
                    label: "Keep wg4's peers direct (registries 10.97.0.1, 10.97.0.2, 10.97.0.3, zone home.…"
                        .into(),
                    enables: Some("wg4".into()),
                },
            ]
        );
        assert!(view
            .setup
            .iter()
            .all(|l| l.label.chars().count() <= MAX_LABEL));
        assert_eq!(TrayView::unreachable("service not running").setup, []);
    }

    #[test]
    fn with_every_interface_configured_nothing_is_offered() {
        let status: ServiceStatus = serde_json::from_value(fixture()["status"].clone()).unwrap();
        assert_eq!(TrayView::of(&status).setup, []);
    }

    #[test]
    fn a_peer_without_a_name_is_shown_by_the_start_of_its_key() {
        let mut p = peer("x", 2, "direct", "198.51.100.7:4000");
        p["name"] = json!(null);
        let view = TrayView::of(&status(
            json!([p]),
            false,
            ("all-direct", "The peer is direct"),
        ));
        assert_eq!(view.peers[0].label, "02AAAAAA…: direct");
    }
}

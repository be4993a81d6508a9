//! The state the service reports on the control socket (`status`), as plain data.
//!
//! This is a contract with the CLI, the tray app and users' scripts: fields are only
//! added, never renamed, within protocol version 1.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A handshake younger than this means the tunnel is up. WireGuard re-handshakes every
/// two minutes while traffic (or keepalive) flows, so a live tunnel never exceeds this.
pub const LIVE_HANDSHAKE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service's version, e.g. "0.1.0".
    pub version: String,
    pub config_path: String,
    pub interfaces: Vec<InterfaceStatus>,
    /// Present when this machine serves as a registry.
    pub registry: Option<RegistryModeStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    pub zone: String,
    pub paused: bool,
    /// Why the interface cannot be read right now, if it cannot (e.g. it is down).
    pub error: Option<String>,
    pub peers: Vec<PeerStatus>,
    pub registries: Vec<RegistryLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's WireGuard public key, in base64 as `wg show` prints it.
    pub public_key: String,
    /// A human name where one is configured.
    pub name: Option<String>,
    pub tunnel_ips: Vec<IpNet>,
    pub endpoint: Option<SocketAddr>,
    pub endpoint_source: EndpointSource,
    pub latest_handshake_age_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub health: Health,
    /// The discovery engine's latest word on this peer, e.g. "fresh-handshake".
    pub last_decision: Option<String>,
}

impl PeerStatus {
    /// The first characters of the key, enough to tell peers apart where no name is given.
    pub fn short_key(&self) -> &str {
        self.public_key.get(..8).unwrap_or(&self.public_key)
    }
}

/// Where a peer's current endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointSource {
    /// No endpoint yet.
    None,
    /// Set by Punchwire from a registry's answer.
    Registry,
    /// Configured outside Punchwire and left alone.
    Static,
    /// WireGuard moved it itself (the peer roamed) after Punchwire set it.
    Roaming,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    /// Why, when the state is not `direct`: what a user can act on.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// A fresh handshake: traffic flows peer to peer.
    Direct,
    /// An endpoint was just set; waiting for the first handshake on it.
    Pending,
    /// The tunnel was up, but its latest handshake is old.
    Stale,
    /// No working direct path, with the reason.
    NotDirect,
    /// The registry peer itself: reached through its public address, not discovered.
    Registry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryLink {
    pub address: SocketAddr,
    /// `None` until it has been asked.
    pub reachable: Option<bool>,
    pub rtt_ms: Option<f64>,
    pub serial: Option<u32>,
    pub last_sync_age_secs: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryModeStatus {
    pub enabled: bool,
    pub zone: String,
    pub device: String,
    pub listen: Vec<SocketAddr>,
    pub peers_served: usize,
    pub queries: u64,
    pub refusals: u64,
    pub error: Option<String>,
    /// Queries and TCP connections from sources outside every peer's AllowedIPs, dropped
    /// unanswered. (Default: a service older than the field.)
    #[serde(default)]
    pub strangers_dropped: u64,
    /// UDP responses held back because their source asked faster than its rate.
    #[serde(default)]
    pub rate_limited: u64,
    /// TCP connections closed at once because the registry's cap was reached.
    #[serde(default)]
    pub tcp_refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_status_from_an_older_service_still_reads_with_its_new_counters_at_zero() {
        let older = r#"{"enabled":true,"zone":"example.com.","device":"wg0",
            "listen":["10.99.0.1:53"],"peers_served":3,"queries":10,"refusals":1,"error":null}"#;
        let status: RegistryModeStatus = serde_json::from_str(older).unwrap();
        assert_eq!(status.queries, 10);
        assert_eq!(
            (
                status.strangers_dropped,
                status.rate_limited,
                status.tcp_refused
            ),
            (0, 0, 0)
        );
    }
}

//! The state the service reports on the control socket (`status`), as plain data.
//!
//! This is a contract with the CLI, the tray app and users' scripts: fields are only
//! added, never renamed, within protocol version 1.

use std::fmt;
use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::rejection::Rejection;
use crate::setup::{Discovery, UnconfiguredInterface};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServiceStatus {
    /// The service's version, e.g. "0.1.0".
    pub version: String,
    pub config_path: String,
    /// The one-glance verdict the tray icon and the window's header show, worded once
    /// by the service so that every client says the same.
    pub summary: Summary,
    pub interfaces: Vec<InterfaceStatus>,
    /// Present when this machine serves as a registry.
    pub registry: Option<RegistryModeStatus>,
    /// The WireGuard interfaces the service can see that no `[[interface]]` names (the
    /// registry's own device aside), each with what asking its peers found. (Empty: a
    /// service older than the field.)
    #[serde(default)]
    pub unconfigured: Vec<UnconfiguredInterface>,
    /// The zone to propose for registry mode; present while no `[registry]` is
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub proposed_registry_zone: Option<String>,
}

/// The whole mesh at a glance: its state and the sentence that says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Summary {
    pub state: SummaryState,
    /// "All 3 peers direct", "The peer is direct", "1 of 2 peers direct", ...
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum SummaryState {
    /// Every peer that matters (all but the registry peer) is direct.
    AllDirect,
    /// At least one such peer is not direct (pending, stale or not direct).
    SomeNotDirect,
    /// Discovery is paused on every interface.
    Paused,
    /// No peer to be direct with (the registry peer aside).
    NoPeers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct InterfaceStatus {
    pub name: String,
    /// The zone asked, configured or discovered; empty while it is still being looked for.
    pub zone: String,
    pub paused: bool,
    /// Why the interface cannot be read right now, if it cannot (e.g. it is down).
    pub error: Option<String>,
    pub peers: Vec<PeerStatus>,
    pub registries: Vec<RegistryLink>,
    /// Present when the configuration left the registries or the zone out: how finding
    /// them among the peers went (RFC 6763 §11 enumeration over the tunnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub discovery: Option<Discovery>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PeerStatus {
    /// The peer's WireGuard public key, in base64 as `wg show` prints it.
    pub public_key: String,
    /// A human name where one is configured.
    pub name: Option<String>,
    #[cfg_attr(test, ts(type = "string[]"))]
    pub tunnel_ips: Vec<IpNet>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub endpoint: Option<SocketAddr>,
    pub endpoint_source: EndpointSource,
    pub latest_handshake_age_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub health: Health,
    /// The discovery engine's latest word on this peer, e.g. "fresh-handshake".
    pub last_decision: Option<String>,
    /// When that word is a rejection, its kind (`last_decision` has it in words).
    /// Absent otherwise, and from a service older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub last_rejection: Option<Rejection>,
}

impl PeerStatus {
    /// The first characters of the key, enough to tell peers apart where no name is given.
    pub fn short_key(&self) -> &str {
        self.public_key.get(..8).unwrap_or(&self.public_key)
    }
}

/// Where a peer's current endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
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

/// A peer's health as the discovery engine judged it: the state, the typed reason for
/// it, and that reason in words (`text`, the reason's [`fmt::Display`]), so that every
/// client says the same thing without re-wording it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Health {
    pub state: HealthState,
    pub reason: HealthReason,
    pub text: String,
}

impl Health {
    /// The health that `reason` stands for, with its words.
    pub fn new(reason: HealthReason) -> Self {
        Self {
            state: reason.state(),
            text: reason.to_string(),
            reason,
        }
    }
}

/// Why a peer is in its state; serialized with a `kind` tag, in kebab-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HealthReason {
    /// Direct: the latest handshake is this many seconds old, within the fresh window.
    FreshHandshake { age_secs: u64 },
    /// Pending: Punchwire set `endpoint` this many seconds ago; no handshake yet.
    WaitingForHandshake {
        #[cfg_attr(test, ts(type = "string"))]
        endpoint: SocketAddr,
        set_secs_ago: u64,
    },
    /// Not direct: no handshake followed the endpoint Punchwire set. Further endpoint
    /// changes are held back for a while that grows with each failed attempt.
    NoHandshakeAfterSet {
        #[cfg_attr(test, ts(type = "string"))]
        endpoint: SocketAddr,
    },
    /// Stale: the tunnel had a handshake, but it is this old.
    HandshakeOld { age_secs: u64 },
    /// Not direct: the peer has no endpoint; `decision` is the engine's latest word on
    /// it (e.g. "no-record").
    NoEndpoint { decision: Option<String> },
    /// Not direct: an endpoint, but never a handshake on it, and not one Punchwire set.
    NoHandshakeYet { decision: Option<String> },
    /// The registry peer: its endpoint is configured, not discovered.
    RegistryPeer,
    /// Relayed: no direct path (`because`, the not-direct reason in words), so the peer's
    /// tunnel addresses go through the registry peer, this many seconds now; the
    /// direct path is still tried, and a handshake on it ends the relay.
    RelayedViaRegistry { because: String, since_secs: u64 },
}

impl HealthReason {
    /// The state this reason puts a peer in.
    pub fn state(&self) -> HealthState {
        match self {
            HealthReason::FreshHandshake { .. } => HealthState::Direct,
            HealthReason::WaitingForHandshake { .. } => HealthState::Pending,
            HealthReason::HandshakeOld { .. } => HealthState::Stale,
            HealthReason::NoHandshakeAfterSet { .. }
            | HealthReason::NoEndpoint { .. }
            | HealthReason::NoHandshakeYet { .. } => HealthState::NotDirect,
            HealthReason::RegistryPeer => HealthState::Registry,
            HealthReason::RelayedViaRegistry { .. } => HealthState::Relayed,
        }
    }
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decided =
            |f: &mut fmt::Formatter<'_>, what: &str, decision: &Option<String>| match decision {
                Some(decision) => write!(f, "{what} (discovery: {decision})"),
                None => f.write_str(what),
            };
        match self {
            HealthReason::FreshHandshake { age_secs } => write!(f, "handshake {age_secs} s ago"),
            HealthReason::WaitingForHandshake {
                endpoint,
                set_secs_ago,
            } => write!(
                f,
                "waiting for the first handshake on {endpoint}, set {set_secs_ago} s ago"
            ),
            HealthReason::NoHandshakeAfterSet { endpoint } => write!(
                f,
                "no handshake followed endpoint {endpoint} (symmetric NAT on either side?)"
            ),
            HealthReason::HandshakeOld { age_secs } => {
                write!(f, "latest handshake {age_secs} s ago")
            }
            HealthReason::NoEndpoint { decision } => decided(f, "no endpoint yet", decision),
            HealthReason::NoHandshakeYet { decision } => decided(f, "no handshake yet", decision),
            HealthReason::RegistryPeer => {
                f.write_str("the registry peer: its endpoint is configured, not discovered")
            }
            HealthReason::RelayedViaRegistry {
                because,
                since_secs,
            } => write!(
                f,
                "relayed via registry for {since_secs} s, as {because}; the direct path is \
                 still tried"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
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
    /// No direct path, so its traffic goes through the registry peer (relay is on).
    Relayed,
}

impl HealthState {
    /// The state in a word or two, as every client shows it.
    pub fn word(self) -> &'static str {
        match self {
            HealthState::Direct => "direct",
            HealthState::Pending => "pending",
            HealthState::Stale => "stale",
            HealthState::NotDirect => "not direct",
            HealthState::Registry => "registry",
            HealthState::Relayed => "relayed via registry",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegistryLink {
    #[cfg_attr(test, ts(type = "string"))]
    pub address: SocketAddr,
    /// `None` until it has been asked.
    pub reachable: Option<bool>,
    pub rtt_ms: Option<f64>,
    pub serial: Option<u32>,
    pub last_sync_age_secs: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegistryModeStatus {
    pub enabled: bool,
    pub zone: String,
    pub device: String,
    #[cfg_attr(test, ts(type = "string[]"))]
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

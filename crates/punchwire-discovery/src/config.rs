//! What one interface's discovery works on and how often.

use std::net::SocketAddr;
use std::time::Duration;

use crate::peer_health::{Thresholds, DEFAULT_PENDING_FOR};
use crate::policy::DEFAULT_FRESH_HANDSHAKE;

/// A full pass at least this often, whatever the SOA serials say.
pub const DEFAULT_INTERVAL: Duration = punchwire_control::defaults::DEFAULT_INTERVAL.get();
/// How often to ask for the SOA serial, which changes whenever any record does.
pub const DEFAULT_POLL: Duration = punchwire_control::defaults::DEFAULT_POLL.get();

#[derive(Debug, Clone)]
pub struct Config {
    /// The WireGuard interface whose peers to keep current.
    pub iface: String,
    /// The registries' DNS servers, most trusted first.
    pub registries: Vec<SocketAddr>,
    pub interval: Duration,
    pub poll: Duration,
    /// A handshake younger than this is fresh: its endpoint is never replaced.
    pub fresh_handshake: Duration,
    /// How long a handshake may take to follow an endpoint we set (the peer is
    /// pending meanwhile, not direct after).
    pub direct_timeout: Duration,
    /// Send a datagram through the tunnel after setting an endpoint, so that the
    /// handshake starts at once (see [`crate::nudge`]).
    pub nudge: bool,
    /// Ask for the peers' registered candidates and try them before a NAT mapping (see
    /// [`crate::paths`]).
    pub candidates: bool,
}

impl Config {
    pub fn new(iface: impl Into<String>, registries: Vec<SocketAddr>) -> Self {
        Self {
            iface: iface.into(),
            registries,
            interval: DEFAULT_INTERVAL,
            poll: DEFAULT_POLL,
            fresh_handshake: DEFAULT_FRESH_HANDSHAKE,
            direct_timeout: DEFAULT_PENDING_FOR,
            nudge: true,
            candidates: true,
        }
    }

    /// The health thresholds this configuration sets.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            fresh_handshake: self.fresh_handshake,
            pending_for: self.direct_timeout,
            ..Thresholds::default()
        }
    }
}

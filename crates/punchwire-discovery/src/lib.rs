//! Discovery: keep every peer's WireGuard endpoint current from one or more registries
//! that publish endpoints as DNS-SD records (the wgsd layout).
//!
//! The data path, one module per step: [`exchange`] asks a DNS server one question;
//! [`lookup`] turns the SRV answer for a key into a [`PublishedEndpoint`]; [`prefer`] picks one
//! answer out of several registries'; [`policy`] decides, without I/O, whether it becomes
//! the peer's endpoint (with [`address_class`], the addresses never a peer's);
//! [`peer_health`] judges each peer's health (direct, pending, not
//! direct, stale) and holds the policy back while endpoints we set lead to no
//! handshake; [`core`] makes every judgement of a pass as a state machine without I/O;
//! [`engine`] is its driver, the only code doing I/O: it runs the core against a device,
//! emits [`Event`]s and publishes each interface's [`InterfaceView`]; [`health`] paces
//! the registries that fail; [`registry_route`] checks that the registries are asked
//! through the tunnel.

pub mod address_class;
pub mod candidates;
pub mod config;
pub mod core;
pub mod engine;
pub mod events;
pub mod exchange;
pub mod find;
#[cfg(test)]
mod fixtures;
pub mod health;
pub mod lookup;
pub mod network_watch;
// Tests' stand-in for the registries: not in a build that ships.
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod nudge;
pub mod paths;
pub mod peer_health;
pub mod policy;
pub mod prefer;
pub mod registry_route;
pub mod view;

pub use config::Config;
pub use core::{Core, Moment, Outcome, Pass};
pub use engine::Engine;
pub use events::Event;
pub use exchange::DnsError;
pub use lookup::{AnswerSource, DnsSource, Lookup, PublishedEndpoint};
#[cfg(any(test, feature = "test-util"))]
pub use memory::MemorySource;
pub use peer_health::{Facts, PeerHealth, Thresholds};
pub use policy::{decide, serves_registry, Action, Decision, Held, PolicyContext, Reason, Recall};
pub use registry_route::{registry_outside_tunnel, OutsideTunnel};
pub use view::{InterfaceView, RegistryReading};

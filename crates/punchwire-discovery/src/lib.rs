//! Discovery: keep every peer's WireGuard endpoint current from one or more registries
//! that publish endpoints as DNS-SD records (the wgsd layout).
//!
//! The data path, one module per step: [`exchange`] asks a DNS server one question;
//! [`lookup`] turns the SRV answer for a key into an [`Answer`]; [`prefer`] picks one
//! answer out of several registries'; [`policy`] decides, without I/O, whether it becomes
//! the peer's endpoint; [`direct`] remembers whether the endpoints we set led to
//! handshakes; [`engine`] runs all of it against a device and emits [`Event`]s;
//! [`health`] paces the registries that fail.

pub mod direct;
pub mod engine;
pub mod events;
pub mod exchange;
pub mod health;
pub mod lookup;
pub mod memory;
pub mod nudge;
pub mod policy;
pub mod prefer;

pub use engine::{Config, Engine, Outcome, Pass};
pub use events::Event;
pub use exchange::DnsError;
pub use lookup::{Answer, AnswerSource, DnsSource, Lookup};
pub use memory::MemorySource;
pub use policy::{decide, Action, Decision, PolicyContext, Reason};

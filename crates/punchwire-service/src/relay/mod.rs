//! Relay through the registry, opt-in per interface (`relay = true`): when a peer stays
//! not direct, its tunnel addresses move onto the registry peer's AllowedIPs (WireGuard
//! routes an address to one peer only), so that its traffic goes through the registry,
//! which forwards between its peers. The peer keeps its endpoint and keepalive, so the
//! direct path is still tried, and the first direct handshake moves the addresses back.
//!
//! Every change is recorded first ([`record`]) and undone on a pause, on the
//! interface's stop, and, after a crash, when the interface starts again: the user's
//! AllowedIPs always come back as they were.

pub mod plan;
pub mod record;
mod task;

pub use task::{undo, RelayError, Relayed, Relayer, Relays, LOOK_EVERY};

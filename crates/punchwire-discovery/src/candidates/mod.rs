//! This machine's own addresses for its peers, its *candidates*: its LAN addresses and
//! its global IPv6 addresses, with its WireGuard listen port. The registry sees one
//! address of each peer (its NAT mapping); two laptops behind one router, or a peer with
//! a global IPv6 address, have better ones, which only the peer itself knows.
//!
//! The path is `gather` (the addresses worth registering, from one reading of this
//! machine's interfaces) → `registration` (one DNS UPDATE that replaces this peer's whole
//! set at `_candidates.<b32>._wireguard._udp.<zone>`) → `register` (sent to a registry
//! over the tunnel, its answer read). The registry accepts it because it comes from this
//! peer's tunnel address, and serves the set until its lease ends, so the service sends
//! it again well before.

mod gather;
mod register;
mod registration;

pub use gather::{gather, MAX_CANDIDATES};
pub use register::{register, RegisterError};
pub use registration::{candidate_name, registration};

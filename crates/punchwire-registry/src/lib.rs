//! The Punchwire registry: serves the peers of a live WireGuard device as DNS-SD records in
//! the wgsd layout, so that peers behind NAT can learn each other's endpoints.
//!
//! Read it as the path of one query: `server` (a packet from hickory-server, who is asking)
//! → `answer` (the question against a `snapshot`) → `fit` (what fits in the message). The
//! snapshot is rebuilt by `refresh` in the background and swapped in through `live`;
//! `registry` starts and stops all of it.

mod acl;
mod answer;
mod fit;
mod iface;
mod live;
mod refresh;
mod registry;
mod server;
mod snapshot;
mod stats;
mod zone;

pub use iface::tunnel_addresses;
pub use registry::{
    Registry, RegistryConfig, RegistryError, RunningRegistry, DEFAULT_REFRESH, DEFAULT_STALE_AFTER,
    DNS_PORT,
};
pub use server::MAX_UDP_PAYLOAD;
pub use snapshot::SelfRecord;
pub use stats::RegistryStats;
pub use zone::{Zone, ZoneError};

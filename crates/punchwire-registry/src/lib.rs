//! The Punchwire registry: serves the peers of a live WireGuard device as DNS-SD records in
//! the wgsd layout, so that peers behind NAT can learn each other's endpoints.
//!
//! Read it as the path of one query: `udp` (a datagram off the socket) → `wire` (the query
//! read in place) → `respond` (who is asking; a response `prepared` for the instance asked
//! about, or else `answer`, the question against a `snapshot`, and `fit`, what fits in the
//! message). TCP queries come through hickory-server to `server`, which answers the same
//! way. The snapshot is rebuilt by `refresh` in the background and swapped in through
//! `live`; `registry` starts and stops all of it.

mod acl;
mod answer;
mod fit;
mod iface;
mod live;
mod prepared;
mod refresh;
mod registry;
mod respond;
mod server;
mod snapshot;
mod stats;
mod udp;
mod wire;
mod zone;

pub use iface::tunnel_addresses;
pub use registry::{
    Registry, RegistryConfig, RegistryError, RunningRegistry, DEFAULT_REFRESH, DEFAULT_STALE_AFTER,
    DNS_PORT,
};
pub use respond::MAX_UDP_PAYLOAD;
pub use snapshot::SelfRecord;
pub use stats::RegistryStats;

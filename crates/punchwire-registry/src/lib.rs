//! The Punchwire registry: serves the peers of a live WireGuard device as DNS-SD records in
//! the wgsd layout, so that peers behind NAT can learn each other's endpoints.
//!
//! Read it as the path of one query: `listen` (sockets tied to the device when on its own
//! address) → `udp` (a datagram off the socket) or `tcp` (a connection admitted and capped,
//! then its messages) → `wire` (the query read in place) → `respond` (who is asking, and
//! whether `rate` lets them have another response; a response `prepared` for the instance
//! asked about, or else `answer`, the question against a `snapshot`, and `fit`, what fits
//! in the message). The snapshot is rebuilt by `refresh` in the background and swapped in
//! through `live`; `registry` starts and stops all of it, with `open_files` keeping TCP
//! clients to half the descriptors. `summary` keeps what strangers can cause from
//! flooding the log.

mod acl;
mod answer;
mod enumeration;
mod fit;
#[cfg(test)]
mod fixtures;
/// For the fuzz targets in `fuzz/` only.
#[doc(hidden)]
pub mod fuzzing;
mod iface;
mod instance;
mod listen;
mod live;
mod negative;
mod open_files;
mod prepared;
mod rate;
mod records;
mod refresh;
mod registry;
mod respond;
mod snapshot;
mod stats;
mod summary;
mod tcp;
mod udp;
mod wire;
mod zone;

pub use iface::tunnel_addresses;
pub use open_files::{raise_open_file_limit, OpenFileLimit};
pub use rate::{ResponseRate, DEFAULT_RESPONSE_RATE};
pub use registry::{
    Registry, RegistryConfig, RegistryError, RunningRegistry, DEFAULT_REFRESH, DEFAULT_STALE_AFTER,
    DNS_PORT,
};
pub use respond::MAX_UDP_PAYLOAD;
pub use snapshot::SelfRecord;
pub use stats::RegistryStats;
pub use tcp::TcpLimits;

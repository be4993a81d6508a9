//! The Punchwire registry: serves the peers of a live WireGuard device as DNS-SD records in
//! the wgsd layout, so that peers behind NAT can learn each other's endpoints.
//!
//! Read it as the path of one query: `listen` (sockets tied to the device when on its own
//! address) → `udp` (a datagram off the socket) or `tcp` (a connection admitted and capped,
//! then its messages) → `wire` (the query read in place) → `respond`, the one decision both
//! transports share: who is asking, whether `rate` lets them have another response, then
//! the name read once against the `snapshot` and one of three paths — an `instance`'s
//! prepared response (`instance::prepared`); a name the zone does not have, from the
//! `negative` SOA; or else `answer`, the question against the snapshot, with `fit`
//! choosing what fits and `encode` writing it.
//!
//! An UPDATE (RFC 2136) takes its own path from `respond`, after the same access check
//! and rate limit: `update` reads it, judges it as the sender's (`owners` says who owns a
//! tunnel address) and keeps the sender's `candidates` with a lease.
//!
//! What is served: a `snapshot` holds the zone's `records`, one `instance` per peer
//! (its records, and the responses prepared for it) and the peers' `candidates`. It is rebuilt by `refresh` in the
//! background, which is watched so that a stop is reported, and swapped in through `live`;
//! `registry` starts and stops all of it, with `open_files` keeping TCP clients to half
//! the descriptors. `summary` keeps what strangers can cause from flooding the log.

mod acl;
mod answer;
mod candidates;
mod encode;
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
mod owners;
mod rate;
mod records;
mod refresh;
mod registry;
mod relay_forwarding;
mod respond;
mod snapshot;
mod stats;
mod summary;
mod tcp;
mod udp;
mod update;
mod wire;
mod zone;

pub use fit::MAX_UDP_PAYLOAD;
pub use iface::tunnel_addresses;
pub use open_files::{raise_open_file_limit, OpenFileLimit};
pub use rate::{ResponseRate, DEFAULT_RESPONSE_RATE};
pub use registry::{
    Registry, RegistryConfig, RegistryError, RunningRegistry, DEFAULT_REFRESH, DEFAULT_STALE_AFTER,
    DNS_PORT,
};
pub use relay_forwarding::{ForwardingError, RelayForwarding};
pub use snapshot::SelfRecord;
pub use stats::RegistryStats;
pub use tcp::TcpLimits;
pub use update::DEFAULT_CANDIDATE_LEASE;

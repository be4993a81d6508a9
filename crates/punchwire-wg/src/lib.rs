//! WireGuard as Punchwire sees it: public keys, devices and peers, and the backends
//! that read a device, set one peer's endpoint and move allowed IPs between peers.

pub mod backend;
pub mod device;
/// For the fuzz targets in `fuzz/` only.
#[cfg(unix)]
#[doc(hidden)]
pub mod fuzzing;
pub mod key;
pub mod local;

#[cfg(target_os = "linux")]
pub use backend::KernelBackend;
#[cfg(any(test, feature = "test-util"))]
pub use backend::MemoryBackend;
#[cfg(windows)]
pub use backend::NtBackend;
pub use backend::{Backend, BackendError, SystemBackend, WireGuard};
#[cfg(unix)]
pub use backend::{Implementation, UapiBackend};
pub use device::{Device, Endpoint, EndpointError, Peer};
pub use key::{KeyError, PublicKey};
pub use local::{local_addresses, LocalAddresses};

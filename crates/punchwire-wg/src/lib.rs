//! WireGuard as Punchwire sees it: public keys, devices and peers, and the backends
//! that read a device and set one peer's endpoint.

pub mod backend;
pub mod device;
pub mod key;

#[cfg(target_os = "linux")]
pub use backend::KernelBackend;
#[cfg(windows)]
pub use backend::NtBackend;
pub use backend::{Backend, BackendError, MemoryBackend, SystemBackend, WireGuard};
#[cfg(unix)]
pub use backend::{Implementation, UapiBackend};
pub use device::{Device, Endpoint, EndpointError, Peer};
pub use key::{KeyError, PublicKey};

//! The one seam between Punchwire and a WireGuard implementation.
//!
//! Each implementation lives in its own module and answers the same questions: which
//! interfaces exist, what does one hold, "set this peer's endpoint, leave everything
//! else as it was", and "route these addresses to these peers". [`Backend`] wraps any of them with a deadline, because a
//! wedged userspace daemon must never wedge the service.

// For the backends that apply a change themselves: boringtun's (UAPI) and memory.
#[cfg(any(unix, test, feature = "test-util"))]
mod allowed_ips;
mod error;
#[cfg(target_os = "linux")]
mod kernel;
// Tests' stand-in for a device: not in a build that ships.
#[cfg(any(test, feature = "test-util"))]
mod memory;
mod nt;
mod system;
#[cfg(unix)]
mod uapi;

pub use error::{BackendError, LoadFailure};
#[cfg(target_os = "linux")]
pub use kernel::KernelBackend;
#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryBackend;
#[cfg(windows)]
pub use nt::NtBackend;
pub use system::SystemBackend;
#[cfg(unix)]
pub(crate) use uapi::read_get_answer;
#[cfg(unix)]
pub use uapi::{Implementation, UapiBackend};

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

/// A WireGuard implementation, called from blocking code.
///
/// Implementations must bound their own I/O where they can (socket timeouts); the
/// [`Backend`] facade adds an outer deadline for the calls they cannot bound.
pub trait WireGuard: Send + Sync + 'static {
    /// A short name for messages: "kernel", "userspace", "wireguard-nt", "memory".
    fn kind(&self) -> &'static str;

    /// Names of the interfaces this implementation can see.
    fn interfaces(&self) -> Result<Vec<String>, BackendError>;

    /// Reads one interface and all of its peers.
    fn device(&self, iface: &str) -> Result<Device, BackendError>;

    /// Points `peer` at `endpoint`. `peer` is the peer as the caller read it with
    /// [`WireGuard::device`]: the snapshot a decision was made on, so that a pass which
    /// sets N endpoints reads the device once, not once more per write. Backends take
    /// from it only whether the endpoint already is `endpoint` (then nothing is written)
    /// and whether the peer has a session; a write that only moves the endpoint needs
    /// no read.
    ///
    /// Never creates a peer, and leaves its allowed IPs, keepalive and preshared key as
    /// they are on the device, whatever the snapshot says. A backend may make a peer
    /// without a session anew with those settings, in one request, so that its first
    /// handshake goes out at once (the UAPI backend does for wireguard-go, and the
    /// kernel and wireguard-nt backends do); it then
    /// reads that peer's configuration right before the write, as the preshared key is
    /// never in the snapshot and the rest may have changed since.
    ///
    /// A peer removed since the snapshot stays removed. A backend that writes without
    /// reading cannot tell: WireGuard skips an update-only write to a missing peer and
    /// reports success, so the write does too, and the next read no longer lists the
    /// peer. Backends that read first say [`BackendError::NoSuchPeer`].
    fn set_endpoint(
        &self,
        iface: &str,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError>;

    /// This machine's addresses changed: let go of anything the implementation keeps of
    /// the old network, such as sockets tied to an address that is gone. Changes no
    /// configuration. Required, not defaulted, so that no wrapper forgets to pass it on.
    fn rebind(&self, iface: &str) -> Result<(), BackendError>;

    /// Sets the allowed IPs of each listed peer to exactly its list, all in one request, in
    /// the order given. WireGuard routes an address to one peer only, so listing an address
    /// for one peer takes it from any other; a relay moves a peer's addresses onto the
    /// registry peer and back this way. Never creates a peer: a listed peer that is not on
    /// the device is BackendError::NoSuchPeer (read first where the backend cannot tell).
    /// Changes nothing else (endpoint, keepalive, keys).
    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError>;
}

/// Refuses a [`WireGuard::set_allowed_ips`] that lists a peer the device does not have
/// (`has` says which it has), before anything is written: the call never creates one.
pub(crate) fn every_listed_peer_present(
    iface: &str,
    peers: &[(PublicKey, Vec<IpNet>)],
    has: impl Fn(&PublicKey) -> bool,
) -> Result<(), BackendError> {
    match peers.iter().find(|(key, _)| !has(key)) {
        Some((missing, _)) => Err(BackendError::NoSuchPeer {
            iface: iface.to_owned(),
            peer: *missing,
        }),
        None => Ok(()),
    }
}

/// How long one backend call may take before it is reported as not answering.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(3);

/// An async, deadline-bound handle on a [`WireGuard`] implementation.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<dyn WireGuard>,
    deadline: Duration,
}

impl Backend {
    pub fn new(inner: impl WireGuard) -> Self {
        Self::from_arc(Arc::new(inner))
    }

    pub fn from_arc(inner: Arc<dyn WireGuard>) -> Self {
        Self {
            inner,
            deadline: DEFAULT_DEADLINE,
        }
    }

    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    pub async fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        self.call("listing interfaces", |wg| wg.interfaces()).await
    }

    pub async fn device(&self, iface: &str) -> Result<Device, BackendError> {
        let name = iface.to_owned();
        self.call(format!("reading {iface}"), move |wg| wg.device(&name))
            .await
    }

    /// [`WireGuard::set_endpoint`], with `peer` as the caller read it.
    pub async fn set_endpoint(
        &self,
        iface: &str,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        let name = iface.to_owned();
        let snapshot = peer.clone();
        self.call(
            format!(
                "setting the endpoint of {} on {iface}",
                peer.public_key.short()
            ),
            move |wg| wg.set_endpoint(&name, &snapshot, endpoint),
        )
        .await
    }

    /// [`WireGuard::rebind`].
    pub async fn rebind(&self, iface: &str) -> Result<(), BackendError> {
        let name = iface.to_owned();
        self.call(format!("rebinding {iface}"), move |wg| wg.rebind(&name))
            .await
    }

    /// [`WireGuard::set_allowed_ips`].
    pub async fn set_allowed_ips(
        &self,
        iface: &str,
        peers: Vec<(PublicKey, Vec<IpNet>)>,
    ) -> Result<(), BackendError> {
        let name = iface.to_owned();
        self.call(
            format!(
                "setting the allowed IPs of {} peers on {iface}",
                peers.len()
            ),
            move |wg| wg.set_allowed_ips(&name, &peers),
        )
        .await
    }

    async fn call<T: Send + 'static>(
        &self,
        what: impl Into<String>,
        f: impl FnOnce(&dyn WireGuard) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || f(inner.as_ref()));
        match tokio::time::timeout(self.deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(BackendError::Internal {
                what: format!("{} backend panicked while {}", self.kind(), what.into()),
                source: join,
            }),
            Err(_) => Err(BackendError::Deadline {
                what: what.into(),
                after: self.deadline,
            }),
        }
    }
}

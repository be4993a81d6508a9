//! Every WireGuard the operating system offers, behind one [`WireGuard`]: what the
//! CLI and the service use.
//!
//! On Linux that is the kernel (netlink) and userspace daemons (UAPI sockets); on
//! other Unixes (macOS) userspace only; on Windows the wireguard-nt driver.

use ipnet::IpNet;

use super::{BackendError, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

#[cfg(target_os = "linux")]
use super::KernelBackend;
#[cfg(windows)]
use super::NtBackend;
#[cfg(unix)]
use super::UapiBackend;

/// Kernel and userspace WireGuard together (wireguard-nt on Windows). An interface is served by the userspace
/// daemon whose socket exists, else by the kernel.
#[derive(Debug, Clone, Default)]
pub struct SystemBackend {
    #[cfg(unix)]
    userspace: UapiBackend,
    #[cfg(target_os = "linux")]
    kernel: KernelBackend,
    #[cfg(windows)]
    nt: NtBackend,
}

impl SystemBackend {
    /// The platform's backends with their default locations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Userspace sockets from `userspace` (another directory, another timeout).
    #[cfg(unix)]
    pub fn with_userspace(userspace: UapiBackend) -> Self {
        Self {
            userspace,
            ..Self::default()
        }
    }

    /// Every part, in the order they are asked.
    fn parts(&self) -> Vec<&dyn WireGuard> {
        let parts: Vec<&dyn WireGuard> = vec![
            #[cfg(unix)]
            &self.userspace,
            #[cfg(target_os = "linux")]
            &self.kernel,
            #[cfg(windows)]
            &self.nt,
        ];
        parts
    }

    /// The part that serves `iface`, if any can.
    fn part_for(&self, iface: &str) -> Result<&dyn WireGuard, BackendError> {
        #[cfg(unix)]
        if self.userspace.has_interface(iface) {
            return Ok(&self.userspace);
        }
        #[cfg(target_os = "linux")]
        return Ok(&self.kernel);
        // wireguard-nt serves every adapter; it names a missing one itself.
        #[cfg(windows)]
        return {
            let _ = iface;
            Ok(&self.nt)
        };
        #[allow(unreachable_code)]
        Err(BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        })
    }
}

impl WireGuard for SystemBackend {
    fn kind(&self) -> &'static str {
        "system"
    }

    /// The union of every part's interfaces, sorted. A part the platform does not
    /// support contributes nothing; any other failure is reported, so that a
    /// permission problem is not mistaken for "no interfaces".
    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        for part in self.parts() {
            match part.interfaces() {
                Ok(found) => names.extend(found),
                Err(err @ BackendError::Unsupported { .. }) => {
                    tracing::debug!("skipping an unsupported WireGuard backend: {err}")
                }
                Err(err) => return Err(err),
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        self.part_for(iface)?.device(iface)
    }

    fn set_endpoint(
        &self,
        iface: &str,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        self.part_for(iface)?.set_endpoint(iface, peer, endpoint)
    }

    fn rebind(&self, iface: &str) -> Result<(), BackendError> {
        self.part_for(iface)?.rebind(iface)
    }

    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        self.part_for(iface)?.set_allowed_ips(iface, peers)
    }
}

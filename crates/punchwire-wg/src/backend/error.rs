use std::path::PathBuf;
use std::time::Duration;

use crate::key::PublicKey;

/// What went wrong talking to WireGuard, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no WireGuard interface named {iface:?}")]
    NoSuchInterface { iface: String },

    #[cfg_attr(
        not(windows),
        error("permission denied on {iface}: controlling WireGuard needs root or CAP_NET_ADMIN")
    )]
    #[cfg_attr(
        windows,
        error("permission denied on {iface}: controlling WireGuard needs an Administrator or the SYSTEM account (the Punchwire service runs as SYSTEM)")
    )]
    PermissionDenied { iface: String },

    /// The WireGuard library could not be loaded (Windows: `wireguard.dll`).
    #[error("{dll} could not be loaded ({detail}): put wireguard.dll from WireGuardNT (https://download.wireguard.com/wireguard-nt/, bin\\<arch>\\wireguard.dll) next to punchwire.exe, and install WireGuard for Windows for the driver and its tunnels")]
    DriverMissing { dll: String, detail: String },

    #[error("the WireGuard daemon of {iface} is not answering on {} ({detail})", socket.display())]
    NotAnswering {
        iface: String,
        socket: PathBuf,
        detail: String,
    },

    #[error("{iface} has no peer {peer}")]
    NoSuchPeer { iface: String, peer: PublicKey },

    /// boringtun only: the peer was removed to change its endpoint, adding it back
    /// failed, and it was restored as it was.
    #[error(
        "could not change the endpoint of {peer} on {iface}: adding it back at the new \
         endpoint failed ({add}), so it was restored as it was"
    )]
    EndpointNotChanged {
        iface: String,
        peer: PublicKey,
        #[source]
        add: Box<BackendError>,
    },

    /// boringtun only: the peer was removed to change its endpoint, and neither adding
    /// it back nor restoring it worked. Both errors are kept.
    #[error(
        "peer {peer} is missing from {iface}: it was removed to change its endpoint, adding \
         it back failed ({add}) and restoring it failed too ({restore})"
    )]
    PeerLost {
        iface: String,
        peer: PublicKey,
        add: Box<BackendError>,
        #[source]
        restore: Box<BackendError>,
    },

    #[error("{iface}: {detail}")]
    Protocol { iface: String, detail: String },

    #[error("{what} is not supported here: {detail}")]
    Unsupported { what: String, detail: String },

    #[error("{what} took longer than {after:?}: the WireGuard implementation is not answering")]
    Deadline { what: String, after: Duration },

    #[error("{detail}")]
    Internal { detail: String },
}

impl BackendError {
    /// Maps an I/O error on `iface` to the variant a user can act on.
    pub fn from_io(iface: &str, context: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::PermissionDenied => Self::PermissionDenied {
                iface: iface.to_owned(),
            },
            ErrorKind::NotFound => Self::NoSuchInterface {
                iface: iface.to_owned(),
            },
            _ => Self::Protocol {
                iface: iface.to_owned(),
                detail: format!("{context}: {err}"),
            },
        }
    }
}

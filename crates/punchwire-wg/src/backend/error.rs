use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::key::PublicKey;

/// What went wrong talking to WireGuard, phrased for the person who has to fix it.
///
/// A variant that wraps a failure of the OS or of a library keeps it as its source, and
/// its message also says it: most of these messages are shown by their `Display` alone
/// (a status, an event), and those that walk the chain skip a cause already shown.
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

    /// The WireGuard library could not be loaded (Windows: `wireguard.dll`). Every path
    /// tried is kept with its own failure; `source` has room for only one, so the
    /// message lists them all instead.
    #[error("{dll} could not be loaded ({}): put wireguard.dll from WireGuardNT (https://download.wireguard.com/wireguard-nt/, bin\\<arch>\\wireguard.dll) next to punchwire.exe, and install WireGuard for Windows for the driver and its tunnels", list(.tried))]
    DriverMissing {
        dll: String,
        tried: Vec<LoadFailure>,
    },

    /// `what` says how the daemon failed to answer; `source` is the socket's error, none
    /// when a deadline ran out (a timeout error would only repeat `what`).
    #[error(
        "the WireGuard daemon of {iface} is not answering on {} ({what}{})",
        socket.display(),
        then_cause(.source)
    )]
    NotAnswering {
        iface: String,
        socket: PathBuf,
        what: String,
        #[source]
        source: Option<io::Error>,
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

    /// boringtun only: the peer was removed to change its allowed IPs, adding it back
    /// with them failed, and it was restored as it was. Peers changed before it in the
    /// same call keep their new allowed IPs.
    #[error(
        "could not change the allowed IPs of {peer} on {iface}: adding it back with them \
         failed ({add}), so it was restored as it was"
    )]
    AllowedIpsNotChanged {
        iface: String,
        peer: PublicKey,
        #[source]
        add: Box<BackendError>,
    },

    /// boringtun only: the peer was removed to change its `change` ("endpoint",
    /// "allowed IPs"), and neither adding it back nor restoring it worked. Both errors
    /// are kept.
    #[error(
        "peer {peer} is missing from {iface}: it was removed to change its {change}, adding \
         it back failed ({add}) and restoring it failed too ({restore})"
    )]
    PeerLost {
        iface: String,
        peer: PublicKey,
        change: &'static str,
        add: Box<BackendError>,
        #[source]
        restore: Box<BackendError>,
    },

    /// WireGuard answered, but not as it should (a refusal, a malformed answer): there
    /// is no underlying error, only what was wrong with the answer.
    #[error("{iface}: {problem}")]
    Protocol { iface: String, problem: String },

    /// A call to the OS (or to the WireGuard library) failed on `iface`; `context` says
    /// what was being done.
    #[error("{iface}: {context}: {source}")]
    Io {
        iface: String,
        context: String,
        #[source]
        source: io::Error,
    },

    /// The platform lacks `what`: `why` says so in words, `source` is how the OS said it.
    #[error("{what} is not supported here: {why} ({source})")]
    Unsupported {
        what: String,
        why: String,
        #[source]
        source: io::Error,
    },

    #[error("{what} took longer than {after:?}: the WireGuard implementation is not answering")]
    Deadline { what: String, after: Duration },

    /// A backend call panicked (or was cancelled as the runtime shut down); `source` is
    /// the join error, which carries the panic's message.
    #[error("{what}: {source}")]
    Internal {
        what: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// One path the WireGuard library was loaded from, and why it could not be.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct LoadFailure {
    pub path: PathBuf,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn list(tried: &[LoadFailure]) -> String {
    let tried: Vec<String> = tried.iter().map(LoadFailure::to_string).collect();
    tried.join("; ")
}

/// `": cause"`, or nothing.
fn then_cause(source: &Option<io::Error>) -> String {
    source
        .as_ref()
        .map(|err| format!(": {err}"))
        .unwrap_or_default()
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
            _ => Self::Io {
                iface: iface.to_owned(),
                context: context.to_owned(),
                source: err,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_failure_is_kept_as_the_source_and_still_said() {
        let err = BackendError::from_io(
            "wg0",
            "kernel WireGuard over netlink",
            io::Error::from_raw_os_error(105),
        );
        let source = err.source().expect("the io error is the source");
        let cause = source.to_string();
        assert_eq!(
            err.to_string(),
            format!("wg0: kernel WireGuard over netlink: {cause}")
        );
    }

    #[test]
    fn a_daemon_not_answering_says_its_cause_only_when_there_is_one() {
        let not_answering = |what: &str, source| BackendError::NotAnswering {
            iface: "wg0".into(),
            socket: "/run/wg0.sock".into(),
            what: what.into(),
            source,
        };
        let timed_out = not_answering("no answer to get=1 within 2s", None);
        assert!(timed_out.source().is_none());
        assert!(
            timed_out
                .to_string()
                .ends_with("on /run/wg0.sock (no answer to get=1 within 2s)"),
            "{timed_out}"
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let said = reset.to_string();
        let closed = not_answering("connection closed", Some(reset));
        assert!(closed.source().is_some());
        assert!(
            closed
                .to_string()
                .ends_with(&format!("(connection closed: {said})")),
            "{closed}"
        );
    }
}

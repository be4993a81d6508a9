//! The control socket on Linux and macOS.

use std::io;
use std::path::Path;

use nix::unistd::{Gid, Group};

use crate::client::ClientError;
use crate::defaults::DEFAULT_GROUP;

pub(crate) type Stream = tokio::net::UnixStream;

#[cfg(target_os = "linux")]
pub(crate) const START_HINT: &str =
    "start it with `sudo systemctl start punchwire` or `sudo punchwire service`";
#[cfg(not(target_os = "linux"))]
pub(crate) const START_HINT: &str = "start it with `sudo launchctl bootstrap system /Library/LaunchDaemons/org.punchwire.service.plist` or `sudo punchwire service`";

pub(crate) async fn connect(path: &Path) -> Result<Stream, ClientError> {
    Stream::connect(path).await.map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(path.to_owned())
        }
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.to_owned()),
        _ => ClientError::Io {
            path: path.to_owned(),
            source: e,
        },
    })
}

/// How a user joins `group`.
pub(crate) fn join_hint(group: &str) -> String {
    #[cfg(target_os = "linux")]
    return format!("add yourself with `sudo usermod -aG {group} $USER` and log in again");
    #[cfg(not(target_os = "linux"))]
    format!(
        "add yourself with `sudo dseditgroup -o edit -a $USER -t user {group}` and log in again"
    )
}

/// The group a refused user must join: the socket's own, or the default when the
/// socket cannot be inspected.
pub(crate) fn group_of(socket: &Path) -> String {
    socket_group(socket).unwrap_or_else(|| DEFAULT_GROUP.to_owned())
}

/// The name of the group that owns the socket at `path` and may use it. `None` when it
/// cannot be told (the directory is closed to the caller, the gid has no name) or when
/// joining would not help (a 0600 socket, because the service's group does not exist).
fn socket_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.mode() & 0o060 != 0o060 {
        return None;
    }
    Some(Group::from_gid(Gid::from_raw(meta.gid())).ok()??.name)
}

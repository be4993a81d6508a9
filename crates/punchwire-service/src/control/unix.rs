//! The control socket on Unix: a socket file with mode 0660 owned by the service's
//! group, and the kernel's word (SO_PEERCRED) for who connected.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{chown, Gid};
use tokio::net::{UnixListener, UnixStream};

use super::auth::{AccessPolicy, PeerIdentity};

pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlListener {
    /// Binds `path`, replacing a stale socket left by a crashed service but never a
    /// live one or anything that is not a socket.
    pub fn bind(path: &Path, policy: &AccessPolicy) -> io::Result<Self> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| context("cannot create the directory of", e))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "another Punchwire service is already listening on {}",
                            path.display()
                        ),
                    ));
                }
                std::fs::remove_file(path)
                    .map_err(|e| context("cannot remove the stale socket", e))?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket: refusing to replace it",
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context("cannot inspect", e)),
        }
        let listener = UnixListener::bind(path).map_err(|e| context("cannot listen on", e))?;
        // Without the group nobody but root may connect: 0600 says so honestly.
        let mode = match policy.gid() {
            Some(gid) => {
                chown(path, None, Some(Gid::from_raw(gid)))
                    .map_err(|e| context("cannot give the group ownership of", e.into()))?;
                0o660
            }
            None => {
                tracing::warn!(
                    group = policy.group_name(),
                    "the control group does not exist: only root can use the control socket"
                );
                0o600
            }
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| context("cannot set the mode of", e))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn accept(&self) -> io::Result<(UnixStream, PeerIdentity)> {
        let (stream, _) = self.listener.accept().await?;
        let cred = stream.peer_cred()?;
        let identity = PeerIdentity {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        Ok((stream, identity))
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

//! The control endpoint on Windows: a local named pipe (`\\.\pipe\punchwire`) whose
//! security descriptor admits SYSTEM, Administrators and the control group only, and
//! which refuses remote clients.
//!
//! A pipe instance serves one client, so after each accept a fresh instance takes its
//! place. The first instance is created with "first pipe instance": if anyone else,
//! another service or a program squatting on the name, already owns the pipe, the
//! service refuses to start rather than share it.

use std::io;
use std::path::{Path, PathBuf};

use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};
use tokio::sync::Mutex;

use super::auth::{AccessPolicy, PeerIdentity};
use super::pipe_security::{self, PipeSecurity};

pub struct ControlListener {
    path: PathBuf,
    security: Box<PipeSecurity>,
    /// The instance waiting for the next client.
    waiting: Mutex<NamedPipeServer>,
}

impl ControlListener {
    pub fn bind(path: &Path, policy: &AccessPolicy) -> io::Result<Self> {
        let sddl = policy.sddl();
        let security = PipeSecurity::from_sddl(&sddl).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot build the pipe's access list {sddl}: {e}"),
            )
        })?;
        if policy.group_sid().is_none() {
            tracing::warn!(
                group = policy.group_name(),
                "the control group does not exist: only SYSTEM and Administrators can use the control pipe"
            );
        }
        let first = security
            .create(options().first_pipe_instance(true), path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::AlreadyExists => io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another Punchwire service (or another program) already owns {}",
                        path.display()
                    ),
                ),
                _ => io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())),
            })?;
        Ok(Self {
            path: path.to_owned(),
            security,
            waiting: Mutex::new(first),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn accept(&self) -> io::Result<(NamedPipeServer, PeerIdentity)> {
        let mut waiting = self.waiting.lock().await;
        let connected = waiting.connect().await;
        // Whatever happened to this instance, the next client gets a fresh one.
        let fresh = self.security.create(&options(), &self.path)?;
        let instance = std::mem::replace(&mut *waiting, fresh);
        connected?;
        let peer = PeerIdentity {
            pid: pipe_security::client_process_id(&instance),
        };
        Ok((instance, peer))
    }
}

fn options() -> ServerOptions {
    let mut options = ServerOptions::new();
    options
        .pipe_mode(PipeMode::Byte)
        .reject_remote_clients(true);
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_control::client::{ClientError, ControlClient};

    /// A pipe whose descriptor admits SYSTEM only refuses this (non-SYSTEM) process,
    /// and the client says "permission denied" naming the group to join. Windows does
    /// this check; Wine 8 does not (the client gets in), so scripts/check-platforms
    /// skips this test under Wine.
    #[tokio::test]
    async fn a_client_outside_the_descriptor_is_refused() {
        let path = PathBuf::from(format!(
            r"\\.\pipe\punchwire-test-refused-{}",
            std::process::id()
        ));
        let security = PipeSecurity::from_sddl("D:P(A;;GA;;;SY)").unwrap();
        let _server = security
            .create(options().first_pipe_instance(true), &path)
            .unwrap();
        let err = match ControlClient::connect(&path).await {
            Err(e) => e,
            Ok(_) => panic!("a client outside the descriptor was let in"),
        };
        assert!(matches!(err, ClientError::PermissionDenied(_)), "{err:?}");
        assert!(err.to_string().contains("Punchwire Users"), "{err}");
    }

    /// The descriptor the service uses admits this process (an Administrator here).
    #[tokio::test]
    async fn the_services_descriptor_admits_administrators() {
        let path = PathBuf::from(format!(
            r"\\.\pipe\punchwire-test-admitted-{}",
            std::process::id()
        ));
        let policy = AccessPolicy::for_group("Punchwire Users");
        let listener = ControlListener::bind(&path, &policy).unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
        let _client = ControlClient::connect(&path).await.unwrap();
        let peer = accept.await.unwrap().unwrap();
        assert_eq!(peer.pid, Some(std::process::id()));
    }
}

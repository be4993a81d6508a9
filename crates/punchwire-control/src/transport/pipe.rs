//! The control pipe on Windows. Who may open it is decided by the pipe's security
//! descriptor (the service sets it), so a refusal arrives here as "access denied".

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

use crate::client::ClientError;
use crate::defaults::DEFAULT_GROUP;

pub(crate) type Stream = NamedPipeClient;

pub(crate) const START_HINT: &str = "start it with `Start-Service Punchwire` in an Administrator PowerShell, or run `punchwire service` as Administrator";

/// Every instance is connected; the service makes a new one right after each accept.
const ERROR_PIPE_BUSY: i32 = 231;
/// How long to keep asking for a free instance.
const BUSY_WAIT: Duration = Duration::from_secs(2);

pub(crate) async fn connect(path: &Path) -> Result<Stream, ClientError> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match ClientOptions::new().open(path) {
            Ok(client) => return Ok(client),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                return Err(match e.kind() {
                    io::ErrorKind::NotFound => ClientError::NotRunning(path.to_owned()),
                    io::ErrorKind::PermissionDenied => {
                        ClientError::PermissionDenied(path.to_owned())
                    }
                    _ => ClientError::Io {
                        path: path.to_owned(),
                        source: e,
                    },
                })
            }
        }
    }
}

/// How a user joins `group`.
pub(crate) fn join_hint(group: &str) -> String {
    format!(
        "an Administrator adds you with `net localgroup \"{group}\" %USERNAME% /add`; then sign out and in again"
    )
}

/// The group a refused user must join. A pipe does not name its group, so this is the
/// default one.
pub(crate) fn group_of(_pipe: &Path) -> String {
    DEFAULT_GROUP.to_owned()
}

//! The client side of the control socket, used by the CLI and the tray app. The
//! connection itself is the platform's (see [`crate::transport`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_util::codec::{Framed, LinesCodec};

use crate::protocol::{
    Command, ErrorCode, EventFrame, Hello, Request, Response, MAX_LINE, VERSION,
};
use crate::transport::{self, group_of, join_hint, Stream, START_HINT};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the Punchwire service is not running (no control socket at {}); {START_HINT}", .0.display())]
    NotRunning(PathBuf),
    /// The message names the socket's own group, which need not be the default one.
    #[error("permission denied on {}: you are not in the {group} group ({hint})", .0.display(), group = group_of(.0), hint = join_hint(&group_of(.0)))]
    PermissionDenied(PathBuf),
    #[error("cannot reach the Punchwire service at {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the service closed the connection")]
    Closed,
    #[error("the service answered something this client does not understand: {0}")]
    Protocol(String),
    /// The service understood and said no; `key` is the configuration key at fault,
    /// when it named one (`invalid-config`).
    #[error("{message}")]
    Refused {
        code: ErrorCode,
        message: String,
        key: Option<String>,
    },
}

pub struct ControlClient {
    framed: Framed<Stream, LinesCodec>,
    path: PathBuf,
    next_id: u64,
    timeout: Duration,
}

/// How long [`ControlClient::request`] waits for an answer before giving up: far above
/// what any command takes (each WireGuard call has its own 3 s deadline), so that only
/// a wedged service or something else on the socket reaches it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl ControlClient {
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = transport::connect(path).await?;
        Ok(Self {
            // Status of a big mesh can be large; bound it generously, but bound it.
            framed: Framed::new(stream, LinesCodec::new_with_max_length(64 * MAX_LINE)),
            path: path.to_owned(),
            next_id: 1,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// How long a request may wait for its answer (events are not bounded).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends one command and waits for its answer, at most the timeout.
    pub async fn request(&mut self, command: Command) -> Result<Value, ClientError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(command))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Io {
                    path: self.path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {timeout:?}"),
                    ),
                })
            })
    }

    async fn exchange(&mut self, command: Command) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request {
            v: VERSION,
            id,
            command,
        })
        .expect("requests are plain data");
        self.framed.send(line).await.map_err(|e| self.io_error(e))?;
        loop {
            let line = self.read_line().await?;
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| ClientError::Protocol(format!("{e}: {line}")))?;
            // Events may interleave with answers on a subscribed connection.
            if value.get("event").is_some() {
                continue;
            }
            let response: Response = serde_json::from_value(value)
                .map_err(|e| ClientError::Protocol(format!("{e}: {line}")))?;
            if response.id != id && response.id != 0 {
                continue;
            }
            return into_result(response);
        }
    }

    /// Asks the service who it is and which commands it knows.
    pub async fn hello(&mut self) -> Result<Hello, ClientError> {
        let value = self.request(Command::Hello).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(format!("hello: {e}")))
    }

    /// Subscribes; then call [`ControlClient::next_event`] in a loop.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        self.request(Command::Subscribe).await.map(|_| ())
    }

    /// The next pushed event. A `lagged` notice from the service comes back as an
    /// error with code [`ErrorCode::Lagged`].
    pub async fn next_event(&mut self) -> Result<Value, ClientError> {
        let line = self.read_line().await?;
        if let Ok(frame) = serde_json::from_str::<EventFrame>(&line) {
            return Ok(frame.event);
        }
        let response: Response = serde_json::from_str(&line)
            .map_err(|e| ClientError::Protocol(format!("{e}: {line}")))?;
        into_result(response)
    }

    async fn read_line(&mut self) -> Result<String, ClientError> {
        match self.framed.next().await {
            None => Err(ClientError::Closed),
            Some(Ok(line)) => Ok(line),
            Some(Err(e)) => Err(self.io_error(e)),
        }
    }

    fn io_error(&self, e: tokio_util::codec::LinesCodecError) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            source: io::Error::other(e.to_string()),
        }
    }
}

fn into_result(response: Response) -> Result<Value, ClientError> {
    if response.ok {
        return Ok(response.result.unwrap_or(Value::Null));
    }
    let error = response
        .error
        .ok_or_else(|| ClientError::Protocol("an error without a body".into()))?;
    Err(ClientError::Refused {
        code: error.code,
        message: error.message,
        key: error.key,
    })
}

// The test server is a Unix socket; the named pipe has its own tests in the service.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_service_that_never_answers_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        // Accepts, reads nothing, answers nothing.
        let _silent = tokio::spawn(async move {
            let held = listener.accept().await;
            std::future::pending::<()>().await;
            drop(held);
        });
        let mut client = ControlClient::connect(&path)
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(100));
        let err = tokio::time::timeout(Duration::from_secs(5), client.request(Command::Status))
            .await
            .expect("the client gives up by itself")
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Io { source, .. } if source.kind() == io::ErrorKind::TimedOut),
            "{err:?}"
        );
        assert!(err.to_string().contains("no answer within 100ms"), "{err}");
    }
}

//! The client side of the control socket, used by the CLI and the tray app. The
//! connection itself is the platform's (see [`crate::transport`]).

use std::io;
use std::path::{Path, PathBuf};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_util::codec::{Framed, LinesCodec};

use crate::protocol::{Command, ErrorCode, EventFrame, Request, Response, MAX_LINE, VERSION};
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
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

pub struct ControlClient {
    framed: Framed<Stream, LinesCodec>,
    path: PathBuf,
    next_id: u64,
}

impl ControlClient {
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = transport::connect(path).await?;
        Ok(Self {
            // Status of a big mesh can be large; bound it generously, but bound it.
            framed: Framed::new(stream, LinesCodec::new_with_max_length(64 * MAX_LINE)),
            path: path.to_owned(),
            next_id: 1,
        })
    }

    /// Sends one command and waits for its answer.
    pub async fn request(&mut self, command: Command) -> Result<Value, ClientError> {
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
    })
}

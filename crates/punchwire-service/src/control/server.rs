//! Serves the control protocol on accepted connections. Each connection is its own
//! task, so a slow or malicious client can only ever stall itself.

use std::future::Future;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Framed};

use super::auth::{AccessPolicy, PeerIdentity};
use super::protocol::{
    parse_request, Command, ErrorBody, ErrorCode, EventFrame, Response, MAX_LINE, VERSION,
};
use super::transport::ControlListener;

/// What the service does with a command that passed the protocol and access checks.
pub trait ControlHandler: Send + Sync + 'static {
    fn handle(&self, command: Command) -> impl Future<Output = Result<Value, ErrorBody>> + Send;

    /// A fresh receiver on the event stream, as JSON values.
    fn events(&self) -> broadcast::Receiver<Value>;
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve<H: ControlHandler>(
    listener: ControlListener,
    policy: AccessPolicy,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let policy = Arc::new(policy);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let handler = Arc::clone(&handler);
                    let policy = Arc::clone(&policy);
                    tokio::spawn(async move {
                        serve_connection(stream, peer, &policy, handler.as_ref()).await;
                    });
                }
                Err(e) => tracing::warn!(error = %e, "control socket: accept failed"),
            },
        }
    }
}

/// Speaks the protocol on one connection until the client leaves or misbehaves.
pub async fn serve_connection<S, H>(
    stream: S,
    peer: PeerIdentity,
    policy: &AccessPolicy,
    handler: &H,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: ControlHandler,
{
    // Lines are taken as bytes and decoded here, so that a line of bad UTF-8 gets a
    // bad-request answer instead of ending the connection.
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), MAX_LINE);
    let mut framed = Framed::new(stream, codec);
    let allowed = policy.allows(&peer);
    let mut events: Option<broadcast::Receiver<Value>> = None;
    loop {
        let next = tokio::select! {
            line = framed.next() => Incoming::Line(line),
            event = next_event(&mut events) => Incoming::Event(event),
        };
        let reply = match next {
            Incoming::Line(None) => return,
            Incoming::Line(Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded))) => {
                tracing::debug!(?peer, "control socket: oversized line, closing");
                let _ = send(
                    &mut framed,
                    &Response::error(
                        0,
                        ErrorCode::TooLarge,
                        format!("line longer than {MAX_LINE} bytes: closing the connection"),
                    ),
                )
                .await;
                linger(framed.into_inner()).await;
                return;
            }
            Incoming::Line(Some(Err(AnyDelimiterCodecError::Io(e)))) => {
                tracing::debug!(?peer, error = %e, "control socket: read failed");
                return;
            }
            Incoming::Line(Some(Ok(line))) => {
                match parse_request(&String::from_utf8_lossy(&line)) {
                    Err(response) => serde_json::to_string(&response),
                    Ok(request) if !allowed => serde_json::to_string(&Response::error(
                        request.id,
                        ErrorCode::PermissionDenied,
                        policy.denial(&peer),
                    )),
                    Ok(request) if request.command == Command::Subscribe => {
                        events = Some(handler.events());
                        serde_json::to_string(&Response::ok(request.id, Value::Null))
                    }
                    Ok(request) => {
                        let id = request.id;
                        let response = match handler.handle(request.command).await {
                            Ok(result) => Response::ok(id, result),
                            Err(error) => Response::refused(id, error),
                        };
                        serde_json::to_string(&response)
                    }
                }
            }
            Incoming::Event(Ok(event)) => serde_json::to_string(&EventFrame { v: VERSION, event }),
            Incoming::Event(Err(missed)) => serde_json::to_string(&Response::error(
                0,
                ErrorCode::Lagged,
                format!(
                    "{missed} events were dropped because this client fell behind: re-read status"
                ),
            )),
        };
        let line = reply.expect("protocol messages are plain data");
        if framed.send(line).await.is_err() {
            return;
        }
    }
}

enum Incoming {
    Line(Option<Result<Bytes, AnyDelimiterCodecError>>),
    Event(Result<Value, u64>),
}

/// The next event for a subscribed connection; never resolves for one that is not.
async fn next_event(events: &mut Option<broadcast::Receiver<Value>>) -> Result<Value, u64> {
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(v) => Ok(v),
        Err(broadcast::error::RecvError::Lagged(n)) => Err(n),
        // The service is shutting down: stay quiet until the connection closes.
        Err(broadcast::error::RecvError::Closed) => {
            *events = None;
            std::future::pending().await
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, AnyDelimiterCodec>,
    response: &Response,
) -> Result<(), AnyDelimiterCodecError> {
    let line = serde_json::to_string(response).expect("protocol messages are plain data");
    framed.send(line).await
}

/// Closes a connection whose client is still sending, without losing our last answer:
/// closing with unread input makes the kernel reset the connection, and the client
/// would see "connection reset" instead of why. Bounded in time and bytes.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 8192];
        let mut left: usize = 1 << 20;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

//! Serves the control protocol on accepted connections. Each connection is its own
//! task, so a slow or malicious client can only ever stall itself; [`Limits`] bound how
//! many there are and how long a started request line may take.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{broadcast, Semaphore};
use tokio::time::{Instant, Sleep};
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

/// What one client may take of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; one more is told so and closed. The CLI and the tray
    /// use one or two each, so this is only reached by a runaway or hostile client.
    pub max_connections: usize,
    /// How long a request line may take from its first byte to its newline. Silence
    /// between lines is not limited: subscribers wait for events for days.
    pub line_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            line_deadline: Duration::from_secs(10),
        }
    }
}

/// Accepts connections until `shutdown` resolves, with the default [`Limits`].
pub async fn serve<H: ControlHandler>(
    listener: ControlListener,
    policy: AccessPolicy,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_limits(listener, policy, handler, Limits::default(), shutdown).await
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve_with_limits<H: ControlHandler>(
    listener: ControlListener,
    policy: AccessPolicy,
    handler: Arc<H>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let policy = Arc::new(policy);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(
                            ?peer,
                            max = limits.max_connections,
                            "control socket: too many connections, refusing one"
                        );
                        tokio::spawn(refuse_busy(stream, limits.max_connections));
                        continue;
                    };
                    let handler = Arc::clone(&handler);
                    let policy = Arc::clone(&policy);
                    tokio::spawn(async move {
                        let stream = LineDeadline::new(stream, limits.line_deadline);
                        serve_connection(stream, peer, &policy, handler.as_ref()).await;
                        drop(slot);
                    });
                }
                Err(e) => tracing::warn!(error = %e, "control socket: accept failed"),
            },
        }
    }
}

/// Tells a connection over the limit why it is closed, then closes it.
async fn refuse_busy<S: AsyncRead + AsyncWrite + Unpin>(stream: S, max: usize) {
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), MAX_LINE);
    let mut framed = Framed::new(stream, codec);
    let refusal = Response::error(
        0,
        ErrorCode::Failed,
        format!("the service already serves {max} control connections: closing this one, try again later"),
    );
    // A client that does not read cannot hold this task: the answer fits the socket
    // buffer, and the linger is bounded.
    let _ = tokio::time::timeout(Duration::from_secs(1), send(&mut framed, &refusal)).await;
    linger(framed.into_inner()).await;
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
            Incoming::Line(Some(Err(AnyDelimiterCodecError::Io(e))))
                if e.kind() == io::ErrorKind::TimedOut =>
            {
                tracing::debug!(?peer, "control socket: unfinished request line, closing");
                let _ = send(
                    &mut framed,
                    &Response::error(0, ErrorCode::BadRequest, e.to_string()),
                )
                .await;
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

/// A client's stream whose reads fail with `TimedOut` once a request line has been
/// started and not finished within the deadline, so that a client which stops halfway
/// (or a half-open connection) gives its slot back. Between lines it waits for ever.
pub struct LineDeadline<S> {
    inner: S,
    deadline: Duration,
    /// Armed while a line is unfinished: its first byte's time plus the deadline.
    timer: Pin<Box<Sleep>>,
    unfinished: bool,
}

impl<S> LineDeadline<S> {
    pub fn new(inner: S, deadline: Duration) -> Self {
        Self {
            inner,
            deadline,
            timer: Box::pin(tokio::time::sleep(deadline)),
            unfinished: false,
        }
    }

    /// Notes what was just read: a line ends at its newline, and bytes after the last
    /// newline start a line whose deadline runs from now.
    fn saw(&mut self, bytes: &[u8]) {
        let started_now = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(end) => {
                self.unfinished = false;
                end + 1 < bytes.len()
            }
            None => !bytes.is_empty() && !self.unfinished,
        };
        if started_now {
            self.unfinished = true;
            self.timer.as_mut().reset(Instant::now() + self.deadline);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LineDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.unfinished && this.timer.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "request line not finished within {:?}: closing the connection",
                        this.deadline
                    ),
                )))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LineDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

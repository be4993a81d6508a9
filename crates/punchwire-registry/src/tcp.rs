//! The TCP side: our own accept loop, so that who may connect is decided before anything
//! is read. A stranger's connection is closed at accept; the others are capped in all and
//! per source, given a deadline for each message and a lifetime; each message goes
//! through `respond`, as a UDP datagram does. (hickory-server's TCP serving accepted
//! without a cap and checked the source only after a whole message was read: a thousand
//! connections from one peer used up the registry's open files.)

mod caps;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, warn};

pub(crate) use caps::ConnectionCaps;
use caps::{Full, Place};

use crate::respond::{admits, Responder, Transport};
use crate::stats::Counters;
use crate::summary::{Summary, SUMMARY_INTERVAL};

/// What one registry allows its TCP clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once, from everyone. The registry lowers it further to half its
    /// open-file limit (see `open_files`).
    pub max_connections: usize,
    /// Connections open at once from one source address.
    pub per_source: usize,
    /// How long the next whole message may take to arrive (idle time included), and its
    /// response to be written.
    pub message_deadline: Duration,
    /// How long a connection stays open, however busy.
    pub lifetime: Duration,
}

impl Default for TcpLimits {
    /// Peers use TCP only to retry a truncated answer, one connection at a time; these
    /// leave ample room for that. The total bounds memory too: a connection holds at most
    /// a 64 KiB message and its response.
    fn default() -> Self {
        Self {
            max_connections: 512,
            per_source: 8,
            message_deadline: Duration::from_secs(10),
            lifetime: Duration::from_secs(60),
        }
    }
}

/// The first wait after an accept error (out of file descriptors, say); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while errors go on, instead of spinning on a listener that
/// cannot accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What every listener of one registry shares: the caps, the limits, and the summarised
/// logs of what strangers can cause.
#[derive(Debug)]
pub(crate) struct TcpShared {
    caps: Arc<ConnectionCaps>,
    limits: TcpLimits,
    over_cap: Summary,
    unsent: Summary,
    accept_failed: Summary,
}

impl TcpShared {
    /// `limits.max_connections` is taken as it is: the caller has already fitted it to the
    /// open-file limit.
    pub fn new(limits: TcpLimits) -> Arc<Self> {
        Arc::new(Self {
            caps: ConnectionCaps::new(limits.max_connections, limits.per_source),
            limits,
            over_cap: Summary::new(SUMMARY_INTERVAL),
            unsent: Summary::new(SUMMARY_INTERVAL),
            accept_failed: Summary::new(SUMMARY_INTERVAL),
        })
    }
}

/// Accepts connections on `listener` until the task is aborted; aborting it closes every
/// connection it accepted too.
pub(crate) async fn serve(listener: TcpListener, responder: Responder, shared: Arc<TcpShared>) {
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, source) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF;
                accepted
            }
            // One connection's trouble, not the listener's.
            Err(err) if is_per_connection(&err) => continue,
            Err(err) => {
                if let Some(count) = shared.accept_failed.note(Instant::now()) {
                    warn!(error = %err, count, retry_in = ?backoff, "cannot accept TCP connections (at most one line a minute, with the count since the last)");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if let Some(place) = admit(&responder, &shared, source) {
            let responder = responder.clone();
            let shared = Arc::clone(&shared);
            connections.spawn(converse(stream, source, responder, shared, place));
        }
        // Otherwise `stream` is dropped here: closed before a byte of it is read.
    }
}

/// A place for the connection from `source`, or `None` to close it at once: a stranger,
/// or a cap reached.
fn admit(responder: &Responder, shared: &TcpShared, source: SocketAddr) -> Option<Place> {
    let live = responder.live();
    if !admits(live, &live.snapshot(), source.ip()) {
        return None;
    }
    match shared.caps.admit(source.ip()) {
        Ok(place) => Some(place),
        Err(full) => {
            Counters::bump(&live.counters.tcp_refused);
            if let Some(count) = shared.over_cap.note(Instant::now()) {
                let cap = match full {
                    Full::Total => "connections in all",
                    Full::Source => "connections from one source",
                };
                warn!(%source, count, cap, "closed TCP connections over the registry's cap (at most one line a minute, with the count since the last)");
            }
            None
        }
    }
}

/// Answers the messages on one connection until the client closes it, a message is late,
/// or the connection has lived its lifetime.
async fn converse(
    mut stream: TcpStream,
    source: SocketAddr,
    responder: Responder,
    shared: Arc<TcpShared>,
    _place: Place,
) {
    let lifetime = shared.limits.lifetime;
    let exchange = exchange(&mut stream, source, &responder, &shared);
    if tokio::time::timeout(lifetime, exchange).await.is_err() {
        debug!(%source, "closed a TCP connection at the end of its lifetime");
    }
}

async fn exchange(
    stream: &mut TcpStream,
    source: SocketAddr,
    responder: &Responder,
    shared: &TcpShared,
) {
    let deadline = shared.limits.message_deadline;
    let mut message = Vec::new();
    let mut response = Vec::new();
    let mut framed = Vec::new();
    loop {
        match tokio::time::timeout(deadline, read_message(stream, &mut message)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return,
            Ok(Err(error)) => {
                debug!(%source, %error, "a TCP connection failed while reading");
                return;
            }
            Err(_) => {
                debug!(%source, "closed a TCP connection whose next message was late");
                return;
            }
        }
        // Nothing to send (a response, or not a DNS message at all): dropped, as over UDP.
        if !responder.respond(&message, source, Transport::Tcp, &mut response) {
            continue;
        }
        // One write: length and message in one segment where they fit.
        let len = u16::try_from(response.len()).unwrap_or(u16::MAX);
        framed.clear();
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&response[..usize::from(len)]);
        let error = match tokio::time::timeout(deadline, stream.write_all(&framed)).await {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            Err(_) => io::Error::new(io::ErrorKind::TimedOut, "the client read nothing"),
        };
        if let Some(count) = shared.unsent.note(Instant::now()) {
            warn!(%source, %error, count, "could not send TCP responses (at most one line a minute, with the count since the last)");
        }
        return;
    }
}

/// Reads one length-prefixed message (RFC 1035 §4.2.2) into `message`. False: the client
/// closed the connection between messages.
async fn read_message(stream: &mut TcpStream, message: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(err) => return Err(err),
    }
    message.clear();
    message.resize(usize::from(u16::from_be_bytes(len)), 0);
    stream.read_exact(message).await?;
    Ok(true)
}

/// Accept errors that concern one connection (reset before it was accepted, say): the
/// next accept is fine at once.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests;

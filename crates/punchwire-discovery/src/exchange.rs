//! One DNS question to one server and its answer: UDP first, TCP when the answer is
//! truncated, bounded in time. No resolver configuration, no cache, no retries across
//! servers: the caller names the server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::DecodeError;
use hickory_proto::ProtoError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The EDNS payload size we advertise: fits any path without fragmentation (DNS flag day
/// 2020), and an SRV answer with its additionals is far smaller.
const UDP_PAYLOAD: u16 = 1232;

/// Why a server gave no usable answer.
///
/// `Clone`, so that one failure can be handed to everyone it concerns (every peer asked
/// of that server). `io::Error` is not `Clone`, so it is shared behind an `Arc` (which
/// is then the source: downcast to `Arc<io::Error>`).
/// Messages are shown by their `Display` alone (events, the status), so each one also
/// says its cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    #[error("{server} did not answer {what} within {after:?}")]
    Timeout {
        server: SocketAddr,
        what: String,
        after: Duration,
    },
    #[error("cannot reach {server} ({what}): {source}")]
    Io {
        server: SocketAddr,
        what: String,
        #[source]
        source: Arc<io::Error>,
    },
    /// The server answered, and the answer broke the protocol: what was wrong with it.
    #[error("{server} sent a malformed answer to {what}: {problem}")]
    Malformed {
        server: SocketAddr,
        what: String,
        problem: String,
    },
    /// The server's answer could not be decoded at all.
    #[error("{server} sent a malformed answer to {what}: {source}")]
    Undecodable {
        server: SocketAddr,
        what: String,
        #[source]
        source: DecodeError,
    },
    /// The question could not be written; the server was never asked.
    #[error("cannot ask {server} {what}: the question cannot be encoded: {source}")]
    Unencodable {
        server: SocketAddr,
        what: String,
        #[source]
        source: ProtoError,
    },
}

/// Asks `server` one question and returns its answer, whatever the response code.
///
/// `timeout` bounds the whole exchange, including a TCP retry after truncation.
pub async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, DnsError> {
    let what = format!("{} {rtype}", crate::lookup::text(name));
    send(server, &query(name, rtype), &what, timeout).await
}

/// Sends `message` (an UPDATE, say) to `server` and returns its answer, whatever the
/// response code, within `timeout`. `what` names the message in errors.
pub async fn send(
    server: SocketAddr,
    message: &Message,
    what: &str,
    timeout: Duration,
) -> Result<Message, DnsError> {
    match tokio::time::timeout(timeout, exchange(server, message, what)).await {
        Ok(result) => result,
        Err(_) => Err(DnsError::Timeout {
            server,
            what: what.to_owned(),
            after: timeout,
        }),
    }
}

async fn exchange(server: SocketAddr, query: &Message, what: &str) -> Result<Message, DnsError> {
    let bytes = query.to_vec().map_err(|source| DnsError::Unencodable {
        server,
        what: what.to_owned(),
        source,
    })?;
    let answer = over_udp(server, &bytes, query, what).await?;
    if answer.metadata.truncation {
        return over_tcp(server, &bytes, query, what).await;
    }
    Ok(answer)
}

fn query(name: &Name, rtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Query;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    message.set_edns(edns);
    message
}

async fn over_udp(
    server: SocketAddr,
    bytes: &[u8],
    query: &Message,
    what: &str,
) -> Result<Message, DnsError> {
    let io = |source: io::Error| DnsError::Io {
        server,
        what: what.to_owned(),
        source: Arc::new(source),
    };
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    // A fresh socket per question: a random source port on top of the random ID, and
    // nothing to demultiplex.
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let len = socket.recv(&mut buf).await.map_err(io)?;
        // Anything that is not the answer to our question (a late answer, a spoof) is
        // dropped and we keep waiting, within the caller's deadline.
        match Message::from_vec(&buf[..len]) {
            Ok(answer) if answers(&answer, query) => return Ok(answer),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(%server, "dropping an undecodable datagram: {e}");
                continue;
            }
        }
    }
}

async fn over_tcp(
    server: SocketAddr,
    bytes: &[u8],
    query: &Message,
    what: &str,
) -> Result<Message, DnsError> {
    let io = |source: io::Error| DnsError::Io {
        server,
        what: format!("{what} over TCP"),
        source: Arc::new(source),
    };
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    let len = u16::try_from(bytes.len()).expect("a question always fits in 64 KiB");
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let answer = Message::from_vec(&buf).map_err(|source| DnsError::Undecodable {
        server,
        what: what.to_owned(),
        source,
    })?;
    if !answers(&answer, query) {
        return Err(DnsError::Malformed {
            server,
            what: what.to_owned(),
            problem: "the TCP answer is for another question".into(),
        });
    }
    Ok(answer)
}

/// Whether `answer` answers `query`: its ID, and its question (for an UPDATE, its zone)
/// repeated. A server may leave an UPDATE's zone out of an error (RFC 2136 §3.8 lets
/// it answer FORMERR with no sections), so an answer without one is taken too.
fn answers(answer: &Message, query: &Message) -> bool {
    answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && (answer.queries == query.queries
            || (query.metadata.op_code == OpCode::Update && answer.queries.is_empty()))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_failure_stays_the_source_of_every_copy_and_is_still_said() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let said = refused.to_string();
        let err = DnsError::Io {
            server: ([10, 0, 0, 1], 53).into(),
            what: "_wireguard._udp.example.com. SOA".into(),
            source: Arc::new(refused),
        };
        let copy = err.clone();
        let source = copy.source().expect("the io error is the source");
        // The source is the `Arc` itself (`Arc<E>` is an error where `E` is).
        let io = source
            .downcast_ref::<Arc<io::Error>>()
            .expect("an Arc<io::Error>");
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(
            copy.to_string(),
            format!("cannot reach 10.0.0.1:53 (_wireguard._udp.example.com. SOA): {said}")
        );
    }
}

//! One DNS question to one server and its answer: UDP first, TCP when the answer is
//! truncated, bounded in time. No resolver configuration, no cache, no retries across
//! servers: the caller names the server.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The EDNS payload size we advertise: fits any path without fragmentation (DNS flag day
/// 2020), and an SRV answer with its additionals is far smaller.
const UDP_PAYLOAD: u16 = 1232;

/// Why a server gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    #[error("{server} did not answer {what} within {after:?}")]
    Timeout {
        server: SocketAddr,
        what: String,
        after: Duration,
    },
    #[error("cannot reach {server} ({what}): {detail}")]
    Io {
        server: SocketAddr,
        what: String,
        detail: String,
    },
    #[error("{server} sent a malformed answer to {what}: {detail}")]
    Malformed {
        server: SocketAddr,
        what: String,
        detail: String,
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
    match tokio::time::timeout(timeout, exchange(server, name, rtype, &what)).await {
        Ok(result) => result,
        Err(_) => Err(DnsError::Timeout {
            server,
            what,
            after: timeout,
        }),
    }
}

async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    what: &str,
) -> Result<Message, DnsError> {
    let query = query(name, rtype);
    let bytes = query.to_vec().map_err(|e| DnsError::Malformed {
        server,
        what: what.to_owned(),
        detail: format!("cannot encode the question: {e}"),
    })?;
    let answer = over_udp(server, &bytes, &query, what).await?;
    if answer.metadata.truncation {
        return over_tcp(server, &bytes, &query, what).await;
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
    let io = |detail: std::io::Error| DnsError::Io {
        server,
        what: what.to_owned(),
        detail: detail.to_string(),
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
    let io = |detail: std::io::Error| DnsError::Io {
        server,
        what: format!("{what} over TCP"),
        detail: detail.to_string(),
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
    let answer = Message::from_vec(&buf).map_err(|e| DnsError::Malformed {
        server,
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    if !answers(&answer, query) {
        return Err(DnsError::Malformed {
            server,
            what: what.to_owned(),
            detail: "the TCP answer is for another question".into(),
        });
    }
    Ok(answer)
}

fn answers(answer: &Message, query: &Message) -> bool {
    answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.queries == query.queries
}

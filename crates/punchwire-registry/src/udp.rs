//! The UDP side: one task per listening socket reads each datagram and answers it in turn,
//! with no task or channel per query, and for the common questions no allocation either.
//! (hickory-server spawns a task per UDP query and sends through a channel; at registry
//! load that cost more than the answer.)

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tracing::{debug, error, warn};

use crate::respond::{Responder, Transport};

/// The largest UDP payload there is, so no query is ever cut short.
const MAX_DATAGRAM: usize = 65_535;

/// Answers datagrams on `socket` until the task is aborted or the socket fails for good.
pub(crate) async fn serve(socket: UdpSocket, responder: Responder) {
    let mut packet = vec![0u8; MAX_DATAGRAM];
    let mut response = Vec::with_capacity(usize::from(crate::MAX_UDP_PAYLOAD));
    let mut said_receive_error = false;
    loop {
        let (len, source) = match socket.recv_from(&mut packet).await {
            Ok(received) => received,
            Err(err) if is_fatal(&err) => {
                error!(socket = ?socket.local_addr().ok(), error = %err, "the UDP socket failed; no more queries are answered on it");
                return;
            }
            Err(err) => {
                // An ICMP error for an earlier response, say: the next datagram is fine.
                if !said_receive_error {
                    warn!(error = %err, "error receiving a UDP query (logged once; later ones at debug level)");
                    said_receive_error = true;
                } else {
                    debug!(error = %err, "error receiving a UDP query");
                }
                continue;
            }
        };
        if !can_answer(source) {
            debug!(%source, "a datagram from an address that cannot be answered");
            continue;
        }
        if responder.respond(&packet[..len], source, Transport::Udp, &mut response) {
            if let Err(err) = socket.send_to(&response, source).await {
                debug!(%source, error = %err, "could not send a response");
            }
        }
    }
}

/// Port 0 and unspecified or broadcast addresses would send the response nowhere, or
/// everywhere.
fn can_answer(source: SocketAddr) -> bool {
    source.port() != 0
        && !source.ip().is_unspecified()
        && !matches!(source.ip(), std::net::IpAddr::V4(v4) if v4.is_broadcast())
}

/// Errors after which the socket will never deliver another datagram.
fn is_fatal(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotConnected | io::ErrorKind::ConnectionAborted
    )
}

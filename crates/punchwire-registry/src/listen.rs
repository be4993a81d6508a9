//! Binding one listen address: UDP and TCP on the same port, tied to the WireGuard device
//! when the address is the device's own.
//!
//! Why tie them (SO_BINDTODEVICE) rather than check each query's ingress interface
//! (IP_PKTINFO): Linux delivers a packet for a local address arriving on any interface
//! unless rp_filter is strict, so a host on the registry's LAN could send a query to the
//! tunnel address with a tunnel peer's source address and be answered. A socket bound to
//! the device is matched only by packets that came in through the device, for UDP and TCP
//! alike and before the registry reads a byte, with no unsafe code and no per-query cost.
//! (Queries the host itself sends to the tunnel address still match: the kernel counts
//! them as arriving on the device that holds the address.) A wildcard listen address is
//! not tied: it is meant to be reached from anywhere, and the ACL and rate limit guard it.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

use crate::registry::RegistryError;

/// Pending connections the kernel queues before the accept loop takes them.
const BACKLOG: i32 = 1024;

/// What the UDP socket may hold while the registry is busy: about 20,000 queries, a
/// tenth of a second at the highest rate measured. The kernel's default (208 KiB on most
/// systems, the cap `net.core.rmem_max` puts on SO_RCVBUF) dropped one valid query in
/// eight in a soak at 80% load while other programs shared the CPU; this, one in a hundred.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

/// The sockets of one listen address.
pub(crate) struct Bound {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

/// Binds UDP then TCP on the same port, both tied to `device` when given. With port 0 the
/// UDP socket picks the port; if TCP cannot have the same one, another port is tried.
pub(crate) fn bind(addr: SocketAddr, device: Option<&str>) -> Result<Bound, RegistryError> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let udp = udp(addr, device).map_err(|reason| RegistryError::Listen {
            addr,
            proto: "UDP",
            reason,
        })?;
        let port = udp
            .local_addr()
            .map_err(|reason| RegistryError::Listen {
                addr,
                proto: "UDP",
                reason,
            })?
            .port();
        match tcp(SocketAddr::new(addr.ip(), port), device) {
            Ok(tcp) => return Ok(Bound { udp, tcp }),
            Err(reason) => last_err = Some(reason),
        }
    }
    Err(RegistryError::Listen {
        addr,
        proto: "TCP",
        reason: last_err.unwrap_or_else(|| io::Error::other("no port could be bound")),
    })
}

fn udp(addr: SocketAddr, device: Option<&str>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    tie(&socket, device)?;
    enlarge_receive_buffer(&socket);
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    UdpSocket::from_std(socket.into())
}

/// Asks for [`UDP_RECEIVE_BUFFER`]: past `net.core.rmem_max` where the registry may
/// (CAP_NET_ADMIN, which the service has), within it otherwise. A smaller buffer only
/// drops more under bursts, so a refusal is logged, not fatal.
fn enlarge_receive_buffer(socket: &Socket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
        if setsockopt(socket, RcvBufForce, &UDP_RECEIVE_BUFFER).is_ok() {
            return;
        }
    }
    if let Err(error) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        tracing::debug!(%error, "the UDP receive buffer keeps the system's default size");
    }
}

fn tcp(addr: SocketAddr, device: Option<&str>) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std and tokio do: a restarted registry can bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    tie(&socket, device)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Ties `socket` to `device`, before it is bound so that no packet from elsewhere is ever
/// queued on it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn tie(socket: &Socket, device: Option<&str>) -> io::Result<()> {
    match device {
        Some(device) => socket
            .bind_device(Some(device.as_bytes()))
            // The kind stays the socket's, for `listen_hint`; the cause stays its source.
            .map_err(|source| {
                io::Error::new(
                    source.kind(),
                    TieError {
                        device: device.to_owned(),
                        source,
                    },
                )
            }),
        None => Ok(()),
    }
}

/// Why a socket could not be tied to its interface (SO_BINDTODEVICE).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug, thiserror::Error)]
#[error("cannot tie the socket to interface {device:?}: {source}")]
struct TieError {
    device: String,
    source: io::Error,
}

/// Elsewhere there is no SO_BINDTODEVICE; the ACL alone guards the socket.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn tie(_socket: &Socket, _device: Option<&str>) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_udp_socket_holds_bursts_past_the_system_default() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root may pass net.core.rmem_max");
            return;
        }
        let bound = bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let socket = socket2::SockRef::from(&bound.udp);
        // Linux reports twice what was asked (its own bookkeeping counts too).
        let size = socket.recv_buffer_size().unwrap();
        assert!(size >= UDP_RECEIVE_BUFFER, "{size} bytes");
    }

    #[test]
    fn an_untied_socket_keeps_the_kernel_error_as_its_source() {
        use std::error::Error as _;

        // Refused either way: EPERM without CAP_NET_RAW, ENODEV as root.
        let err = match bind("127.0.0.1:0".parse().unwrap(), Some("pw-no-such-if")) {
            Err(err) => err,
            Ok(_) => panic!("a socket tied to an interface that does not exist"),
        };
        let line = err.to_string();
        assert!(
            line.contains("cannot tie the socket to interface \"pw-no-such-if\""),
            "{line}"
        );
        let listen = err.source().expect("the listen error keeps its cause");
        let tie = listen.downcast_ref::<io::Error>().expect("an io::Error");
        let kernel = tie.source().expect("the tie error keeps the kernel's");
        let kernel = kernel.downcast_ref::<io::Error>().expect("an io::Error");
        assert!(kernel.raw_os_error().is_some(), "{kernel:?}");
        assert_eq!(tie.kind(), kernel.kind());
    }
}

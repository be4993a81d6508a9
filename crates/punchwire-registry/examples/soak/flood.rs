//! The TCP connection flood in the middle of the soak: from one address (127.0.0.2),
//! [`CONNECTIONS`] connections to the registry's DNS port, opened and held until the
//! flood ends, then all closed. The registry closes all but a few at once (its cap per
//! source); with `reopen`, those are opened again once a second, a flood of connection
//! attempts rather than of open connections.
//!
//! It prints `flood opened <ms> <connections> <held>` once the first round is up (held:
//! those the registry still keeps open a second later), and `flood closed <ms> <connects>
//! <failed>` when all are closed (ms since the load's start; connects in all, and
//! connection attempts that failed).

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::common::REGISTRY_PORT;

pub const CONNECTIONS: usize = 2000;
const SOURCE: [u8; 4] = [127, 0, 0, 2];
const REOPEN_EVERY: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Floods from `at` to `at + hold` after `start`.
pub fn run(start: Instant, at: Duration, hold: Duration, reopen: bool) {
    sleep_until(start + at);
    let end = start + at + hold;
    let mut streams: Vec<TcpStream> = Vec::with_capacity(CONNECTIONS);
    let mut connects = 0u64;
    let mut failed = 0u64;
    let mut first_round = true;
    while Instant::now() < end {
        if first_round || reopen {
            streams.retain(still_open);
            while streams.len() < CONNECTIONS && Instant::now() < end {
                match connect() {
                    Ok(stream) => {
                        streams.push(stream);
                        connects += 1;
                    }
                    Err(_) => {
                        failed += 1;
                        // A full accept queue drops SYNs: try again next round.
                        break;
                    }
                }
            }
        }
        let opened = streams.len();
        std::thread::sleep(REOPEN_EVERY.min(end.saturating_duration_since(Instant::now())));
        if first_round {
            first_round = false;
            let held = streams.iter().filter(|s| still_open(s)).count();
            println!(
                "flood opened {} {opened} {held}",
                start.elapsed().as_millis()
            );
        }
    }
    drop(streams);
    println!(
        "flood closed {} {connects} {failed}",
        start.elapsed().as_millis()
    );
}

fn connect() -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((SOURCE, 0)).into())?;
    socket.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], REGISTRY_PORT)).into(),
        CONNECT_TIMEOUT,
    )?;
    let stream: TcpStream = socket.into();
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Whether the registry still holds `stream` open (it sent nothing: a read would block).
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!((&*stream).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

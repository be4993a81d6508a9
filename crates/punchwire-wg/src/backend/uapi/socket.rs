//! One UAPI exchange: connect to a daemon's socket, send one request and read its answer
//! up to the blank line that ends it, all inside one deadline.
//!
//! A connection carries exactly one request: boringtun answers one and then ignores the
//! connection, so nothing here relies on the daemon keeping it open.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::backend::BackendError;

/// A daemon that sends more than this is not a WireGuard daemon; stop reading rather
/// than grow without bound. wireguard-go holds up to 65,536 peers, whose dump is about
/// 20 MiB; 64 MiB leaves room for long allowed-IP lists.
const MAX_ANSWER: usize = 64 << 20;
/// How much of an answer is read at a time.
const READ_CHUNK: usize = 64 << 10;

/// How long to wait before asking again when the daemon's accept queue is full.
const CONNECT_RETRY: Duration = Duration::from_millis(10);

/// An open connection to one interface's UAPI socket, bound by a deadline.
pub(super) struct Connection {
    stream: UnixStream,
    iface: String,
    socket: PathBuf,
    timeout: Duration,
    deadline: Instant,
}

impl Connection {
    /// Connects to `socket`; every later step of this connection shares the same
    /// deadline, `timeout` from now.
    pub(super) fn open(
        iface: &str,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let deadline = Instant::now() + timeout;
        let stream = connect_before(socket, deadline)
            .map_err(|err| connect_error(iface, socket, timeout, err))?;
        Ok(Self {
            stream,
            iface: iface.to_owned(),
            socket: socket.to_owned(),
            timeout,
            deadline,
        })
    }

    /// The connected stream, for asking the kernel who serves it.
    pub(super) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Sends `request` (which must end with the blank line) and returns the lines the
    /// daemon answered before its `errno=0`. A non-zero errno is an error naming it.
    pub(super) fn exchange(mut self, request: &str) -> Result<Vec<String>, BackendError> {
        let operation = request.lines().next().unwrap_or_default().to_owned();
        self.write_all(request.as_bytes())
            .map_err(|err| self.io_error(&operation, "sending the request", err))?;
        let answer = self
            .read_answer()
            .map_err(|err| self.io_error(&operation, "reading the answer", err))?;
        self.check_errno(&operation, answer)
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.stream.set_write_timeout(Some(self.remaining()?))?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Reads until the blank line that ends every answer, or until the daemon closes
    /// the connection.
    fn read_answer(&mut self) -> io::Result<String> {
        let mut answer = Vec::new();
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut end = AnswerEnd::default();
        loop {
            if end.is_in(&answer) {
                break;
            }
            if answer.len() > MAX_ANSWER {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("answer longer than {MAX_ANSWER} bytes"),
                ));
            }
            self.stream.set_read_timeout(Some(self.remaining()?))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        String::from_utf8(answer)
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "answer is not UTF-8"))
    }

    fn check_errno(&self, operation: &str, answer: String) -> Result<Vec<String>, BackendError> {
        let mut lines: Vec<String> = answer
            .lines()
            .map(str::to_owned)
            .take_while(|line| !line.is_empty())
            .collect();
        let errno = match lines.pop() {
            Some(last) => match last.strip_prefix("errno=") {
                Some(n) => n.trim().parse::<i32>().ok(),
                None => {
                    lines.push(last);
                    None
                }
            },
            None => None,
        };
        match errno {
            Some(0) => Ok(lines),
            Some(n) => Err(BackendError::Protocol {
                iface: self.iface.clone(),
                problem: format!(
                    "the daemon on {} refused {operation}: errno={n} ({})",
                    self.socket.display(),
                    errno_name(n)
                ),
            }),
            None => Err(BackendError::Protocol {
                iface: self.iface.clone(),
                problem: format!(
                    "the daemon on {} ended its answer to {operation} without an errno line \
                     (it may have crashed while answering)",
                    self.socket.display()
                ),
            }),
        }
    }

    /// Time left before the deadline, or a timeout error once it has passed.
    fn remaining(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| ErrorKind::TimedOut.into())
    }

    fn io_error(&self, operation: &str, step: &str, err: io::Error) -> BackendError {
        if is_timeout(&err) {
            // The deadline ran out: the timeout error itself would add nothing.
            return self.not_answering(
                format!("no answer to {operation} within {:?}", self.timeout),
                None,
            );
        }
        match err.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => self.not_answering(
                format!("connection closed while {step} for {operation}"),
                Some(err),
            ),
            _ => BackendError::Io {
                iface: self.iface.clone(),
                context: format!("{step} for {operation} on {}", self.socket.display()),
                source: err,
            },
        }
    }

    fn not_answering(&self, what: String, source: Option<io::Error>) -> BackendError {
        BackendError::NotAnswering {
            iface: self.iface.clone(),
            socket: self.socket.clone(),
            what,
            source,
        }
    }
}

/// "Invalid argument" for 22, without std's " (os error 22)" suffix.
fn errno_name(n: i32) -> String {
    let text = io::Error::from_raw_os_error(n).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Finds the blank line that ends an answer as the answer grows, looking at each byte
/// once: a device of 65,536 peers answers with megabytes, and searching from the start
/// after every chunk took a quarter of a busy registry's CPU.
#[derive(Debug, Default)]
struct AnswerEnd {
    searched: usize,
}

impl AnswerEnd {
    fn is_in(&mut self, answer: &[u8]) -> bool {
        if answer.starts_with(b"\n") {
            return true;
        }
        // Back one byte: the two newlines may have arrived in different chunks.
        let from = self.searched.saturating_sub(1);
        self.searched = answer.len();
        answer[from..].windows(2).any(|w| w == b"\n\n")
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// `UnixStream::connect` has no timeout, and blocks while the daemon's accept queue is
/// full (a wedged daemon's queue fills up). Connect without blocking and retry until
/// the deadline instead.
fn connect_before(path: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let address = UnixAddr::new(path).map_err(io::Error::from)?;
    let fd = socket::socket(AddressFamily::Unix, SockType::Stream, cloexec(), None)
        .map_err(io::Error::from)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(true)?;
    loop {
        match socket::connect(stream.as_raw_fd(), &address) {
            Ok(()) | Err(Errno::EISCONN) => break,
            Err(Errno::EAGAIN | Errno::EINPROGRESS | Errno::EALREADY | Errno::EINTR) => {
                if Instant::now() >= deadline {
                    return Err(ErrorKind::TimedOut.into());
                }
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn cloexec() -> SockFlag {
    SockFlag::SOCK_CLOEXEC
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn cloexec() -> SockFlag {
    SockFlag::empty()
}

fn connect_error(iface: &str, socket: &Path, timeout: Duration, err: io::Error) -> BackendError {
    let not_answering = |what: String, source: Option<io::Error>| BackendError::NotAnswering {
        iface: iface.to_owned(),
        socket: socket.to_owned(),
        what,
        source,
    };
    if is_timeout(&err) {
        // Often our own deadline rather than the OS's: nothing to add to `what`.
        return not_answering(format!("could not connect within {timeout:?}"), None);
    }
    match err.kind() {
        ErrorKind::NotFound => BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        },
        ErrorKind::PermissionDenied => BackendError::PermissionDenied {
            iface: iface.to_owned(),
        },
        ErrorKind::ConnectionRefused => not_answering(
            "the socket file is left over from a daemon that is gone".into(),
            Some(err),
        ),
        _ => not_answering("cannot connect".into(), Some(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(errno: i32) -> BackendError {
        connect_error(
            "wg0",
            Path::new("/var/run/wireguard/wg0.sock"),
            Duration::from_secs(2),
            io::Error::from_raw_os_error(errno),
        )
    }

    #[test]
    fn connect_failures_map_to_what_a_user_can_act_on() {
        assert!(matches!(mapped(2), BackendError::NoSuchInterface { .. }));
        let denied = mapped(13);
        assert!(matches!(denied, BackendError::PermissionDenied { .. }));
        assert!(denied.to_string().contains("CAP_NET_ADMIN"), "{denied}");
        let refused = mapped(111).to_string();
        assert!(
            refused.contains("/var/run/wireguard/wg0.sock") && refused.contains("left over"),
            "{refused}"
        );
        let timed_out = mapped(110).to_string();
        assert!(timed_out.contains("within 2s"), "{timed_out}");
    }

    #[test]
    fn the_end_of_an_answer_is_found_across_chunks() {
        let mut end = AnswerEnd::default();
        let mut answer = b"public_key=ab\nerrno=0\n".to_vec();
        assert!(!end.is_in(&answer));
        answer.extend_from_slice(b"\n");
        assert!(end.is_in(&answer), "the blank line split over two reads");

        assert!(AnswerEnd::default().is_in(b"\n"), "an empty answer");
        let mut end = AnswerEnd::default();
        assert!(!end.is_in(b""));
        assert!(end.is_in(b"errno=0\n\n"));
    }

    #[test]
    fn errno_names_read_cleanly() {
        assert_eq!(errno_name(22), "Invalid argument");
    }
}

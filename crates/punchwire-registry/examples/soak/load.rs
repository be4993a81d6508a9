//! Child mode `load`: the soak's UDP traffic, run inside the namespace on the load CPU.
//!
//! Valid queries go out at a fixed rate over several sockets, each with its own 16-bit ID
//! space, and every one is followed until it is answered or 2 s have passed; malformed
//! packets go out over sockets of their own, so that an answer to one (a FORMERR with
//! whatever ID the garbage held) can never be taken for the answer to a valid query.
//! Every 100 ms a `bucket` line says what happened in it (see [`Bucket`]).

use std::collections::VecDeque;
use std::io::{ErrorKind, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::common::{Result, REGISTRY_PORT};
use crate::mix::{malformed, Mix, Rng, MALFORMED_PERCENT, SERVFAIL};

pub const BUCKET: Duration = Duration::from_millis(100);
/// A valid query not answered by then is an error.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(2);
/// The most queries one socket sends per second: its 65,536 IDs then last 2.6 s, longer
/// than [`ANSWER_DEADLINE`], so an ID is never reused while its query may still be
/// answered.
const PER_SOCKET_QPS: u64 = 25_000;
const MIN_SOCKETS: usize = 8;
const MALFORMED_SOCKETS: usize = 2;
const RECEIVE_BUFFER: usize = 4 << 20;
/// Packets sent before the sockets are read again.
const SEND_BATCH: u64 = 64;

/// What happened in one 100 ms bucket, as printed (in this order) on a `bucket` line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bucket {
    /// Valid queries sent.
    pub sent: u64,
    /// Valid queries answered with the code they must get, within the deadline.
    pub answered: u64,
    /// Valid queries answered SERVFAIL.
    pub servfail: u64,
    /// Valid queries not answered within the deadline (counted when it passes).
    pub unanswered: u64,
    /// Valid queries answered with another code or question than they must get.
    pub wrong: u64,
    pub malformed_sent: u64,
    pub malformed_answered: u64,
    /// Sends the kernel refused (a full socket buffer, the registry gone).
    pub send_failed: u64,
    /// The slowest answer, in microseconds.
    pub max_latency_us: u64,
}

impl Bucket {
    pub fn errors(&self) -> u64 {
        self.servfail + self.unanswered + self.wrong
    }

    pub fn add(&mut self, other: &Bucket) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.servfail += other.servfail;
        self.unanswered += other.unanswered;
        self.wrong += other.wrong;
        self.malformed_sent += other.malformed_sent;
        self.malformed_answered += other.malformed_answered;
        self.send_failed += other.send_failed;
        self.max_latency_us = self.max_latency_us.max(other.max_latency_us);
    }

    fn line(&self, index: u64) -> String {
        format!(
            "bucket {index} {} {} {} {} {} {} {} {} {}",
            self.sent,
            self.answered,
            self.servfail,
            self.unanswered,
            self.wrong,
            self.malformed_sent,
            self.malformed_answered,
            self.send_failed,
            self.max_latency_us
        )
    }

    /// Reads a `bucket` line back: its index and the bucket.
    pub fn parse(line: &str) -> Option<(u64, Bucket)> {
        let mut fields = line.strip_prefix("bucket ")?.split(' ');
        let mut next = || fields.next()?.parse::<u64>().ok();
        let index = next()?;
        let bucket = Bucket {
            sent: next()?,
            answered: next()?,
            servfail: next()?,
            unanswered: next()?,
            wrong: next()?,
            malformed_sent: next()?,
            malformed_answered: next()?,
            send_failed: next()?,
            max_latency_us: next()?,
        };
        Some((index, bucket))
    }
}

/// One socket's queries in flight, by ID: when each was sent (nanoseconds since the
/// start, 0 for none) and which query it was.
struct Flight {
    socket: UdpSocket,
    next_id: u16,
    sent_at: Vec<u64>,
    query: Vec<u32>,
}

/// Sends at `rate` valid queries a second (plus the malformed share) for `seconds` from
/// `start`, then waits out the answer deadline, printing a `bucket` line every 100 ms and
/// `done` at the end.
pub fn run(start: Instant, seconds: u64, rate: u64, peers: usize) -> Result<()> {
    let mix = Mix::new(peers);
    let server = SocketAddr::from(([127, 0, 0, 1], REGISTRY_PORT));
    let count = MIN_SOCKETS.max(rate.div_ceil(PER_SOCKET_QPS) as usize);
    let mut flights = (0..count)
        .map(|_| {
            Ok(Flight {
                socket: connected(server)?,
                next_id: 0,
                sent_at: vec![0; 1 << 16],
                query: vec![0; 1 << 16],
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let garbage = (0..MALFORMED_SOCKETS)
        .map(|_| connected(server))
        .collect::<Result<Vec<_>>>()?;
    // (socket, id, sent at) in the order sent: the oldest is the next to time out.
    let mut deadlines: VecDeque<(u16, u16, u64)> = VecDeque::new();
    // Failed queries by the bucket they were sent in.
    let mut failed_by_send: Vec<u64> = Vec::new();
    let mut rng = Rng::new(1);
    let mut packet = Vec::with_capacity(600);
    let mut reply = [0u8; 4096];
    let mut bucket = Bucket::default();
    let mut index = 0u64;
    let mut sent_total = 0u64;
    let mut turn = 0usize;
    let deadline_ns = ANSWER_DEADLINE.as_nanos() as u64;
    let bucket_ns = BUCKET.as_nanos() as u64;
    let end_ns = seconds * 1_000_000_000;
    // Valid and malformed together, so that the valid rate is `rate`.
    let packets_per_sec = rate * 100 / (100 - MALFORMED_PERCENT);
    let mut stdout = std::io::stdout();
    loop {
        let now = start.elapsed().as_nanos() as u64;
        while now >= (index + 1) * bucket_ns {
            writeln!(stdout, "{}", bucket.line(index)).map_err(|e| e.to_string())?;
            bucket = Bucket::default();
            index += 1;
        }
        if now >= end_ns + deadline_ns && deadlines.is_empty() {
            break;
        }
        if now >= end_ns + deadline_ns + bucket_ns {
            return Err("answers still awaited after the deadline".into());
        }

        // Send what is due.
        let due = if now < end_ns {
            (u128::from(packets_per_sec) * u128::from(now) / 1_000_000_000) as u64
        } else {
            sent_total
        };
        let mut batch = 0;
        while sent_total < due && batch < SEND_BATCH {
            batch += 1;
            let query = mix.pick(&mut rng);
            if rng.below(100) < MALFORMED_PERCENT {
                malformed(&mut rng, mix.get(query), &mut packet);
                let socket = &garbage[(sent_total % MALFORMED_SOCKETS as u64) as usize];
                match socket.send(&packet) {
                    Ok(_) => bucket.malformed_sent += 1,
                    Err(_) => bucket.send_failed += 1,
                }
                sent_total += 1;
                continue;
            }
            turn = (turn + 1) % flights.len();
            let flight = &mut flights[turn];
            let id = flight.next_id;
            flight.next_id = id.wrapping_add(1);
            let wire = &mix.get(query).wire;
            packet.clear();
            packet.extend_from_slice(wire);
            packet[..2].copy_from_slice(&id.to_be_bytes());
            let sent_at = start.elapsed().as_nanos() as u64;
            match flight.socket.send(&packet) {
                Ok(_) => {
                    flight.sent_at[usize::from(id)] = sent_at.max(1);
                    flight.query[usize::from(id)] = query;
                    deadlines.push_back((turn as u16, id, sent_at.max(1)));
                    bucket.sent += 1;
                }
                Err(_) => bucket.send_failed += 1,
            }
            sent_total += 1;
        }

        // Read what came back.
        for flight in &mut flights {
            for _ in 0..SEND_BATCH {
                let len = match flight.socket.recv(&mut reply) {
                    Ok(len) => len,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                };
                if let Some(sent_at) = check(&mix, flight, &reply[..len], &start, &mut bucket) {
                    count_failed(&mut failed_by_send, sent_at / bucket_ns);
                }
            }
        }
        for socket in &garbage {
            while socket.recv(&mut reply).is_ok() {
                bucket.malformed_answered += 1;
            }
        }

        // What has waited too long.
        let now = start.elapsed().as_nanos() as u64;
        while let Some(&(socket, id, sent_at)) = deadlines.front() {
            if sent_at + deadline_ns > now {
                break;
            }
            deadlines.pop_front();
            let flight = &mut flights[usize::from(socket)];
            if flight.sent_at[usize::from(id)] == sent_at {
                flight.sent_at[usize::from(id)] = 0;
                bucket.unanswered += 1;
                count_failed(&mut failed_by_send, sent_at / bucket_ns);
            }
        }
        if batch == 0 {
            std::thread::yield_now();
        }
    }
    for (index, &count) in failed_by_send.iter().enumerate() {
        if count > 0 {
            writeln!(stdout, "failed {index} {count}").map_err(|e| e.to_string())?;
        }
    }
    writeln!(stdout, "done").map_err(|e| e.to_string())?;
    Ok(())
}

fn count_failed(failed_by_send: &mut Vec<u64>, index: u64) {
    let index = index as usize;
    if failed_by_send.len() <= index {
        failed_by_send.resize(index + 1, 0);
    }
    failed_by_send[index] += 1;
}

/// A socket that talks to the registry alone, with a receive buffer large enough (4 MiB,
/// `net.core.rmem_max` permitting) that answers survive this process being descheduled for
/// a while: a loss must be the registry's, not the load generator's.
fn connected(server: SocketAddr) -> Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|e| e.to_string())?;
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .map_err(|e| e.to_string())?;
    socket.connect(&server.into()).map_err(|e| e.to_string())?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(socket.into())
}

/// Matches a reply to its query by ID and sorts it: answered, SERVFAIL or wrong; returns
/// when a failed query was sent. A reply for no query in flight (a late one, already
/// counted unanswered) is ignored.
fn check(
    mix: &Mix,
    flight: &mut Flight,
    reply: &[u8],
    start: &Instant,
    bucket: &mut Bucket,
) -> Option<u64> {
    if reply.len() < 12 {
        // Not even an ID to match: the registry never sends such a thing.
        bucket.wrong += 1;
        return None;
    }
    let id = usize::from(u16::from_be_bytes([reply[0], reply[1]]));
    let sent_at = flight.sent_at[id];
    if sent_at == 0 {
        return None;
    }
    flight.sent_at[id] = 0;
    let latency_us = (start.elapsed().as_nanos() as u64).saturating_sub(sent_at) / 1000;
    bucket.max_latency_us = bucket.max_latency_us.max(latency_us);
    let query = mix.get(flight.query[id]);
    let rcode = reply[3] & 0x0f;
    let is_response = reply[2] & 0x80 != 0;
    let question = 12..12 + query.question_len;
    let same_question = reply
        .get(question.clone())
        .is_some_and(|q| q.eq_ignore_ascii_case(&query.wire[question]));
    if rcode == SERVFAIL {
        bucket.servfail += 1;
    } else if is_response && same_question && rcode == query.expect {
        bucket.answered += 1;
        return None;
    } else {
        bucket.wrong += 1;
    }
    Some(sent_at)
}

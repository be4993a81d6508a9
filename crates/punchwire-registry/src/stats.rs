//! Counters of what the registry did, readable while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;

/// What the registry has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistryStats {
    /// Every query received (allowed or not).
    pub queries: u64,
    /// Answered NOERROR (with records, or NODATA).
    pub answered: u64,
    /// Refused: a name outside the zone, a zone transfer. (Sources outside the allowed
    /// ranges get nothing; see `strangers_dropped`.)
    pub refused: u64,
    /// Answered NXDOMAIN.
    pub nxdomain: u64,
    /// Answered SERVFAIL: the device could not be read for longer than the stale bound.
    pub servfail: u64,
    /// Responses sent with TC set (the client should retry over TCP).
    pub truncated: u64,
    /// Successful reads of the device (one per refresh while it is readable).
    pub device_reads: u64,
    /// Whether the last successful read is recent enough to answer from (false: every
    /// query gets SERVFAIL).
    pub fresh: bool,
    /// Why the task that reads the device stopped (a panic, with its message); `None`
    /// while it runs. Once it has stopped the last snapshot is served until it is older
    /// than the stale bound, then every query gets SERVFAIL.
    pub refresh_stopped: Option<String>,
    /// Queries and TCP connections from sources outside the allowed ranges, dropped
    /// without an answer (an answer would let them bounce traffic off the registry).
    pub strangers_dropped: u64,
    /// UDP responses not sent (or sent cut to TC=1) because their source asked faster than
    /// the per-source response rate.
    pub rate_limited: u64,
    /// TCP connections closed at once because the total or per-source cap was reached.
    pub tcp_refused: u64,
    /// Serial of the SOA currently served.
    pub serial: u32,
    /// Peers currently served (the registry's own record included).
    pub peers: usize,
}

/// The live counters behind [`RegistryStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queries: AtomicU64,
    pub answered: AtomicU64,
    pub refused: AtomicU64,
    pub nxdomain: AtomicU64,
    pub servfail: AtomicU64,
    pub truncated: AtomicU64,
    pub device_reads: AtomicU64,
    pub strangers_dropped: AtomicU64,
    pub rate_limited: AtomicU64,
    pub tcp_refused: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a response by its code; codes without a counter of their own are only in
    /// `queries`.
    pub fn count(&self, rcode: ResponseCode) {
        let counter = match rcode {
            ResponseCode::NoError => &self.answered,
            ResponseCode::NXDomain => &self.nxdomain,
            ResponseCode::Refused => &self.refused,
            ResponseCode::ServFail => &self.servfail,
            _ => return,
        };
        Self::bump(counter);
    }

    /// The counters, with what the caller knows of the snapshot served now; the refresh
    /// is taken to run.
    pub fn read(&self, serial: u32, peers: usize, fresh: bool) -> RegistryStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RegistryStats {
            queries: get(&self.queries),
            answered: get(&self.answered),
            refused: get(&self.refused),
            nxdomain: get(&self.nxdomain),
            servfail: get(&self.servfail),
            truncated: get(&self.truncated),
            device_reads: get(&self.device_reads),
            strangers_dropped: get(&self.strangers_dropped),
            rate_limited: get(&self.rate_limited),
            tcp_refused: get(&self.tcp_refused),
            fresh,
            refresh_stopped: None,
            serial,
            peers,
        }
    }
}

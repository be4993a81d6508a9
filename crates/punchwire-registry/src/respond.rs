//! One DNS message in, one response out (or none), for UDP and TCP alike: the one place
//! that decides, in order, who is asking, whether they may have another response yet,
//! whether the message is a query we read (or an UPDATE, handed to `update`), whether the
//! snapshot is fresh, and which path answers it.
//!
//! The questions peers ask all day (SRV, A/AAAA and TXT of one instance) are answered from
//! bytes `prepared` once per instance; a name the zone does not have from the SOA prepared
//! once per snapshot (`negative`). Everything else goes through `answer`, then `encode`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, RecordType};
use tracing::debug;

use crate::answer::{answer, Answer};
use crate::encode::{encode, write_header_only, TC_BIT};
use crate::fit::{opt_len, udp_limit, TCP_LIMIT};
use crate::instance::prepared::write_prepared;
use crate::live::Live;
use crate::negative::write_no_such_name;
use crate::rate::{RateLimiter, Verdict};
use crate::snapshot::{Asked, Snapshot};
use crate::stats::Counters;
use crate::update;
use crate::wire::{self, Incoming, Query};

/// How a message came, which sets how big its response may be and whether the source
/// could be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Up to what the client offers, within [`MAX_UDP_PAYLOAD`](crate::MAX_UDP_PAYLOAD);
    /// rate-limited per source.
    Udp,
    /// Up to [`TCP_LIMIT`]; the handshake proved the source, so no rate limit.
    Tcp,
}

/// Whether `source` may ask at all: inside a peer's AllowedIPs or `--allow`. A stranger
/// is counted and logged (at debug level: anyone can make these) here, for UDP and TCP
/// alike; it gets no answer, so that it cannot bounce traffic off the registry.
pub(crate) fn admits(live: &Live, snapshot: &Snapshot, source: IpAddr) -> bool {
    let admitted = snapshot.allows(source);
    if !admitted {
        Counters::bump(&live.counters.strangers_dropped);
        debug!(%source, "dropped: the source is not inside any peer's AllowedIPs nor --allow");
    }
    admitted
}

/// [`answer`] to a question from `source`, with a refusal logged, for UDP and TCP alike.
fn answer_from<'s>(
    snapshot: &'s Snapshot,
    source: IpAddr,
    name: &LowerName,
    qtype: RecordType,
    qclass: DNSClass,
    arrival: IpAddr,
) -> Answer<'s> {
    let decided = answer(snapshot, name, qtype, qclass, arrival);
    if decided.rcode == ResponseCode::Refused {
        debug!(%source, %name, %qtype, "refused: not a question this registry answers");
    }
    decided
}

/// Answers the messages arriving on one listening address.
#[derive(Clone)]
pub(crate) struct Responder {
    live: Arc<Live>,
    /// The address the socket is bound to: the "address the query arrived on" of the
    /// registry's own record.
    arrival: IpAddr,
    /// Shared by every listening address: a source's rate is its rate at the registry.
    limiter: Option<Arc<RateLimiter>>,
}

impl Responder {
    pub fn new(live: Arc<Live>, arrival: IpAddr, limiter: Option<Arc<RateLimiter>>) -> Self {
        Self {
            live,
            arrival,
            limiter,
        }
    }

    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Writes the response to `packet` from `source` into `out`. False: send nothing (a
    /// response, a stranger, a source over its rate).
    pub fn respond(
        &self,
        packet: &[u8],
        source: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(incoming) = wire::read(packet) else {
            return false;
        };
        let counters = &self.live.counters;
        Counters::bump(&counters.queries);
        let (snapshot, fresh) = self.live.current();
        let source = source.ip();

        if !admits(&self.live, &snapshot, source) {
            return false;
        }
        if let (Transport::Udp, Some(limiter)) = (transport, &self.limiter) {
            match limiter.check(source, Instant::now()) {
                Verdict::Send => {}
                Verdict::Drop => {
                    Counters::bump(&counters.rate_limited);
                    return false;
                }
                Verdict::Slip => {
                    Counters::bump(&counters.rate_limited);
                    let Incoming::Query(query) = incoming else {
                        return false;
                    };
                    let empty = Answer::with_rcode(ResponseCode::NoError);
                    let limit = limit_of(&query, transport);
                    encode(out, &query, &empty, limit);
                    out[2] |= TC_BIT;
                    return true;
                }
            }
        }
        let query = match incoming {
            Incoming::Query(query) => query,
            Incoming::Update => {
                let rcode = update::handle(&self.live, packet, source, fresh, Instant::now(), out);
                counters.count(rcode);
                return true;
            }
            Incoming::Reject { echo, rcode, opt } => {
                debug!(%source, %rcode, "a message that is not a query this registry reads");
                write_header_only(out, echo, rcode, opt);
                return true;
            }
        };
        let limit = limit_of(&query, transport);
        if !fresh {
            counters.count(ResponseCode::ServFail);
            encode(out, &query, &Answer::server_failure(), limit);
            return true;
        }
        // The two paths that answer from prepared bytes: the name is read once for both.
        if query.qclass == u16::from(DNSClass::IN) {
            match snapshot.asked(query.name.as_bytes()) {
                Asked::Instance(instance) => {
                    if let Some(prepared) = instance.prepared.response(&snapshot, &query) {
                        if prepared.len() + opt_len(query.opt.is_some()) <= limit {
                            counters.count(ResponseCode::NoError);
                            write_prepared(out, prepared, &query);
                            return true;
                        }
                    }
                }
                Asked::Missing { apex_at } => {
                    if write_no_such_name(out, &snapshot, &query, apex_at, limit) {
                        counters.count(ResponseCode::NXDomain);
                        return true;
                    }
                }
                Asked::Other => {}
            }
        }

        let Some(name) = query.lower_name() else {
            write_header_only(out, query.echo, ResponseCode::FormErr, query.opt.is_some());
            return true;
        };
        let decided = answer_from(
            &snapshot,
            source,
            &name,
            RecordType::from(query.qtype),
            DNSClass::from(query.qclass),
            self.arrival,
        );
        counters.count(decided.rcode);
        if encode(out, &query, &decided, limit).truncated {
            Counters::bump(&counters.truncated);
        }
        true
    }
}

/// How many bytes the response to `query` may have over `transport`.
fn limit_of(query: &Query<'_>, transport: Transport) -> usize {
    match transport {
        Transport::Udp => usize::from(udp_limit(query.opt.map(|o| o.max_payload))),
        Transport::Tcp => TCP_LIMIT,
    }
}

#[cfg(test)]
mod tests;

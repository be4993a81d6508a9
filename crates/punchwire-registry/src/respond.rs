//! One DNS message in, one response out (or none), for UDP and TCP alike: who is asking,
//! whether they may have another response yet, what they asked, the answer from the
//! snapshot, and its bytes.
//!
//! The questions peers ask all day (SRV, A/AAAA and TXT of one instance) are answered from
//! bytes prepared once per instance (see `prepared`), patched with the query's ID, flags and
//! question. Everything else goes through `answer` and `fit` and is encoded here with
//! hickory's record encoder.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use tracing::{debug, warn};

use crate::answer::{answer, Answer};
use crate::fit::{fit, Fit, OPT_LEN};
use crate::live::Live;
use crate::rate::{RateLimiter, Verdict};
use crate::snapshot::Snapshot;
use crate::stats::Counters;
use crate::wire::{self, Echo, Incoming, Query, HEADER_LEN};

/// The largest UDP response the registry sends, whatever the client offers: 1232 bytes
/// avoids IP fragmentation on any path (DNS flag day 2020), and a tunnel's MTU is lower
/// than Ethernet's. Larger answers go over TCP.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Without EDNS a UDP message holds at most 512 bytes (RFC 1035 §4.2.1).
pub const PLAIN_UDP_PAYLOAD: u16 = 512;

/// A message over TCP holds at most 65,535 bytes (its length prefix is 16 bits).
const TCP_LIMIT: usize = u16::MAX as usize;

/// How a message came, which sets how big its response may be and whether the source
/// could be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Up to what the client offers, within [`MAX_UDP_PAYLOAD`]; rate-limited per source.
    Udp,
    /// Up to [`TCP_LIMIT`]; the handshake proved the source, so no rate limit.
    Tcp,
}

/// How many bytes a UDP response may have: what the client offers, within bounds.
fn udp_limit(offered: Option<u16>) -> u16 {
    offered.map_or(PLAIN_UDP_PAYLOAD, |o| {
        o.clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
    })
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
            Incoming::Reject { echo, rcode, opt } => {
                debug!(%source, %rcode, "a datagram that is not a query this registry reads");
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
        if let Some(prepared) = self.prepared(&snapshot, &query) {
            if prepared.len() + opt_len(&query) <= limit {
                counters.count(ResponseCode::NoError);
                write_prepared(out, prepared, &query);
                return true;
            }
        }
        if write_no_such_name(out, &snapshot, &query, limit) {
            counters.count(ResponseCode::NXDomain);
            return true;
        }

        let Some(name) = lower_name(&query) else {
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

    /// The prepared response to `query`, when it asks for one instance's SRV, TXT or
    /// address (preparing it on first use).
    fn prepared<'s>(&self, snapshot: &'s Snapshot, query: &Query<'_>) -> Option<&'s [u8]> {
        if query.qclass != u16::from(DNSClass::IN) {
            return None;
        }
        let label = snapshot.zone().instance_label(query.name.as_bytes())?;
        let instance = snapshot.instance(label)?;
        let slot = instance.prepared.slot(RecordType::from(query.qtype))?;
        slot.get_or_init(|| prepare(snapshot, query)).as_deref()
    }
}

/// The whole response to `query`'s question asked in lower case, with ID 0 and no flags
/// from the query, for an instance whose answer is the same for every client and fits
/// any UDP response. `None` when that is not so (kept, so it is not tried again).
fn prepare(snapshot: &Snapshot, query: &Query<'_>) -> Option<Box<[u8]>> {
    let name = lower_name(query)?;
    let decided = answer(
        snapshot,
        &name,
        RecordType::from(query.qtype),
        DNSClass::IN,
        // Not used: an instance whose address is the arrival address has no slot.
        IpAddr::from([0, 0, 0, 0]),
    );
    if decided.rcode != ResponseCode::NoError || decided.answers.is_empty() {
        return None;
    }
    let mut question = query.name.as_bytes().to_vec();
    question.extend_from_slice(&query.question[query.question.len() - 4..]);
    let canonical = Query {
        echo: Echo {
            id: 0,
            op_code: 0,
            recursion_desired: false,
            checking_disabled: false,
        },
        question: &question,
        opt: None,
        ..*query
    };
    let mut out = Vec::new();
    // Room for the OPT record an EDNS query adds: then it fits every UDP limit.
    let limit = usize::from(PLAIN_UDP_PAYLOAD) - OPT_LEN;
    let fits = encode(&mut out, &canonical, &decided, limit);
    let whole = !fits.truncated
        && fits.answers == decided.answers.len()
        && fits.additional == decided.additional.iter().map(Vec::len).sum::<usize>();
    whole.then(|| out.into_boxed_slice())
}

/// A prepared response made this query's own: its ID, RD and CD bits, its question as
/// it was sent (same length: only letter case differs), and an OPT record if it had one.
fn write_prepared(out: &mut Vec<u8>, prepared: &[u8], query: &Query<'_>) {
    out.clear();
    out.extend_from_slice(prepared);
    out[..2].copy_from_slice(&query.echo.id.to_be_bytes());
    out[2] |= u8::from(query.echo.recursion_desired);
    out[3] |= u8::from(query.echo.checking_disabled) << 4;
    out[HEADER_LEN..HEADER_LEN + query.question.len()].copy_from_slice(query.question);
    if query.opt.is_some() {
        let additional = u16::from_be_bytes([out[10], out[11]]) + 1;
        out[10..12].copy_from_slice(&additional.to_be_bytes());
        write_opt(out, ResponseCode::NoError);
    }
}

/// NXDOMAIN with the snapshot's prepared SOA, when `query` asks for a name the zone
/// does not have; false, with `out` untouched, when it does not (or when the response
/// would not fit `limit`): then the general path answers. The same response `answer`
/// gives a miss, without building a name or encoding a record.
fn write_no_such_name(
    out: &mut Vec<u8>,
    snapshot: &Snapshot,
    query: &Query<'_>,
    limit: usize,
) -> bool {
    let qtype = RecordType::from(query.qtype);
    if query.qclass != u16::from(DNSClass::IN)
        || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
    {
        return false;
    }
    let Some(soa) = snapshot.negative_soa() else {
        return false;
    };
    let Some(below) = snapshot.zone().below_apex(query.name.as_bytes()) else {
        return false;
    };
    if below
        .instance
        .is_some_and(|label| snapshot.instance(label).is_some())
    {
        return false;
    }
    if HEADER_LEN + query.question.len() + soa.len() + opt_len(query) > limit {
        return false;
    }
    out.clear();
    out.resize(HEADER_LEN, 0);
    write_header(
        out,
        query.echo,
        ResponseCode::NXDomain,
        true,
        false,
        [1, 0, 1, usize::from(query.opt.is_some())],
    );
    out.extend_from_slice(query.question);
    if !soa.write(out, HEADER_LEN + below.apex_at) {
        out.clear();
        return false;
    }
    if query.opt.is_some() {
        write_opt(out, ResponseCode::NXDomain);
    }
    true
}

/// The TC flag in the third header byte (RFC 1035 §4.1.1).
const TC_BIT: u8 = 0x02;

fn limit_of(query: &Query<'_>, transport: Transport) -> usize {
    match transport {
        Transport::Udp => usize::from(udp_limit(query.opt.map(|o| o.max_payload))),
        Transport::Tcp => TCP_LIMIT,
    }
}

fn opt_len(query: &Query<'_>) -> usize {
    if query.opt.is_some() {
        OPT_LEN
    } else {
        0
    }
}

/// The query name as hickory names it; `None` only for bytes that are no name at all,
/// which `wire` has already turned away.
fn lower_name(query: &Query<'_>) -> Option<LowerName> {
    let mut labels = Vec::with_capacity(8);
    let mut rest = query.name.as_bytes();
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            break;
        }
        let (label, tail) = tail.split_at_checked(usize::from(len))?;
        labels.push(label);
        rest = tail;
    }
    let name = Name::from_labels(labels).ok()?;
    Some(LowerName::new(&name))
}

/// Encodes `decided` as the response to `query`, with what fits in `limit` bytes.
fn encode(out: &mut Vec<u8>, query: &Query<'_>, decided: &Answer<'_>, limit: usize) -> Fit {
    let fits = fit(decided, query.question, query.opt.is_some(), limit);
    out.clear();
    out.resize(HEADER_LEN, 0);
    let emitted = emit_records(out, query.question, decided, &fits);
    if let Err(error) = emitted {
        warn!(%error, "cannot encode a response; answering SERVFAIL");
        write_header_only(out, query.echo, ResponseCode::ServFail, query.opt.is_some());
        return fits;
    }
    write_header(
        out,
        query.echo,
        decided.rcode,
        decided.authoritative,
        fits.truncated,
        [
            1,
            fits.answers,
            fits.authority,
            fits.additional + usize::from(query.opt.is_some()),
        ],
    );
    if query.opt.is_some() {
        write_opt(out, decided.rcode);
    }
    fits
}

/// The question and the records `fits` lets in, after the header already in `out`,
/// with the encoder and compression `fit`'s trial uses, so that the trial matches what is
/// sent.
fn emit_records(
    out: &mut Vec<u8>,
    question: &[u8],
    decided: &Answer<'_>,
    fits: &Fit,
) -> Result<(), hickory_proto::ProtoError> {
    let mut encoder = BinEncoder::with_offset(out, HEADER_LEN as u32);
    let start = encoder.offset();
    encoder.emit_vec(question)?;
    encoder.store_label_pointer(start, start + question.len());
    let records = decided
        .answers
        .iter()
        .take(fits.answers)
        .chain(decided.authority.iter().take(fits.authority))
        .chain(decided.additional.iter().flatten().take(fits.additional));
    for record in records {
        record.record.emit(&mut encoder)?;
    }
    Ok(())
}

/// A response with no question and no records: for what is not a readable query.
fn write_header_only(out: &mut Vec<u8>, echo: Echo, rcode: ResponseCode, opt: bool) {
    out.clear();
    out.resize(HEADER_LEN, 0);
    write_header(out, echo, rcode, false, false, [0, 0, 0, usize::from(opt)]);
    if opt {
        write_opt(out, rcode);
    }
}

/// Fills the 12 header bytes at the start of `out` (RFC 1035 §4.1.1).
fn write_header(
    out: &mut [u8],
    echo: Echo,
    rcode: ResponseCode,
    authoritative: bool,
    truncated: bool,
    counts: [usize; 4],
) {
    out[..2].copy_from_slice(&echo.id.to_be_bytes());
    out[2] = 0x80
        | (echo.op_code & 0x0f) << 3
        | u8::from(authoritative) << 2
        | u8::from(truncated) << 1
        | u8::from(echo.recursion_desired);
    out[3] = u8::from(echo.checking_disabled) << 4 | rcode.low();
    for (i, count) in counts.into_iter().enumerate() {
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        out[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
    }
}

/// The registry's OPT record (RFC 6891 §6.1.2): root owner, its UDP limit, the upper bits
/// of the response code, version 0, no flags, no options. `OPT_LEN` bytes.
fn write_opt(out: &mut Vec<u8>, rcode: ResponseCode) {
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[rcode.high(), 0, 0, 0, 0, 0]);
}

#[cfg(test)]
mod tests;

//! How big a message may be, and how much of an answer fits in it.
//!
//! hickory's encoder stops where a message overflows, leaving the bytes of the record that
//! did not fit behind the end of the message ("extra bytes at end" in dig). So the registry
//! decides what goes in before encoding, and the encoder never reaches its own limit:
//! answers are cut with TC set (RFC 2181 §9), additional groups are left out whole without
//! TC (RFC 6763 §12).

use hickory_proto::op::Header;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, EncodedSize};

use crate::answer::Answer;

/// Size of the OPT record the registry adds to responses to EDNS queries (no options).
pub const OPT_LEN: usize = 11;

/// The largest UDP response the registry sends, whatever the client offers: 1232 bytes
/// avoids IP fragmentation on any path (DNS flag day 2020), and a tunnel's MTU is lower
/// than Ethernet's. Larger answers go over TCP.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Without EDNS a UDP message holds at most 512 bytes (RFC 1035 §4.2.1).
pub const PLAIN_UDP_PAYLOAD: u16 = 512;

/// A message over TCP holds at most 65,535 bytes (its length prefix is 16 bits).
pub const TCP_LIMIT: usize = u16::MAX as usize;

/// How many bytes a UDP response may have: what the client offers, within bounds.
pub fn udp_limit(offered: Option<u16>) -> u16 {
    offered.map_or(PLAIN_UDP_PAYLOAD, |o| {
        o.clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
    })
}

/// The bytes of the OPT record a response carries when its query had one (`edns`).
pub fn opt_len(edns: bool) -> usize {
    if edns {
        OPT_LEN
    } else {
        0
    }
}

/// How many records of each section go into the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub answers: usize,
    pub authority: usize,
    /// Additional records, counted flat (always whole groups).
    pub additional: usize,
    /// The answer or authority section was cut: the client should retry over TCP.
    pub truncated: bool,
}

/// Fits `answer` into `limit` bytes, for a query whose question section is `question`
/// (as it appeared on the wire) and that did (`edns`) or did not carry EDNS.
pub fn fit(answer: &Answer<'_>, question: &[u8], edns: bool, limit: usize) -> Fit {
    let opt = opt_len(edns);
    let everything = Fit {
        answers: answer.answers.len(),
        authority: answer.authority.len(),
        additional: answer.additional.iter().map(Vec::len).sum(),
        truncated: false,
    };
    // The common case (one SRV and its two additionals) needs no trial: compression only
    // ever makes a message smaller than this bound.
    let bound = Header::LEN
        + question.len()
        + opt
        + answer
            .answers
            .iter()
            .chain(&answer.authority)
            .chain(answer.additional.iter().flatten())
            .map(|r| r.max_len)
            .sum::<usize>();
    if bound <= limit {
        return everything;
    }
    trial(answer, question, limit.saturating_sub(opt))
}

/// Encodes the message the way `respond` will (same encoder, same order, same
/// compression), noting where it stops fitting.
fn trial(answer: &Answer<'_>, question: &[u8], limit: usize) -> Fit {
    let mut fit = Fit {
        answers: 0,
        authority: 0,
        additional: 0,
        truncated: true,
    };
    let mut buf = Vec::with_capacity(limit.min(u16::MAX as usize));
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(u16::try_from(limit).unwrap_or(u16::MAX));
    if encoder.place::<Header>().is_err() {
        return fit;
    }
    let start = encoder.offset();
    if encoder.emit_vec(question).is_err() {
        return fit;
    }
    // `respond` registers the question as a compression candidate; do the same so that
    // the candidate table (limited in size) fills up identically.
    if !question.is_empty() {
        encoder.store_label_pointer(start, start + question.len());
    }
    for record in &answer.answers {
        if record.record.emit(&mut encoder).is_err() {
            return fit;
        }
        fit.answers += 1;
    }
    for record in &answer.authority {
        if record.record.emit(&mut encoder).is_err() {
            return fit;
        }
        fit.authority += 1;
    }
    fit.truncated = false;
    for group in &answer.additional {
        for record in group {
            if record.record.emit(&mut encoder).is_err() {
                return fit;
            }
        }
        fit.additional += group.len();
    }
    fit
}

//! A response's bytes: its header, the question as it was sent, the records that fit and
//! the OPT record, with hickory's record encoder for the records.

use hickory_proto::op::ResponseCode;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use tracing::warn;

use crate::answer::Answer;
use crate::fit::{fit, Fit, MAX_UDP_PAYLOAD};
use crate::wire::{Echo, Query, HEADER_LEN};

/// The TC flag in the third header byte (RFC 1035 §4.1.1).
pub const TC_BIT: u8 = 0x02;

/// Encodes `decided` as the response to `query`, with what fits in `limit` bytes.
pub fn encode(out: &mut Vec<u8>, query: &Query<'_>, decided: &Answer<'_>, limit: usize) -> Fit {
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
pub fn write_header_only(out: &mut Vec<u8>, echo: Echo, rcode: ResponseCode, opt: bool) {
    out.clear();
    out.resize(HEADER_LEN, 0);
    write_header(out, echo, rcode, false, false, [0, 0, 0, usize::from(opt)]);
    if opt {
        write_opt(out, rcode);
    }
}

/// Fills the 12 header bytes at the start of `out` (RFC 1035 §4.1.1).
pub fn write_header(
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
pub fn write_opt(out: &mut Vec<u8>, rcode: ResponseCode) {
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[rcode.high(), 0, 0, 0, 0, 0]);
}

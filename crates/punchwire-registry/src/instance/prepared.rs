//! Responses prepared once per instance, for the questions peers ask all day: its SRV, its
//! TXT and its address. An instance is shared by every snapshot that serves it unchanged
//! (see `snapshot`), so a prepared response lasts until the peer itself changes. Each is
//! made on first use, then patched with each query's ID, flags and question.

use std::net::IpAddr;
use std::sync::OnceLock;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};

use crate::answer::answer;
use crate::encode::{encode, write_opt};
use crate::fit::{OPT_LEN, PLAIN_UDP_PAYLOAD};
use crate::snapshot::Snapshot;
use crate::wire::{Echo, Query, HEADER_LEN};

/// One prepared response, made on first use: `None` when that question's answer cannot be
/// prepared, remembered so that it is not tried again.
pub type Slot = OnceLock<Option<Box<[u8]>>>;

/// The responses of one instance (see [`prepare`] for what they hold).
#[derive(Debug, Default)]
pub struct Prepared {
    /// A or AAAA, whichever the instance has; `None` when its address is the one each
    /// query arrived on (the registry's own record), so that nothing is prepared.
    /// Kept here, beside the slots, so that finding a slot reads one place in memory:
    /// at 65,536 peers every lookup is a cache miss.
    host_type: Option<RecordType>,
    srv: Slot,
    txt: Slot,
    host: Slot,
}

impl Prepared {
    pub fn new(host_type: Option<RecordType>) -> Self {
        Self {
            host_type,
            ..Self::default()
        }
    }

    /// The response to `query`, a question in class IN about this instance, when its type
    /// is one prepared (made now if this is the first time it is asked).
    pub fn response<'s>(&'s self, snapshot: &Snapshot, query: &Query<'_>) -> Option<&'s [u8]> {
        let slot = self.slot(RecordType::from(query.qtype))?;
        slot.get_or_init(|| prepare(snapshot, query)).as_deref()
    }

    /// Where the UDP response to a `qtype` question is prepared; `None` when it is not:
    /// NODATA carries the SOA, whose serial moves with every snapshot, and the registry's
    /// own record may hold the address each query arrived on.
    fn slot(&self, qtype: RecordType) -> Option<&Slot> {
        let host_type = self.host_type?;
        match qtype {
            RecordType::SRV => Some(&self.srv),
            RecordType::TXT => Some(&self.txt),
            _ if qtype == host_type => Some(&self.host),
            _ => None,
        }
    }
}

/// The whole response to `query`'s question asked in lower case, with ID 0 and no flags
/// from the query, for an instance whose answer is the same for every client and fits
/// any UDP response. `None` when that is not so (kept, so it is not tried again).
fn prepare(snapshot: &Snapshot, query: &Query<'_>) -> Option<Box<[u8]>> {
    let name = query.lower_name()?;
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
pub fn write_prepared(out: &mut Vec<u8>, prepared: &[u8], query: &Query<'_>) {
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

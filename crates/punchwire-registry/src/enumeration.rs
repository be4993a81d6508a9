//! RFC 6763 §11 domain enumeration: a host that knows only an address asks
//! `b._dns-sd._udp.<reverse address>` (and `db`, `lb`) which domains to browse. The
//! registry names its zone for the address a query arrived on, so that a peer that knows
//! only its tunnel needs no zone typed in.

use std::borrow::Cow;
use std::net::IpAddr;

use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use punchwire_control::zone::{BROWSE_KINDS, BROWSE_SERVICE_LABELS};

use crate::answer::Answer;
use crate::records::{SizedRecord, TTL};
use crate::snapshot::Snapshot;

// Registration domains (`r`, `dr`) are not offered: peers do not register through DNS,
// the registry reads them off its device.

/// The answer when `name` is an enumeration name of `arrival`; `None` for any other name.
/// Only PTR is answered there: every other type is refused, as outside the zone.
pub fn enumeration<'s>(
    snapshot: &'s Snapshot,
    name: &LowerName,
    qtype: RecordType,
    arrival: IpAddr,
) -> Option<Answer<'s>> {
    if arrival.is_unspecified() || !is_browse_name(name, arrival) {
        return None;
    }
    if qtype != RecordType::PTR {
        return Some(Answer::refused());
    }
    let record = Record::from_rdata(
        Name::from(name),
        TTL,
        RData::PTR(PTR(snapshot.zone().apex().clone())),
    );
    Some(match SizedRecord::new(record) {
        Ok(record) => Answer::records([Cow::Owned(record)]),
        Err(_) => Answer::server_failure(),
    })
}

/// Whether `name` is `b|db|lb._dns-sd._udp.<reverse of arrival>`.
fn is_browse_name(name: &LowerName, arrival: IpAddr) -> bool {
    let reverse = LowerName::new(&Name::from(arrival));
    if name.num_labels() != reverse.num_labels() + 3 || !reverse.zone_of(name) {
        return false;
    }
    let mut labels = name.iter();
    let first = labels.next();
    first.is_some_and(|label| BROWSE_KINDS.iter().any(|kind| kind.as_bytes() == label))
        && labels
            .take(2)
            .eq(BROWSE_SERVICE_LABELS.iter().map(|l| l.as_bytes()))
}

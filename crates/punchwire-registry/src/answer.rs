//! What to answer: a pure function of (query name, type, class, arrival address) and a
//! snapshot. No I/O, no sizes: fitting the answer into a message is `fit`'s job.

use std::borrow::Cow;
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use crate::candidates::CandidateRecords;
use crate::enumeration::enumeration;
use crate::instance::Instance;
use crate::records::{SizedRecord, TTL};
use crate::snapshot::Snapshot;
use crate::zone::Place;

/// The sections of a response, borrowing from the snapshot where they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'s> {
    pub rcode: ResponseCode,
    /// Whether the AA bit is set: for every answer from inside the zone.
    pub authoritative: bool,
    pub answers: Vec<Cow<'s, SizedRecord>>,
    pub authority: Vec<Cow<'s, SizedRecord>>,
    /// Additional records in groups (one group per instance, RFC 6763 §12): a group goes
    /// into a message whole or not at all.
    pub additional: Vec<Vec<Cow<'s, SizedRecord>>>,
}

impl<'s> Answer<'s> {
    fn new(rcode: ResponseCode, authoritative: bool) -> Self {
        Self {
            rcode,
            authoritative,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        }
    }

    /// An error response with no records and no AA bit.
    pub fn with_rcode(rcode: ResponseCode) -> Self {
        Self::new(rcode, false)
    }

    /// REFUSED, without the AA bit: not our zone, or not something we do.
    pub fn refused() -> Self {
        Self::new(ResponseCode::Refused, false)
    }

    /// SERVFAIL: the snapshot is too old to be trusted.
    pub fn server_failure() -> Self {
        Self::new(ResponseCode::ServFail, false)
    }

    pub(crate) fn records(records: impl IntoIterator<Item = Cow<'s, SizedRecord>>) -> Self {
        let mut answer = Self::new(ResponseCode::NoError, true);
        answer.answers.extend(records);
        answer
    }

    /// NOERROR with no records and the SOA for negative caching (RFC 2308 NODATA).
    fn no_data(snapshot: &'s Snapshot) -> Self {
        let mut answer = Self::new(ResponseCode::NoError, true);
        answer.authority.push(Cow::Borrowed(snapshot.soa()));
        answer
    }

    fn no_such_name(snapshot: &'s Snapshot) -> Self {
        let mut answer = Self::new(ResponseCode::NXDomain, true);
        answer.authority.push(Cow::Borrowed(snapshot.soa()));
        answer
    }

    /// Answers, or NODATA when there are none of the asked type.
    fn or_no_data(self, snapshot: &'s Snapshot) -> Self {
        if self.answers.is_empty() {
            Self::no_data(snapshot)
        } else {
            self
        }
    }
}

/// Answers one question from `snapshot`. `arrival` is the address the query arrived on,
/// used for the registry's own record when it has no configured endpoint and for the one
/// set of names outside the zone it answers: RFC 6763 §11 enumeration of that address.
pub fn answer<'s>(
    snapshot: &'s Snapshot,
    name: &LowerName,
    qtype: RecordType,
    qclass: DNSClass,
    arrival: IpAddr,
) -> Answer<'s> {
    if qclass != DNSClass::IN && qclass != DNSClass::ANY {
        return Answer::refused();
    }
    // Zone transfers would hand out every peer at once; the PTR listing is the only list.
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return Answer::refused();
    }
    let place = snapshot.zone().locate(name);
    let instance = match place {
        Place::Outside => {
            return enumeration(snapshot, name, qtype, arrival).unwrap_or_else(Answer::refused)
        }
        Place::Unknown => return Answer::no_such_name(snapshot),
        Place::Candidates(label) => {
            return match snapshot.candidates(label) {
                Some(_) if qtype == RecordType::ANY => minimal_any(name),
                Some(registered) => candidates(snapshot, registered, qtype),
                None => Answer::no_such_name(snapshot),
            }
        }
        Place::Instance(label) => match snapshot.instance(label) {
            Some(instance) => Some(instance),
            None => return Answer::no_such_name(snapshot),
        },
        _ => None,
    };
    if qtype == RecordType::ANY && place != Place::EmptyNonTerminal {
        return minimal_any(name);
    }
    match (place, instance) {
        (Place::Apex, _) => apex(snapshot, qtype),
        (Place::Service, _) if qtype == RecordType::PTR => listing(snapshot, arrival),
        (Place::Nameserver, _) => Answer::records(
            snapshot
                .nameserver_hosts()
                .iter()
                .filter(|r| r.record.record_type() == qtype)
                .map(Cow::Borrowed),
        )
        .or_no_data(snapshot),
        (Place::Instance(_), Some(instance)) => peer(snapshot, instance, qtype, arrival),
        _ => Answer::no_data(snapshot),
    }
}

/// RFC 8482: one synthesized HINFO instead of every record at the name.
fn minimal_any<'s>(name: &LowerName) -> Answer<'s> {
    let record = Record::from_rdata(
        Name::from(name),
        TTL,
        RData::HINFO(HINFO::new("RFC8482".to_owned(), String::new())),
    );
    match SizedRecord::new(record) {
        Ok(record) => Answer::records([Cow::Owned(record)]),
        Err(_) => Answer::server_failure(),
    }
}

fn apex<'s>(snapshot: &'s Snapshot, qtype: RecordType) -> Answer<'s> {
    match qtype {
        RecordType::SOA => Answer::records([Cow::Borrowed(snapshot.soa())]),
        RecordType::NS => {
            let mut answer = Answer::records([Cow::Borrowed(snapshot.ns())]);
            let glue: Vec<_> = snapshot
                .nameserver_hosts()
                .iter()
                .map(Cow::Borrowed)
                .collect();
            if !glue.is_empty() {
                answer.additional.push(glue);
            }
            answer
        }
        _ => Answer::no_data(snapshot),
    }
}

/// The PTR listing, each instance's SRV, A/AAAA and TXT in the additional section.
fn listing(snapshot: &Snapshot, arrival: IpAddr) -> Answer<'_> {
    let mut answer = Answer::records(
        snapshot
            .listing()
            .iter()
            .map(|instance| Cow::Borrowed(&instance.ptr)),
    );
    answer.additional = snapshot
        .listing()
        .iter()
        .map(|instance| instance_group(instance, arrival, true))
        .collect();
    answer
}

fn peer<'s>(
    snapshot: &'s Snapshot,
    instance: &'s Instance,
    qtype: RecordType,
    arrival: IpAddr,
) -> Answer<'s> {
    match qtype {
        RecordType::SRV => {
            let mut answer = Answer::records([Cow::Borrowed(&instance.srv)]);
            answer
                .additional
                .push(instance_group(instance, arrival, false));
            answer
        }
        RecordType::TXT => Answer::records([Cow::Borrowed(&instance.txt)]),
        RecordType::A | RecordType::AAAA => Answer::records(
            instance
                .host_for(arrival)
                .filter(|host| host.record.record_type() == qtype),
        )
        .or_no_data(snapshot),
        _ => Answer::no_data(snapshot),
    }
}

/// A peer's candidates: the SRV with the addresses in the additional section, or the
/// addresses of one family.
fn candidates<'s>(
    snapshot: &'s Snapshot,
    registered: &'s CandidateRecords,
    qtype: RecordType,
) -> Answer<'s> {
    match qtype {
        RecordType::SRV => {
            let mut answer = Answer::records([Cow::Borrowed(&registered.srv)]);
            answer
                .additional
                .push(registered.hosts.iter().map(Cow::Borrowed).collect());
            answer
        }
        RecordType::A | RecordType::AAAA => Answer::records(
            registered
                .hosts
                .iter()
                .filter(|host| host.record.record_type() == qtype)
                .map(Cow::Borrowed),
        )
        .or_no_data(snapshot),
        _ => Answer::no_data(snapshot),
    }
}

/// `[SRV,] A/AAAA, TXT` of one instance, for an additional section.
fn instance_group(
    instance: &Instance,
    arrival: IpAddr,
    with_srv: bool,
) -> Vec<Cow<'_, SizedRecord>> {
    let mut group = Vec::with_capacity(3);
    if with_srv {
        group.push(Cow::Borrowed(&instance.srv));
    }
    group.extend(instance.host_for(arrival));
    group.push(Cow::Borrowed(&instance.txt));
    group
}

#[cfg(test)]
mod tests;

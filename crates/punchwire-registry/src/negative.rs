//! The "no such name" response, from an SOA prepared once per snapshot.
//!
//! A flood of random names is the cheapest attack on an authoritative server, so a miss
//! must cost no more than a hit. Every name a miss asks for ends in the zone's apex, and
//! so does every name in the SOA (its owner, primary and mailbox): written as compression
//! pointers to where the apex sits in the query's own question, the SOA is the same bytes
//! for every miss but for those pointers, which are patched in per query.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::encode::{write_header, write_opt};
use crate::fit::opt_len;
use crate::records::SizedRecord;
use crate::snapshot::Snapshot;
use crate::wire::{Query, HEADER_LEN};

/// A compression pointer's two top bits (RFC 1035 §4.1.4).
const POINTER: u16 = 0xc000;
/// The largest offset a compression pointer holds.
const MAX_POINTER_OFFSET: usize = 0x3fff;

/// The SOA record's bytes, with a gap wherever a pointer to the apex goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeSoa {
    bytes: Vec<u8>,
    /// Where in `bytes` each two-byte pointer to the apex goes.
    pointers: Vec<usize>,
}

impl NegativeSoa {
    /// The SOA `record` of the zone at `apex`, or `None` when it is not an SOA owned by
    /// the apex (a bug elsewhere; responses then take the general path).
    pub fn new(record: &SizedRecord, apex: &Name) -> Option<Self> {
        let record = &record.record;
        let RData::SOA(soa) = &record.data else {
            return None;
        };
        if &record.name != apex {
            return None;
        }
        let mut this = Self {
            bytes: Vec::with_capacity(64),
            pointers: Vec::with_capacity(3),
        };
        this.pointer();
        this.bytes
            .extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
        this.bytes
            .extend_from_slice(&u16::from(record.dns_class).to_be_bytes());
        this.bytes.extend_from_slice(&record.ttl.to_be_bytes());
        let rdlength_at = this.bytes.len();
        this.bytes.extend_from_slice(&[0, 0]);
        this.name(&soa.mname, apex);
        this.name(&soa.rname, apex);
        for value in [soa.serial, soa.refresh as u32, soa.retry as u32] {
            this.bytes.extend_from_slice(&value.to_be_bytes());
        }
        for value in [soa.expire as u32, soa.minimum] {
            this.bytes.extend_from_slice(&value.to_be_bytes());
        }
        let rdlength = u16::try_from(this.bytes.len() - rdlength_at - 2).ok()?;
        this.bytes[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
        Some(this)
    }

    /// How many bytes [`write`](Self::write) adds.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends the record, its names pointing at the apex found `apex_at` bytes into the
    /// message. False, with nothing written, when a pointer cannot reach that far (never
    /// for a question right after the header).
    pub fn write(&self, out: &mut Vec<u8>, apex_at: usize) -> bool {
        let Ok(offset) = u16::try_from(apex_at) else {
            return false;
        };
        if apex_at > MAX_POINTER_OFFSET {
            return false;
        }
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let pointer = (POINTER | offset).to_be_bytes();
        for &at in &self.pointers {
            out[start + at..start + at + 2].copy_from_slice(&pointer);
        }
        true
    }

    fn pointer(&mut self) {
        self.pointers.push(self.bytes.len());
        self.bytes.extend_from_slice(&[0, 0]);
    }

    /// `name` as its labels above the apex and a pointer to it; in full when it is not in
    /// the zone.
    fn name(&mut self, name: &Name, apex: &Name) {
        let inside = apex.zone_of(name);
        let own_labels = if inside {
            usize::from(name.num_labels() - apex.num_labels())
        } else {
            usize::from(name.num_labels())
        };
        for label in name.iter().take(own_labels) {
            self.bytes.push(label.len() as u8);
            self.bytes.extend_from_slice(label);
        }
        if inside {
            self.pointer();
        } else {
            self.bytes.push(0);
        }
    }
}

/// NXDOMAIN with the snapshot's prepared SOA, for `query` in class IN asking for a name
/// the zone does not have, whose apex starts `apex_at` bytes into it (see
/// [`Snapshot::asked`]). False, with `out` untouched, for a zone transfer or a response
/// that would not fit `limit`: then the general path answers. The same response `answer`
/// gives a miss, without building a name or encoding a record.
pub fn write_no_such_name(
    out: &mut Vec<u8>,
    snapshot: &Snapshot,
    query: &Query<'_>,
    apex_at: usize,
    limit: usize,
) -> bool {
    if matches!(
        RecordType::from(query.qtype),
        RecordType::AXFR | RecordType::IXFR
    ) {
        return false;
    }
    let Some(soa) = snapshot.negative_soa() else {
        return false;
    };
    if HEADER_LEN + query.question.len() + soa.len() + opt_len(query.opt.is_some()) > limit {
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
    if !soa.write(out, HEADER_LEN + apex_at) {
        out.clear();
        return false;
    }
    if query.opt.is_some() {
        write_opt(out, ResponseCode::NXDomain);
    }
    true
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{Record, RecordType};
    use hickory_proto::serialize::binary::BinDecodable;

    use super::*;

    fn soa(apex: &Name, mailbox: &str) -> SizedRecord {
        let primary = Name::from_ascii("ns1")
            .unwrap()
            .append_domain(apex)
            .unwrap();
        let mailbox = Name::from_ascii(mailbox).unwrap();
        SizedRecord::new(Record::from_rdata(
            apex.clone(),
            30,
            RData::SOA(SOA::new(primary, mailbox, 7, 86400, 7200, 3_600_000, 30)),
        ))
        .unwrap()
    }

    /// A whole NXDOMAIN message with `negative` after the question for `qname`.
    fn message(negative: &NegativeSoa, qname: &[u8], apex_in_qname: usize) -> Vec<u8> {
        let mut out = vec![0x12, 0x34, 0x84, 0x03, 0, 1, 0, 0, 0, 1, 0, 0];
        out.extend_from_slice(qname);
        out.extend_from_slice(&[0, 1, 0, 1]);
        assert!(negative.write(&mut out, 12 + apex_in_qname));
        out
    }

    #[test]
    fn the_soa_reads_back_whole_after_any_question_in_the_zone() {
        let apex = Name::from_ascii("example.com.").unwrap();
        let record = soa(&apex, "postmaster.example.com.");
        let negative = NegativeSoa::new(&record, &apex).unwrap();
        // Fewer bytes than the record uncompressed: three names became pointers.
        assert!(negative.len() < record.max_len);
        for (qname, apex_at) in [
            (&b"\x07example\x03com\x00"[..], 0),
            (b"\x05Nope-\x07EXAMPLE\x03com\x00", 6),
            (b"\x01a\x01b\x01c\x07example\x03com\x00", 6),
        ] {
            let bytes = message(&negative, qname, apex_at);
            let parsed = Message::from_bytes(&bytes).expect("a valid message");
            assert_eq!(parsed.metadata.response_code, ResponseCode::NXDomain);
            let authority = &parsed.authorities;
            assert_eq!(authority.len(), 1);
            assert_eq!(authority[0].record_type(), RecordType::SOA);
            // Names compare without regard to case: the pointer may land on "EXAMPLE".
            assert_eq!(authority[0], record.record, "after {qname:?}");
        }
    }

    #[test]
    fn a_mailbox_outside_the_zone_is_written_in_full() {
        let apex = Name::from_ascii("example.com.").unwrap();
        let record = soa(&apex, "hostmaster.example.org.");
        let negative = NegativeSoa::new(&record, &apex).unwrap();
        let bytes = message(&negative, b"\x01x\x07example\x03com\x00", 2);
        let parsed = Message::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.authorities[0], record.record);
    }

    #[test]
    fn only_an_soa_owned_by_the_apex_is_prepared() {
        let apex = Name::from_ascii("example.com.").unwrap();
        let other = Name::from_ascii("example.org.").unwrap();
        assert_eq!(NegativeSoa::new(&soa(&other, "a.b."), &apex), None);
    }
}

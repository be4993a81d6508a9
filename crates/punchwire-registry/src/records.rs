//! The records a registry serves, each built once with an upper bound of its size on the
//! wire, so that a response is sized without encoding it first.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use ipnet::IpNet;
use punchwire_wg::PublicKey;
use tracing::warn;

use crate::zone::ZoneNames;

/// TTL of every peer record: endpoints move at any moment, so nothing may be cached (as
/// wgsd does).
pub const TTL: u32 = 0;

/// TTL of the SOA, and its negative-caching minimum. Kept at zero for the same reason: a
/// cached "no such peer" would hide a peer that appears a second later.
pub const SOA_TTL: u32 = 0;

/// A `<character-string>` in a TXT record holds at most 255 octets.
const TXT_STRING_MAX: usize = 255;

/// The TXT version key, first in the record (RFC 6763 §6.7), as wgsd writes it.
pub const TXT_VERSION: &str = "txtvers=1";

/// A record and an upper bound of its size on the wire, so that a response can be sized
/// without encoding it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizedRecord {
    pub record: Record,
    /// Its size with no name compression: never smaller than in any real message.
    pub max_len: usize,
}

impl SizedRecord {
    pub fn new(record: Record) -> Result<Self, hickory_proto::ProtoError> {
        let mut buf = Vec::with_capacity(128);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.emit(&mut encoder)?;
        Ok(Self {
            max_len: buf.len(),
            record,
        })
    }
}

/// A or AAAA for `ip`, by its family.
pub fn host_record(name: &Name, ip: IpAddr) -> Result<SizedRecord, hickory_proto::ProtoError> {
    let data = match ip.to_canonical() {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    SizedRecord::new(Record::from_rdata(name.clone(), TTL, data))
}

/// `"txtvers=1" "pub=<base64>" "allowed=<cidr>,<cidr>"`, as wgsd writes them. A string
/// holds at most 255 octets: ranges that do not fit are left out (and logged), because
/// one oversized string would make every answer for this peer unencodable.
pub fn txt_strings(key: &PublicKey, allowed: &[IpNet]) -> Vec<String> {
    let mut list = String::from("allowed=");
    let mut dropped = 0;
    for (i, net) in allowed.iter().enumerate() {
        let text = net.trunc().to_string();
        let sep = usize::from(i > 0 && list.len() > "allowed=".len());
        if list.len() + sep + text.len() > TXT_STRING_MAX {
            dropped += 1;
            continue;
        }
        if sep == 1 {
            list.push(',');
        }
        list.push_str(&text);
    }
    if dropped > 0 {
        warn!(
            peer = %key,
            dropped,
            "peer has more AllowedIPs than fit in its 255-octet TXT allowed= string; the rest are not published"
        );
    }
    vec![
        TXT_VERSION.to_owned(),
        format!("pub={}", key.to_base64()),
        list,
    ]
}

/// SOA (with wgsd's names and timers), NS, and `ns1` A/AAAA. These names are all valid
/// ASCII labels, so building them cannot fail; a failure would be a bug here.
pub fn apex_records(
    zone: &ZoneNames,
    serial: u32,
    nameserver_ips: &[IpAddr],
) -> (SizedRecord, SizedRecord, Vec<SizedRecord>) {
    let soa = SizedRecord::new(Record::from_rdata(
        zone.apex().clone(),
        SOA_TTL,
        RData::SOA(SOA::new(
            zone.nameserver().clone(),
            zone.mailbox().clone(),
            serial,
            86400,
            7200,
            3_600_000,
            SOA_TTL,
        )),
    ))
    .expect("an SOA of valid names always encodes");
    let ns = SizedRecord::new(Record::from_rdata(
        zone.apex().clone(),
        SOA_TTL,
        RData::NS(NS(zone.nameserver().clone())),
    ))
    .expect("an NS of valid names always encodes");
    let hosts = nameserver_ips
        .iter()
        .filter_map(|ip| host_record(zone.nameserver(), *ip).ok())
        .collect();
    (soa, ns, hosts)
}

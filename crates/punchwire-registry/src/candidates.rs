//! A peer's registered candidates as the registry serves them, at
//! `_candidates.<label>._wireguard._udp.<zone>`: one SRV giving the peer's listen port
//! and pointing at that same name, and the addresses as A and AAAA records there. The
//! same shape as an instance (its SRV points at itself and its A/AAAA is there), so one
//! SRV query brings everything in its additional section.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{RData, Record};
use punchwire_wg::PublicKey;

use crate::instance::Label;
use crate::records::{host_record, SizedRecord, TTL};
use crate::zone::ZoneNames;

/// The most addresses one peer may register: its LAN and global addresses, with room to
/// spare. A set that would hold more is refused whole.
pub const MAX_ADDRESSES: usize = 8;

/// The served candidates of every peer that has some, by label.
pub type CandidateZone = HashMap<Label, std::sync::Arc<CandidateRecords>>;

/// One peer's candidates as records.
#[derive(Debug, PartialEq, Eq)]
pub struct CandidateRecords {
    /// `0 0 <port> _candidates.<label>._wireguard._udp.<zone>`.
    pub srv: SizedRecord,
    /// A and AAAA, in address order (IPv4 first).
    pub hosts: Vec<SizedRecord>,
}

impl CandidateRecords {
    pub fn build(
        zone: &ZoneNames,
        key: &PublicKey,
        port: u16,
        addresses: &BTreeSet<IpAddr>,
    ) -> Result<Self, hickory_proto::ProtoError> {
        let name = zone.candidates(key.to_dns_label().as_bytes())?;
        let srv = SizedRecord::new(Record::from_rdata(
            name.clone(),
            TTL,
            RData::SRV(SRV::new(0, 0, port, name.clone())),
        ))?;
        let hosts = addresses
            .iter()
            .map(|ip| host_record(&name, *ip))
            .collect::<Result<_, _>>()?;
        Ok(Self { srv, hosts })
    }
}

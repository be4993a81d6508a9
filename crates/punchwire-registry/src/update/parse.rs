//! An UPDATE message read with hickory, and held to what RFC 2136 asks of every server
//! before any permission is looked at: one zone, ours; no prerequisites (this registry
//! does not take them); each change well-formed and inside the zone (§3.4.1.3). Its
//! result is the list of changes, in order, not yet judged as anyone's.

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::UpdateError;
use crate::zone::ZoneNames;

/// The longest UPDATE read. Replacing a full set of candidates in the longest zone takes
/// under 800 bytes; 1232 (the largest UDP response the registry sends) leaves room.
pub const MAX_MESSAGE_LEN: usize = 1232;

/// The most changes one UPDATE may carry: replacing a full set takes 10 (delete the
/// name, add the SRV and 8 addresses); twice that leaves room for deleting records one by one.
pub const MAX_CHANGES: usize = 20;

/// What a response echoes of the request, as far as it could be read.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pub id: u16,
    /// The zone section, once it was read.
    pub zone: Option<Query>,
    /// Whether the request carried EDNS (then so does the response).
    pub edns: bool,
}

/// One change of the update section (RFC 2136 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: Name,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// §2.5.1: add this record to its RRset.
    Add(RData),
    /// §2.5.2: delete the RRset of this type.
    DeleteRrset(RecordType),
    /// §2.5.3: delete every RRset at the name.
    DeleteName,
    /// §2.5.4: delete this record from its RRset.
    Delete(RData),
}

/// Reads `packet`, an UPDATE (opcode 5) request, for `zone`.
pub fn read(packet: &[u8], zone: &ZoneNames) -> (Echo, Result<Vec<Change>, UpdateError>) {
    let mut echo = Echo {
        id: packet
            .get(..2)
            .map_or(0, |id| u16::from_be_bytes([id[0], id[1]])),
        ..Echo::default()
    };
    if packet.len() > MAX_MESSAGE_LEN {
        return (echo, Err(UpdateError::TooLong { len: packet.len() }));
    }
    let message = match Message::from_vec(packet) {
        Ok(message) => message,
        Err(error) => return (echo, Err(UpdateError::Malformed(error))),
    };
    echo.edns = message.edns.is_some();
    let changes = changes(&message, zone, &mut echo);
    (echo, changes)
}

fn changes(
    message: &Message,
    zone: &ZoneNames,
    echo: &mut Echo,
) -> Result<Vec<Change>, UpdateError> {
    // §3.1.1: exactly one zone, of type SOA.
    let [asked] = message.queries.as_slice() else {
        return Err(UpdateError::ZoneSection);
    };
    if asked.query_type != RecordType::SOA {
        return Err(UpdateError::ZoneSection);
    }
    echo.zone = Some(asked.clone());
    // §3.1.2: a zone (or class) this server is not authoritative for.
    if asked.query_class != DNSClass::IN || &asked.name != zone.apex() {
        return Err(UpdateError::NotOurZone(asked.name.clone()));
    }
    if !message.answers.is_empty() {
        return Err(UpdateError::Prerequisites);
    }
    // Without the dnssec features hickory keeps a TSIG or SIG(0) among the additionals.
    let signed = message.signature.is_some()
        || message
            .additionals
            .iter()
            .any(|r| matches!(r.record_type(), RecordType::TSIG | RecordType::SIG));
    if signed {
        return Err(UpdateError::Signed);
    }
    let updates = &message.authorities;
    if updates.len() > MAX_CHANGES {
        return Err(UpdateError::TooManyChanges {
            count: updates.len(),
        });
    }
    updates
        .iter()
        .map(|record| {
            // §3.4.1.3: the prescan, each change on its own.
            if !zone.apex().zone_of(&record.name) {
                return Err(UpdateError::OutsideZone(record.name.clone()));
            }
            let rtype = record.record_type();
            let empty = matches!(record.data, RData::Update0(_));
            let op = match record.dns_class {
                DNSClass::IN if !is_meta(rtype) && !empty => Op::Add(record.data.clone()),
                DNSClass::ANY if record.ttl == 0 && empty && rtype == RecordType::ANY => {
                    Op::DeleteName
                }
                DNSClass::ANY if record.ttl == 0 && empty && !is_meta(rtype) => {
                    Op::DeleteRrset(rtype)
                }
                DNSClass::NONE if record.ttl == 0 && !is_meta(rtype) && !empty => {
                    Op::Delete(record.data.clone())
                }
                _ => return Err(UpdateError::BadChange(record.name.clone(), rtype)),
            };
            Ok(Change {
                name: record.name.clone(),
                op,
            })
        })
        .collect()
}

/// Query types and meta types (RFC 6895 §3.1: 128–255, and OPT): never records in a zone.
fn is_meta(rtype: RecordType) -> bool {
    (128..=255).contains(&u16::from(rtype)) || rtype == RecordType::OPT
}

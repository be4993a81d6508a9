//! The DNS UPDATE (RFC 2136) that registers a peer's candidates, in the layout the
//! registry serves: at `_candidates.<b32>._wireguard._udp.<zone>`, one SRV with the
//! listen port whose target is that same name, and the addresses there as A and AAAA.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{update_message, Message, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use punchwire_control::zone::{CANDIDATES_LABEL, SERVICE_LABELS};
use punchwire_wg::PublicKey;

/// The TTL written; the registry serves its own (0) and keeps the set for its lease.
const TTL: u32 = 60;

/// `_candidates.<b32>._wireguard._udp.<zone>`, or `None` in a zone so long that the
/// name would not fit in 255 octets (such a zone has no candidates).
pub fn candidate_name(zone: &Name, key: &PublicKey) -> Option<Name> {
    let label = key.to_dns_label();
    let labels = [CANDIDATES_LABEL, &label]
        .into_iter()
        .chain(SERVICE_LABELS)
        .map(str::as_bytes);
    Name::from_labels(labels).ok()?.append_domain(zone).ok()
}

/// One UPDATE that replaces the whole set at `name` with `candidates` (all with the
/// same port, the listen port's): every record there is deleted, then the SRV and the
/// addresses are added, which the registry applies all or nothing. No candidates
/// withdraws the set.
pub fn registration(zone: &Name, name: &Name, candidates: &[SocketAddr]) -> Message {
    let mut message = update_message::delete_all(name.clone(), zone.clone(), DNSClass::IN, false);
    let Some(port) = candidates.first().map(SocketAddr::port) else {
        return message;
    };
    let srv = SRV::new(0, 0, port, name.clone());
    message.add_update(Record::from_rdata(name.clone(), TTL, RData::SRV(srv)));
    for candidate in candidates {
        let address = match candidate.ip() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        message.add_update(Record::from_rdata(name.clone(), TTL, address));
    }
    message
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::RecordType;

    use super::*;

    fn zone() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    #[test]
    fn the_name_sits_below_the_peer_s_instance() {
        let key = PublicKey::from_bytes([7; 32]);
        let name = candidate_name(&zone(), &key).unwrap();
        assert_eq!(
            crate::lookup::text(&name),
            format!(
                "_candidates.{}._wireguard._udp.example.com.",
                key.to_dns_label()
            )
        );
        let long = Name::from_ascii(format!(
            "{}.example.com.",
            vec!["a".repeat(60); 3].join(".")
        ))
        .unwrap();
        assert_eq!(candidate_name(&long, &key), None, "no room below this zone");
    }

    #[test]
    fn one_update_replaces_the_whole_set() {
        let name = candidate_name(&zone(), &PublicKey::from_bytes([7; 32])).unwrap();
        let candidates: Vec<SocketAddr> = vec![
            "192.168.1.5:51820".parse().unwrap(),
            "[2001:db8::5]:51820".parse().unwrap(),
        ];
        // Through the wire and back, as the registry reads it.
        let sent = registration(&zone(), &name, &candidates).to_vec().unwrap();
        let update = Message::from_vec(&sent).unwrap();
        assert_eq!(update.metadata.op_code, OpCode::Update);
        assert_eq!(update.metadata.message_type, MessageType::Query);
        let [zone_section] = update.zones() else {
            panic!("one zone: {:?}", update.zones());
        };
        assert_eq!(zone_section.name(), &zone());
        assert_eq!(zone_section.query_type(), RecordType::SOA);
        assert!(update.prerequisites().is_empty());

        let updates = update.updates();
        assert_eq!(updates.len(), 4, "{updates:?}");
        // First, delete every RRset at the name (class ANY, type ANY, no data).
        assert_eq!(updates[0].name, name);
        assert_eq!(updates[0].dns_class, DNSClass::ANY);
        assert_eq!(updates[0].record_type(), RecordType::ANY);
        // Then the SRV, pointing at the name itself, and each address there.
        assert!(updates[1..].iter().all(|r| r.name == name));
        assert_eq!(
            updates[1].data,
            RData::SRV(SRV::new(0, 0, 51820, name.clone()))
        );
        assert_eq!(updates[2].data, RData::A(A::new(192, 168, 1, 5)));
        assert_eq!(
            updates[3].data,
            RData::AAAA(AAAA("2001:db8::5".parse().unwrap()))
        );
    }

    #[test]
    fn no_candidates_withdraws_the_set() {
        let name = candidate_name(&zone(), &PublicKey::from_bytes([7; 32])).unwrap();
        let update = registration(&zone(), &name, &[]);
        assert_eq!(update.updates().len(), 1);
        assert_eq!(update.updates()[0].dns_class, DNSClass::ANY);
    }
}

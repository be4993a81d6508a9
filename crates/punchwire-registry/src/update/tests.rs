//! UPDATE messages as bytes on the wire through `respond`, the way a peer's would come,
//! and what a querier then sees. A refused update must leave no trace: the serial and
//! every answer stay as they were.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use punchwire_testkit::wg::key;
use punchwire_wg::{Device, Peer};

use super::store::{CandidateStore, Edit};
use super::UpdateError;
use crate::live::Live;
use crate::rate::{RateLimiter, ResponseRate};
use crate::respond::{Responder, Transport};
use crate::snapshot::{Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;
use punchwire_control::zone::Zone;

const ZONE: &str = "example.com.";
/// Peer 1's tunnel address, inside its AllowedIPs.
const PEER_1: &str = "10.0.0.1:5353";
/// Inside `--allow`, but no peer's.
const ALLOWED_STRANGER: &str = "192.0.2.5:5353";

fn device() -> Device {
    let peer = |n: u8, endpoint: Option<&str>| -> Peer {
        punchwire_testkit::wg::peer(key(n.into()), endpoint, &[&format!("10.0.0.{n}/32")])
    };
    Device {
        name: "wg0".into(),
        public_key: Some(key(200)),
        listen_port: Some(51820),
        fwmark: None,
        peers: vec![
            peer(1, Some("198.51.100.1:4000")),
            peer(2, Some("198.51.100.2:4000")),
        ],
    }
}

fn zone_names() -> Arc<ZoneNames> {
    Arc::new(ZoneNames::new(&Zone::parse(ZONE).unwrap()))
}

/// A name from text; labels may end in '=' (hickory's parser refuses those).
fn name(text: &str) -> Name {
    let mut name =
        Name::from_labels(text.trim_end_matches('.').split('.').map(str::as_bytes)).unwrap();
    name.set_fqdn(true);
    name
}

fn instance(n: u8) -> String {
    format!("{}._wireguard._udp.{ZONE}", key(n.into()).to_dns_label())
}

fn candidates(n: u8) -> String {
    format!("_candidates.{}", instance(n))
}

struct Registry {
    live: Arc<Live>,
    responder: Responder,
}

impl Registry {
    fn new(limiter: Option<Arc<RateLimiter>>) -> Self {
        let config = Arc::new(SnapshotConfig {
            zone: zone_names(),
            self_record: None,
            allow: vec!["192.0.2.0/24".parse().unwrap()],
            nameserver_ips: Vec::new(),
        });
        let live = Arc::new(Live::new(
            Snapshot::first(config, &device(), 1),
            Duration::from_secs(60),
        ));
        live.read_ok(None);
        let responder = Responder::new(Arc::clone(&live), "10.0.0.200".parse().unwrap(), limiter);
        Self { live, responder }
    }

    fn send(&self, packet: &[u8], from: &str, transport: Transport) -> Option<Message> {
        let mut out = Vec::new();
        let source: SocketAddr = from.parse().unwrap();
        self.responder
            .respond(packet, source, transport, &mut out)
            .then(|| Message::from_vec(&out).expect("the response parses"))
    }

    /// The response code an update from `from` gets over UDP.
    fn update(&self, message: &Message, from: &str) -> ResponseCode {
        let response = self
            .send(&message.to_bytes().unwrap(), from, Transport::Udp)
            .expect("an update gets a response");
        assert_eq!(response.metadata.op_code, OpCode::Update);
        assert_eq!(response.metadata.id, message.metadata.id);
        response.metadata.response_code
    }

    fn ask(&self, qname: &str, qtype: RecordType) -> Message {
        let mut query = Message::new(7, MessageType::Query, OpCode::Query);
        query.add_query(Query::query(name(qname), qtype));
        self.send(&query.to_bytes().unwrap(), PEER_1, Transport::Udp)
            .expect("a query gets a response")
    }

    fn serial(&self) -> u32 {
        self.live.snapshot().serial()
    }

    /// Everything a querier could see of the candidates and the peers' own records.
    fn seen(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for n in [1, 2] {
            for (qname, qtype) in [
                (candidates(n), RecordType::SRV),
                (candidates(n), RecordType::A),
                (candidates(n), RecordType::AAAA),
                (instance(n), RecordType::SRV),
                (instance(n), RecordType::TXT),
            ] {
                let answer = self.ask(&qname, qtype);
                seen.push(format!(
                    "{qname} {qtype}: {} {:?} {:?}",
                    answer.metadata.response_code, answer.answers, answer.additionals
                ));
            }
        }
        seen
    }
}

fn update(zone: &str, records: Vec<Record>) -> Message {
    let mut message = Message::new(42, MessageType::Query, OpCode::Update);
    message.add_query(Query::query(name(zone), RecordType::SOA));
    message.authorities = records;
    message
}

fn add(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 60, data)
}

fn delete_name(owner: &str) -> Record {
    let mut record = Record::update0(name(owner), 0, RecordType::ANY);
    record.dns_class = DNSClass::ANY;
    record
}

fn srv(owner: &str, port: u16) -> Record {
    add(owner, RData::SRV(SRV::new(0, 0, port, name(owner))))
}

fn host(owner: &str, ip: &str) -> Record {
    match ip.parse().unwrap() {
        IpAddr::V4(v4) => add(owner, RData::A(A(v4))),
        IpAddr::V6(v6) => add(owner, RData::AAAA(AAAA(v6))),
    }
}

/// What the service sends: replace the whole set.
fn register(n: u8, port: u16, ips: &[&str]) -> Message {
    let own = candidates(n);
    let mut records = vec![delete_name(&own), srv(&own, port)];
    records.extend(ips.iter().map(|ip| host(&own, ip)));
    update(ZONE, records)
}

fn lines(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.to_string().replace("\\=", "=").to_ascii_lowercase())
        .collect()
}

#[test]
fn a_peer_registers_its_candidates_and_a_querier_sees_them() {
    let registry = Registry::new(None);
    let serial = registry.serial();
    let instance_srv = registry.ask(&instance(1), RecordType::SRV);
    let listing = registry.ask(&format!("_wireguard._udp.{ZONE}"), RecordType::PTR);
    assert_eq!(
        registry
            .ask(&candidates(1), RecordType::SRV)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );

    let registration = register(1, 51820, &["192.168.1.20", "2001:db8::20"]);
    assert_eq!(
        registry.update(&registration, PEER_1),
        ResponseCode::NoError
    );
    assert!(
        registry.serial() > serial,
        "clients polling the serial see a change"
    );

    let own = candidates(1);
    let answer = registry.ask(&own, RecordType::SRV);
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(
        lines(&answer.answers),
        [format!("{own} 0 in srv 0 0 51820 {own}")]
    );
    assert_eq!(
        lines(&answer.additionals),
        [
            format!("{own} 0 in a 192.168.1.20"),
            format!("{own} 0 in aaaa 2001:db8::20")
        ]
    );
    let aaaa = registry.ask(&own.to_ascii_uppercase(), RecordType::AAAA);
    assert_eq!(aaaa.answers.len(), 1);
    let txt = registry.ask(&own, RecordType::TXT);
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
    assert_eq!((txt.answers.len(), txt.authorities.len()), (0, 1), "NODATA");

    // What wgsd clients ask reads as before, byte for byte but for the ID.
    assert_eq!(registry.ask(&instance(1), RecordType::SRV), instance_srv);
    assert_eq!(
        registry.ask(&format!("_wireguard._udp.{ZONE}"), RecordType::PTR),
        listing
    );

    // The same registration again renews the lease and changes nothing served.
    let serial = registry.serial();
    assert_eq!(
        registry.update(&registration, PEER_1),
        ResponseCode::NoError
    );
    assert_eq!(registry.serial(), serial);

    // A new set replaces the old one whole.
    let moved = register(1, 51820, &["10.20.0.7"]);
    assert_eq!(registry.update(&moved, PEER_1), ResponseCode::NoError);
    assert!(registry.serial() > serial);
    let answer = registry.ask(&own, RecordType::SRV);
    assert_eq!(
        lines(&answer.additionals),
        [format!("{own} 0 in a 10.20.0.7")]
    );

    // Deleting the name withdraws them.
    let withdraw = update(ZONE, vec![delete_name(&own)]);
    assert_eq!(registry.update(&withdraw, PEER_1), ResponseCode::NoError);
    assert_eq!(
        registry.ask(&own, RecordType::SRV).metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[test]
fn hostile_updates_get_their_code_and_change_nothing() {
    let registry = Registry::new(None);
    let own = candidates(1);
    let full =
        |ips: usize| -> Vec<String> { (0..ips).map(|i| format!("192.168.1.{}", i + 1)).collect() };
    let nine = full(9);
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let mut prerequisite = register(1, 51820, &["192.168.1.20"]);
    prerequisite
        .answers
        .push(Record::update0(name(&own), 0, RecordType::SRV));
    // Class ANY, type ANY at the apex: every RRset of the zone's top.
    let zone_wide = delete_name(ZONE);
    let mut apex_soa = delete_name(ZONE);
    apex_soa.data = RData::Update0(RecordType::SOA);
    let mut delete_with_ttl = delete_name(&own);
    delete_with_ttl.ttl = 60;
    let mut twenty_one = vec![delete_name(&own), srv(&own, 51820)];
    twenty_one.extend((0..19).map(|_| host(&own, "192.168.1.20")));
    let long_text = RData::TXT(TXT::new(vec!["x".repeat(255); 5]));

    let cases: Vec<(&str, Message, &str, ResponseCode)> = vec![
        (
            "not a peer's address",
            register(1, 51820, &["192.168.1.20"]),
            ALLOWED_STRANGER,
            ResponseCode::Refused,
        ),
        (
            "another peer's name",
            register(2, 51820, &["192.168.1.20"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "its instance name",
            update(
                ZONE,
                vec![add(&instance(1), RData::TXT(TXT::new(vec!["a".into()])))],
            ),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "a name outside the zone",
            update(ZONE, vec![host("peer.example.org.", "192.168.1.20")]),
            PEER_1,
            ResponseCode::NotZone,
        ),
        (
            "a zone not served",
            update(
                "example.org.",
                vec![host("peer.example.org.", "192.168.1.20")],
            ),
            PEER_1,
            ResponseCode::NotAuth,
        ),
        (
            "the instance's zone",
            update(
                &format!("_wireguard._udp.{ZONE}"),
                vec![host(&own, "192.168.1.20")],
            ),
            PEER_1,
            ResponseCode::NotAuth,
        ),
        (
            "too many addresses",
            register(1, 51820, &nine),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "too many changes",
            update(ZONE, twenty_one),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "an oversized message",
            update(ZONE, vec![add(&own, long_text)]),
            PEER_1,
            ResponseCode::Refused,
        ),
        ("prerequisites", prerequisite, PEER_1, ResponseCode::Refused),
        (
            "a zone-wide delete",
            update(ZONE, vec![zone_wide]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "deleting the apex's SOA",
            update(ZONE, vec![apex_soa]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "a delete with a TTL",
            update(ZONE, vec![delete_with_ttl]),
            PEER_1,
            ResponseCode::FormErr,
        ),
        (
            "loopback",
            register(1, 51820, &["127.0.0.1"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "multicast",
            register(1, 51820, &["ff02::1"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "its own tunnel address",
            register(1, 51820, &["10.0.0.1"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "one bad address among good ones",
            register(1, 51820, &["192.168.1.20", "224.0.0.251", "2001:db8::20"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "port 0",
            register(1, 0, &["192.168.1.20"]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "addresses without a port",
            update(ZONE, vec![host(&own, "192.168.1.20")]),
            PEER_1,
            ResponseCode::Refused,
        ),
        (
            "a TXT at its candidates name",
            update(
                ZONE,
                vec![add(&own, RData::TXT(TXT::new(vec!["a".into()])))],
            ),
            PEER_1,
            ResponseCode::Refused,
        ),
    ];
    let before = registry.seen();
    let serial = registry.serial();
    for (what, message, from, rcode) in cases {
        assert_eq!(registry.update(&message, from), rcode, "{what}");
        assert_eq!(registry.serial(), serial, "{what}");
        assert_eq!(registry.seen(), before, "{what}");
    }

    // Bytes that are no UPDATE at all.
    let mut cut = register(1, 51820, &["192.168.1.20"]).to_bytes().unwrap();
    cut.truncate(cut.len() - 3);
    let response = registry.send(&cut, PEER_1, Transport::Udp).unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(response.metadata.id, 42);

    // A source outside every AllowedIPs and --allow gets nothing at all, as for a query.
    let stranger = register(1, 51820, &["192.168.1.20"]).to_bytes().unwrap();
    assert!(registry
        .send(&stranger, "203.0.113.9:5353", Transport::Udp)
        .is_none());
    assert_eq!(registry.serial(), serial);
    assert_eq!(registry.seen(), before);
}

#[test]
fn an_update_over_tcp_is_applied_as_over_udp() {
    let registry = Registry::new(None);
    let packet = register(1, 51820, &["192.168.1.20"]).to_bytes().unwrap();
    let response = registry.send(&packet, PEER_1, Transport::Tcp).unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let answer = registry.ask(&candidates(1), RecordType::A);
    assert_eq!(
        lines(&answer.answers),
        [format!("{} 0 in a 192.168.1.20", candidates(1))]
    );
}

#[test]
fn updates_share_the_response_rate_of_their_source() {
    let rate = ResponseRate {
        per_second: 1,
        burst: 2,
    };
    let registry = Registry::new(Some(Arc::new(RateLimiter::new(rate))));
    let packet = register(1, 51820, &["192.168.1.20"]).to_bytes().unwrap();
    let sent: Vec<Option<Message>> = (0..4)
        .map(|_| registry.send(&packet, PEER_1, Transport::Udp))
        .collect();
    assert!(sent[..2].iter().all(|r| r
        .as_ref()
        .is_some_and(|m| m.metadata.response_code == ResponseCode::NoError)));
    assert!(
        sent[2..].iter().all(Option::is_none),
        "over the rate: dropped"
    );
    assert_eq!(registry.live.counters.read(0, 0, true).rate_limited, 2);
}

#[test]
fn a_lease_ends_unless_renewed_and_a_removed_peer_loses_its_candidates() {
    let lease = Duration::from_secs(180);
    let mut store = CandidateStore::new(zone_names(), lease);
    let start = Instant::now();
    let set = [
        Edit::ClearAll,
        Edit::AddPort(51820),
        Edit::AddAddress("192.168.1.20".parse().unwrap()),
    ];
    let present = [key(1), key(2)];
    assert!(store.apply(key(1), &set, start).unwrap());
    assert!(store.apply(key(2), &set, start).unwrap());
    // Renewed halfway: peer 1 lives on, peer 2's lease ends.
    assert!(!store.apply(key(1), &set, start + lease / 2).unwrap());
    assert!(!store.prune(start + lease - Duration::from_millis(1), &present));
    assert!(store.prune(start + lease, &present));
    assert_eq!(store.served().len(), 1);
    // Peer 1 is removed from the device.
    assert!(store.prune(start + lease, &present[1..]));
    assert!(store.served().is_empty());
}

#[test]
fn a_set_is_checked_whole_after_every_change_is_applied() {
    let mut store = CandidateStore::new(zone_names(), Duration::from_secs(180));
    let now = Instant::now();
    let ip = |s: &str| Edit::AddAddress(s.parse().unwrap());
    let two_ports = [Edit::AddPort(1), Edit::AddPort(2), ip("192.168.1.20")];
    assert!(matches!(
        store.apply(key(1), &two_ports, now),
        Err(UpdateError::Incomplete)
    ));
    let port_alone = [Edit::AddPort(1)];
    assert!(matches!(
        store.apply(key(1), &port_alone, now),
        Err(UpdateError::Incomplete)
    ));
    assert!(store.served().is_empty());
    // Nine added, one removed again: eight is allowed.
    let mut edits: Vec<Edit> = (1..=9).map(|i| ip(&format!("192.168.1.{i}"))).collect();
    edits.push(Edit::AddPort(51820));
    edits.push(Edit::RemoveAddress("192.168.1.9".parse().unwrap()));
    assert!(store.apply(key(1), &edits, now).unwrap());
    // Clearing one family keeps the other.
    let v6 = [ip("2001:db8::1"), Edit::Clear(RecordType::A)];
    assert!(matches!(store.apply(key(1), &v6, now), Ok(true)));
}

/// The client side can build its registration with hickory's own UPDATE builders: delete
/// the name, then add the set, in one message.
#[test]
fn hickory_s_update_builders_make_a_registration_the_registry_takes() {
    use hickory_proto::op::update_message::{self, UpdateMessage};
    let registry = Registry::new(None);
    let own = candidates(1);
    let mut registration = update_message::delete_all(name(&own), name(ZONE), DNSClass::IN, true);
    registration.add_updates([srv(&own, 51820), host(&own, "2001:db8::20")]);
    assert_eq!(
        registry.update(&registration, PEER_1),
        ResponseCode::NoError
    );
    let answer = registry.ask(&own, RecordType::AAAA);
    assert_eq!(
        lines(&answer.answers),
        [format!("{own} 0 in aaaa 2001:db8::20")]
    );

    let withdrawal = update_message::delete_all(name(&own), name(ZONE), DNSClass::IN, true);
    assert_eq!(registry.update(&withdrawal, PEER_1), ResponseCode::NoError);
    let answer = registry.ask(&own, RecordType::AAAA);
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
}

//! Responses as bytes on the wire, read back with hickory's message parser: the prepared
//! path and the general path must say the same thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use punchwire_testkit::wg::key;
use punchwire_wg::{Device, Peer};

use super::{Responder, Transport};
use crate::live::Live;
use crate::rate::{RateLimiter, ResponseRate};
use crate::snapshot::{SelfRecord, Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;
use punchwire_control::zone::Zone;

const ZONE: &str = "example.com.";

fn peer(n: u8, endpoint: &str) -> Peer {
    punchwire_testkit::wg::peer(key(n.into()), Some(endpoint), &[&format!("10.0.0.{n}/32")])
}

fn device(peers: Vec<Peer>) -> Device {
    Device {
        name: "wg0".into(),
        public_key: Some(key(200)),
        listen_port: Some(51820),
        fwmark: None,
        peers,
    }
}

fn live(device: &Device, stale_after: Duration) -> Arc<Live> {
    let config = Arc::new(SnapshotConfig {
        zone: Arc::new(ZoneNames::new(&Zone::parse(ZONE).unwrap())),
        self_record: Some(SelfRecord::default()),
        allow: Vec::new(),
        nameserver_ips: vec!["10.0.0.200".parse().unwrap()],
    });
    let live = Arc::new(Live::new(Snapshot::first(config, device, 1), stale_after));
    live.read_ok(None);
    live
}

fn instance(n: u8) -> String {
    format!("{}._wireguard._udp.{ZONE}", key(n.into()).to_dns_label())
}

/// A peer asking: 10.0.0.1 is inside peer 1's AllowedIPs.
const PEER: &str = "10.0.0.1:5353";

struct Asker {
    responder: Responder,
    live: Arc<Live>,
    /// One buffer for every response, as the socket loop has.
    out: std::cell::RefCell<Vec<u8>>,
}

impl Asker {
    fn new(device: &Device) -> Self {
        let live = live(device, Duration::from_secs(60));
        Self {
            responder: Responder::new(Arc::clone(&live), "10.0.0.200".parse().unwrap(), None),
            live,
            out: Default::default(),
        }
    }

    fn raw(&self, packet: &[u8], from: &str) -> Option<Vec<u8>> {
        let mut out = self.out.borrow_mut();
        let source: SocketAddr = from.parse().unwrap();
        self.responder
            .respond(packet, source, Transport::Udp, &mut out)
            .then(|| out.clone())
    }

    fn ask_from(&self, query: &Message, from: &str) -> (Vec<u8>, Message) {
        let bytes = self
            .raw(&query.to_bytes().unwrap(), from)
            .expect("a response");
        let message = Message::from_vec(&bytes)
            .unwrap_or_else(|e| panic!("the response does not parse: {e}: {bytes:?}"));
        (bytes, message)
    }

    fn ask(&self, query: &Message) -> Message {
        self.ask_from(query, PEER).1
    }
}

/// A name from text; labels may end in '=' (hickory's parser refuses those).
fn name(text: &str) -> Name {
    let mut name =
        Name::from_labels(text.trim_end_matches('.').split('.').map(str::as_bytes)).unwrap();
    name.set_fqdn(true);
    name
}

fn query(text: &str, qtype: RecordType, id: u16, edns: Option<u16>) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name(text), qtype));
    if let Some(payload) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(payload);
        message.edns = Some(opt);
    }
    message
}

fn lines(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
        .map(|r| {
            let line = match &r.data {
                RData::TXT(txt) => {
                    let strings: Vec<String> = txt
                        .txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect();
                    format!("{} {} IN TXT {}", r.name, r.ttl, strings.join(" "))
                }
                _ => r.to_string(),
            };
            line.replace("\\=", "=").to_ascii_lowercase()
        })
        .collect()
}

#[test]
fn srv_answers_are_the_same_prepared_or_not_and_keep_the_query_s_own_details() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    let name = instance(1);

    // The first question prepares the response, the second is served from it.
    let first = asker.ask(&query(&name, RecordType::SRV, 1, None));
    let second = asker.ask(&query(&name, RecordType::SRV, 2, None));
    assert_eq!(first.metadata.id, 1);
    assert_eq!(second.metadata.id, 2);
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert!(first.metadata.authoritative && first.metadata.recursion_desired);
    assert!(!first.metadata.truncation);
    assert_eq!(lines(&first), lines(&second));
    assert_eq!(
        lines(&first),
        [
            format!("{name} 0 in srv 0 0 4000 {name}"),
            format!("{name} 0 in a 198.51.100.1"),
            format!(
                "{name} 0 in txt txtvers=1 pub={} allowed=10.0.0.1/32",
                key(1).to_base64().to_ascii_lowercase()
            ),
        ]
    );

    // Mixed case and EDNS: the question comes back as sent, with an OPT record.
    let shouting = name.to_ascii_uppercase();
    let mut asked = query(&shouting, RecordType::SRV, 3, Some(4096));
    asked.metadata.checking_disabled = true;
    asked.metadata.recursion_desired = false;
    let (bytes, third) = asker.ask_from(&asked, PEER);
    assert_eq!(
        third.queries[0].name().to_string().replace("\\=", "="),
        shouting
    );
    assert!(third.metadata.checking_disabled && !third.metadata.recursion_desired);
    assert_eq!(lines(&third), lines(&first));
    let opt = third.edns.expect("an OPT record answers an EDNS query");
    assert_eq!(opt.max_payload(), crate::MAX_UDP_PAYLOAD);
    assert_eq!(bytes.len(), asker.ask_from(&asked, PEER).0.len());
    assert_eq!(asker.live.counters.read(0, 0, true).answered, 3 + 1);
}

/// What the general path (`answer`, `fit`, hickory's encoder) sends for `packet`.
fn general_response(asker: &Asker, packet: &[u8], limit: usize) -> Vec<u8> {
    let Some(crate::wire::Incoming::Query(query)) = crate::wire::read(packet) else {
        panic!("not a query");
    };
    let (snapshot, _) = asker.live.current();
    let name = query.lower_name().unwrap();
    let decided = crate::answer::answer(
        &snapshot,
        &name,
        RecordType::from(query.qtype),
        hickory_proto::rr::DNSClass::from(query.qclass),
        "10.0.0.200".parse().unwrap(),
    );
    let mut out = Vec::new();
    crate::encode::encode(&mut out, &query, &decided, limit);
    out
}

#[test]
fn a_miss_reads_as_the_general_path_writes_it() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    let unknown_peer = instance(1).replacen(&key(1).to_dns_label(), &key(9).to_dns_label(), 1);
    let misses = [
        (unknown_peer.as_str(), RecordType::SRV),
        ("nope.example.com.", RecordType::A),
        ("NoPe.ExAmple.COM.", RecordType::AAAA),
        ("x.ns1.example.com.", RecordType::TXT),
        ("short._wireguard._udp.example.com.", RecordType::ANY),
        ("a.b.c.d.e._udp.EXAMPLE.com.", RecordType::PTR),
    ];
    for (id, (qname, qtype)) in misses.into_iter().enumerate() {
        for edns in [None, Some(1232)] {
            let asked = query(qname, qtype, id as u16, edns);
            let packet = asked.to_bytes().unwrap();
            let (bytes, fast) = asker.ask_from(&asked, PEER);
            let general_bytes = general_response(&asker, &packet, 512);
            let general = Message::from_vec(&general_bytes).unwrap();
            assert_eq!(fast.metadata, general.metadata, "{qname} {qtype}");
            assert_eq!(fast.metadata.response_code, ResponseCode::NXDomain);
            assert!(fast.metadata.authoritative);
            assert_eq!(fast.queries, general.queries, "{qname} {qtype}");
            assert_eq!(lines(&fast), lines(&general), "{qname} {qtype}");
            assert_eq!(fast.authorities.len(), 1, "the SOA, for negative caching");
            assert_eq!(fast.edns.is_some(), edns.is_some());
            // The SOA's names are whole pointers into the question, where the general
            // path spells out "ns1" and "postmaster" before its pointers: shorter, which
            // also shows the prepared path answered.
            assert!(
                bytes.len() < general_bytes.len(),
                "{qname}: {} bytes, the general path {}",
                bytes.len(),
                general_bytes.len()
            );
        }
    }
    let counted = asker.live.counters.read(0, 0, true);
    assert_eq!(counted.nxdomain, 12);
}

#[test]
fn prepared_answers_follow_the_peer_when_it_moves() {
    let mut dev = device(vec![peer(1, "198.51.100.1:4000")]);
    let asker = Asker::new(&dev);
    let srv = |a: &Asker| lines(&a.ask(&query(&instance(1), RecordType::SRV, 9, None)))[0].clone();
    assert!(srv(&asker).contains(" 4000 "));
    dev.peers[0].endpoint = Some("[2001:db8::1]:4001".parse().unwrap());
    let next = asker.live.snapshot().next(&dev, 0).unwrap();
    asker.live.read_ok(Some(next));
    assert!(srv(&asker).contains(" 4001 "));
    let aaaa = asker.ask(&query(&instance(1), RecordType::AAAA, 9, None));
    assert_eq!(
        lines(&aaaa),
        [format!("{} 0 in aaaa 2001:db8::1", instance(1))]
    );
    let a = asker.ask(&query(&instance(1), RecordType::A, 9, None));
    assert_eq!(a.answers.len(), 0, "NODATA");
    assert_eq!(a.authorities.len(), 1, "with the SOA");
}

#[test]
fn the_registry_s_own_record_takes_the_arrival_address() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    for _ in 0..2 {
        let srv = asker.ask(&query(&instance(200), RecordType::SRV, 1, None));
        assert!(lines(&srv).contains(&format!("{} 0 in a 10.0.0.200", instance(200))));
    }
}

#[test]
fn strangers_get_nothing_and_are_counted() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    let packet = query(&instance(1), RecordType::SRV, 5, None)
        .to_bytes()
        .unwrap();
    assert!(asker.raw(&packet, "192.0.2.9:5353").is_none());
    let mut notify = query(ZONE, RecordType::SOA, 7, None);
    notify.metadata.op_code = OpCode::Notify;
    assert!(asker
        .raw(&notify.to_bytes().unwrap(), "192.0.2.9:5353")
        .is_none());
    let stats = asker.live.counters.read(0, 0, true);
    assert_eq!((stats.strangers_dropped, stats.refused), (2, 0));
}

#[test]
fn a_source_over_its_rate_gets_nothing_or_a_bare_truncated_response() {
    let dev = device(vec![peer(1, "198.51.100.1:4000")]);
    let live = live(&dev, Duration::from_secs(60));
    let rate = ResponseRate {
        per_second: 1,
        burst: 2,
    };
    let limiter = Some(Arc::new(RateLimiter::new(rate)));
    let responder = Responder::new(Arc::clone(&live), "10.0.0.200".parse().unwrap(), limiter);
    let packet = query(&instance(1), RecordType::SRV, 5, None)
        .to_bytes()
        .unwrap();
    let mut out = Vec::new();
    let udp = |out: &mut Vec<u8>| {
        responder
            .respond(&packet, PEER.parse().unwrap(), Transport::Udp, out)
            .then(|| Message::from_vec(out).unwrap())
    };
    // The burst: whole answers.
    for _ in 0..2 {
        assert_eq!(udp(&mut out).unwrap().answers.len(), 1);
    }
    // Over it: nothing, then TC=1 with the question and no records, then nothing.
    assert!(udp(&mut out).is_none());
    let slip = udp(&mut out).expect("every second one over the rate slips");
    assert!(slip.metadata.truncation);
    assert_eq!(slip.queries.len(), 1);
    assert!(slip.answers.is_empty() && slip.additionals.is_empty());
    assert!(out.len() <= packet.len());
    assert!(udp(&mut out).is_none());
    assert_eq!(live.counters.read(0, 0, true).rate_limited, 3);
    // TCP proves its source: not limited.
    assert!(responder.respond(&packet, PEER.parse().unwrap(), Transport::Tcp, &mut out));
    assert_eq!(Message::from_vec(&out).unwrap().answers.len(), 1);
}

#[test]
fn a_stale_snapshot_gets_servfail() {
    let dev = device(vec![peer(1, "198.51.100.1:4000")]);
    let live = live(&dev, Duration::from_millis(1));
    let responder = Responder::new(Arc::clone(&live), "10.0.0.200".parse().unwrap(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while live.is_fresh() {
        assert!(std::time::Instant::now() < deadline, "never went stale");
        std::thread::yield_now();
    }
    let mut out = Vec::new();
    let packet = query(&instance(1), RecordType::SRV, 5, None)
        .to_bytes()
        .unwrap();
    assert!(responder.respond(&packet, PEER.parse().unwrap(), Transport::Udp, &mut out));
    let message = Message::from_vec(&out).unwrap();
    assert_eq!(message.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn a_listing_that_does_not_fit_is_cut_with_tc_and_edns_lets_more_in() {
    let peers = (1..=30)
        .map(|n| peer(n, &format!("198.51.100.{n}:4000")))
        .collect();
    let asker = Asker::new(&device(peers));
    let service = format!("_wireguard._udp.{ZONE}");
    let plain = asker.ask(&query(&service, RecordType::PTR, 1, None));
    let (bytes, edns) = asker.ask_from(&query(&service, RecordType::PTR, 1, Some(1232)), PEER);
    assert!(plain.answers.len() + plain.additionals.len() < 31 * 4);
    assert!(edns.answers.len() > plain.answers.len());
    assert!(bytes.len() <= 1232);
    assert!(plain.metadata.truncation || plain.answers.len() == 31);
}

#[test]
fn what_is_not_a_plain_query_gets_a_bare_error_or_nothing() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    let mut notify = query(ZONE, RecordType::SOA, 7, None);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        asker.ask(&notify).metadata.response_code,
        ResponseCode::NotImp
    );

    let mut two = query(ZONE, RecordType::SOA, 7, None);
    two.add_query(Query::query(name(ZONE), RecordType::NS));
    assert_eq!(
        asker.ask(&two).metadata.response_code,
        ResponseCode::FormErr
    );

    let mut future = query(ZONE, RecordType::SOA, 7, Some(1232));
    future.edns.as_mut().unwrap().set_version(1);
    let badvers = asker.ask(&future);
    // BADVERS shares its number (16) with BADSIG, which hickory reads it as.
    assert_eq!(u16::from(badvers.metadata.response_code), 16);
    assert_eq!(badvers.edns.map(|e| e.version()), Some(0));

    let mut reply = query(ZONE, RecordType::SOA, 7, None);
    reply.metadata.message_type = MessageType::Response;
    assert!(asker.raw(&reply.to_bytes().unwrap(), PEER).is_none());
    assert!(asker.raw(&[1, 2, 3], PEER).is_none());
}

#[test]
fn rdata_of_a_prepared_txt_is_whole() {
    let asker = Asker::new(&device(vec![peer(1, "198.51.100.1:4000")]));
    for _ in 0..2 {
        let txt = asker.ask(&query(&instance(1), RecordType::TXT, 1, Some(1232)));
        let RData::TXT(data) = &txt.answers[0].data else {
            panic!("not TXT")
        };
        assert_eq!(data.txt_data.len(), 3);
    }
}

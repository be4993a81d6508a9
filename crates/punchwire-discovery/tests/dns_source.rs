//! `DnsSource` against a scripted DNS server on loopback: every way a registry can
//! answer, and what the lookup makes of it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use punchwire_control::zone::Zone;
use punchwire_discovery::lookup::{text, AnswerSource, DnsSource, Lookup, PublishedEndpoint};
use punchwire_wg::PublicKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const TIMEOUT: Duration = Duration::from_millis(500);

fn key() -> PublicKey {
    "xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="
        .parse()
        .unwrap()
}

fn zone() -> Name {
    Name::from_ascii("example.test.").unwrap()
}

fn checked_zone() -> Zone {
    "example.test".parse().expect("the test zone is a zone")
}

fn instance() -> Name {
    DnsSource::new(&checked_zone(), TIMEOUT).instance_name(&key())
}

fn old_target() -> Name {
    let label = key().to_dns_label().to_ascii_uppercase();
    Name::from_labels([label.as_bytes()])
        .unwrap()
        .append_domain(&zone())
        .unwrap()
}

type Script = dyn Fn(&Message, Transport) -> Reply + Send + Sync;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Udp,
    Tcp,
}

enum Reply {
    Answer(Message),
    /// Several datagrams in a row (UDP only).
    Datagrams(Vec<Message>),
    Silence,
}

/// A DNS server on loopback (UDP and TCP on one port) that answers by script and
/// records every question it gets.
struct Server {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<(Name, RecordType, Transport)>>>,
}

impl Server {
    async fn start(script: impl Fn(&Message, Transport) -> Reply + Send + Sync + 'static) -> Self {
        let script: Arc<Script> = Arc::new(script);
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (script.clone(), asked.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (len, from) = udp.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..len]).unwrap();
                record(&a, &query, Transport::Udp);
                let datagrams = match s(&query, Transport::Udp) {
                    Reply::Answer(m) => vec![m],
                    Reply::Datagrams(ms) => ms,
                    Reply::Silence => vec![],
                };
                for m in datagrams {
                    udp.send_to(&m.to_vec().unwrap(), from).await.unwrap();
                }
            }
        });
        let (s, a) = (script, asked.clone());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = tcp.accept().await.unwrap();
                let len = conn.read_u16().await.unwrap();
                let mut buf = vec![0u8; usize::from(len)];
                conn.read_exact(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf).unwrap();
                record(&a, &query, Transport::Tcp);
                if let Reply::Answer(m) = s(&query, Transport::Tcp) {
                    let bytes = m.to_vec().unwrap();
                    conn.write_u16(bytes.len() as u16).await.unwrap();
                    conn.write_all(&bytes).await.unwrap();
                }
            }
        });
        Self { addr, asked }
    }

    fn asked(&self) -> Vec<(Name, RecordType, Transport)> {
        self.asked.lock().unwrap().clone()
    }
}

fn record(asked: &Mutex<Vec<(Name, RecordType, Transport)>>, query: &Message, t: Transport) {
    let q = &query.queries[0];
    asked
        .lock()
        .unwrap()
        .push((q.name().clone(), q.query_type(), t));
}

fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut m = Message::response(query.metadata.id, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.response_code = code;
    m.queries = query.queries.clone();
    m
}

fn asks(query: &Message) -> (Name, RecordType) {
    let q = &query.queries[0];
    (q.name().clone(), q.query_type())
}

fn srv(port: u16, target: Name) -> Record {
    Record::from_rdata(instance(), 60, RData::SRV(SRV::new(0, 0, port, target)))
}

fn a(name: Name, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name, 60, RData::A(A(ip)))
}

fn found(addr: &str) -> Lookup {
    Lookup::Found(PublishedEndpoint {
        key: key(),
        addr: addr.parse().unwrap(),
    })
}

async fn lookup(server: &Server) -> Lookup {
    DnsSource::new(&checked_zone(), TIMEOUT)
        .lookup(server.addr, key())
        .await
}

#[tokio::test]
async fn new_layout_with_the_address_in_the_additional_section() {
    let server = Server::start(|q, _| {
        let mut m = reply(q, ResponseCode::NoError);
        m.add_answer(srv(51820, instance()));
        m.add_additional(a(instance(), Ipv4Addr::new(198, 51, 100, 10)));
        Reply::Answer(m)
    })
    .await;
    assert_eq!(lookup(&server).await, found("198.51.100.10:51820"));
    // One question, and its name carries the padded label as is.
    let asked = server.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        text(&asked[0].0),
        format!("{}._wireguard._udp.example.test.", key().to_dns_label())
    );
}

#[tokio::test]
async fn old_layout_with_the_address_asked_for_separately() {
    let server = Server::start(|q, _| {
        let (name, rtype) = asks(q);
        let mut m = reply(q, ResponseCode::NoError);
        match rtype {
            RecordType::SRV => {
                m.add_answer(srv(40000, old_target()));
            }
            RecordType::A if name == old_target() => {
                m.add_answer(a(old_target(), Ipv4Addr::new(203, 0, 113, 5)));
            }
            _ => {}
        }
        Reply::Answer(m)
    })
    .await;
    assert_eq!(lookup(&server).await, found("203.0.113.5:40000"));
    let types: Vec<_> = server.asked().iter().map(|(_, t, _)| *t).collect();
    assert_eq!(types, [RecordType::SRV, RecordType::A]);
}

#[tokio::test]
async fn an_ipv6_only_target_is_found_through_aaaa() {
    let server = Server::start(|q, _| {
        let (_, rtype) = asks(q);
        let mut m = reply(q, ResponseCode::NoError);
        match rtype {
            RecordType::SRV => {
                m.add_answer(srv(40000, old_target()));
            }
            RecordType::AAAA => {
                let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5);
                m.add_answer(Record::from_rdata(old_target(), 60, RData::AAAA(AAAA(ip))));
            }
            _ => {}
        }
        Reply::Answer(m)
    })
    .await;
    assert_eq!(lookup(&server).await, found("[2001:db8::5]:40000"));
}

#[tokio::test]
async fn no_record_in_its_three_spellings() {
    let nxdomain = Server::start(|q, _| Reply::Answer(reply(q, ResponseCode::NXDomain))).await;
    assert_eq!(lookup(&nxdomain).await, Lookup::NoRecord);
    let nodata = Server::start(|q, _| Reply::Answer(reply(q, ResponseCode::NoError))).await;
    assert_eq!(lookup(&nodata).await, Lookup::NoRecord);
    let dot = Server::start(|q, _| {
        let mut m = reply(q, ResponseCode::NoError);
        m.add_answer(srv(40000, Name::root()));
        Reply::Answer(m)
    })
    .await;
    assert_eq!(lookup(&dot).await, Lookup::NoRecord);
}

#[tokio::test]
async fn a_target_without_an_address_is_rejected() {
    let server = Server::start(|q, _| {
        let mut m = reply(q, ResponseCode::NoError);
        if asks(q).1 == RecordType::SRV {
            m.add_answer(srv(40000, old_target()));
        }
        Reply::Answer(m)
    })
    .await;
    let Lookup::Rejected(why) = lookup(&server).await else {
        panic!("expected a rejection");
    };
    assert!(why.contains("has no A or AAAA record"), "{why}");
    assert!(
        why.contains(&key().to_dns_label().to_ascii_uppercase()),
        "{why}"
    );
}

#[tokio::test]
async fn a_refusing_server_counts_as_unreachable() {
    let server = Server::start(|q, _| Reply::Answer(reply(q, ResponseCode::Refused))).await;
    let Lookup::Unreachable(why) = lookup(&server).await else {
        panic!("expected unreachable");
    };
    assert!(why.contains(&server.addr.to_string()), "{why}");
}

#[tokio::test]
async fn a_silent_server_times_out_on_time() {
    let server = Server::start(|_, _| Reply::Silence).await;
    let start = Instant::now();
    let Lookup::Unreachable(why) = lookup(&server).await else {
        panic!("expected unreachable");
    };
    assert!(start.elapsed() < TIMEOUT * 3, "took {:?}", start.elapsed());
    assert!(
        why.contains("did not answer") && why.contains("SRV"),
        "{why}"
    );
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = Server::start(|q, transport| {
        let mut m = reply(q, ResponseCode::NoError);
        if transport == Transport::Udp {
            m.metadata.truncation = true;
        } else {
            m.add_answer(srv(51820, instance()));
            m.add_additional(a(instance(), Ipv4Addr::new(198, 51, 100, 20)));
        }
        Reply::Answer(m)
    })
    .await;
    assert_eq!(lookup(&server).await, found("198.51.100.20:51820"));
    let transports: Vec<_> = server.asked().iter().map(|(_, _, t)| *t).collect();
    assert_eq!(transports, [Transport::Udp, Transport::Tcp]);
}

#[tokio::test]
async fn an_answer_with_another_id_is_ignored() {
    let server = Server::start(|q, _| {
        let mut spoof = reply(q, ResponseCode::NoError);
        spoof.metadata.id = q.metadata.id.wrapping_add(1);
        spoof.add_answer(srv(51820, instance()));
        spoof.add_additional(a(instance(), Ipv4Addr::new(192, 0, 2, 66)));
        let mut real = reply(q, ResponseCode::NoError);
        real.add_answer(srv(51820, instance()));
        real.add_additional(a(instance(), Ipv4Addr::new(198, 51, 100, 30)));
        Reply::Datagrams(vec![spoof, real])
    })
    .await;
    assert_eq!(lookup(&server).await, found("198.51.100.30:51820"));
}

#[tokio::test]
async fn the_soa_serial_is_read_from_the_zone_apex() {
    let server = Server::start(|q, _| {
        let mut m = reply(q, ResponseCode::NoError);
        if asks(q) == (zone(), RecordType::SOA) {
            let soa = SOA::new(zone(), zone(), 2026112401, 3600, 600, 86400, 60);
            m.add_answer(Record::from_rdata(zone(), 60, RData::SOA(soa)));
        }
        Reply::Answer(m)
    })
    .await;
    let source = DnsSource::new(&checked_zone(), TIMEOUT);
    assert_eq!(source.soa_serial(server.addr).await.unwrap(), 2026112401);

    let refused = Server::start(|q, _| Reply::Answer(reply(q, ResponseCode::Refused))).await;
    let err = source
        .soa_serial(refused.addr)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is it serving this zone?"), "{err}");
}

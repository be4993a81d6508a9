//! The real TCP listener on loopback (127.0.0.0/8 only): who gets in, how many, for how
//! long, and what gets no answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use punchwire_wg::Device;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{serve, TcpLimits, TcpShared};
use crate::live::Live;
use crate::respond::Responder;
use crate::snapshot::{Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;
use punchwire_control::zone::Zone;

const ZONE: &str = "example.com.";
/// Every wait in these tests ends by this, pass or fail.
const PATIENCE: Duration = Duration::from_secs(10);

/// A registry's TCP side on 127.0.0.1, answering 127.0.0.1, .3, .4 and .5 (not .2).
struct Listening {
    addr: SocketAddr,
    live: Arc<Live>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(limits: TcpLimits) -> Listening {
    let config = Arc::new(SnapshotConfig {
        zone: Arc::new(ZoneNames::new(&Zone::parse(ZONE).unwrap())),
        self_record: None,
        allow: ["127.0.0.1/32", "127.0.0.3/32", "127.0.0.4/31"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect(),
        nameserver_ips: vec!["127.0.0.1".parse().unwrap()],
    });
    let device = Device {
        name: "wg0".into(),
        public_key: None,
        listen_port: Some(51820),
        fwmark: None,
        peers: Vec::new(),
    };
    let live = Arc::new(Live::new(
        Snapshot::first(config, &device, 1),
        Duration::from_secs(60),
    ));
    live.read_ok(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let responder = Responder::new(Arc::clone(&live), addr.ip(), None);
    let task = tokio::spawn(serve(listener, responder, TcpShared::new(limits)));
    Listening { addr, live, task }
}

fn soa(id: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii(ZONE).unwrap(),
        RecordType::SOA,
    ));
    framed(&message.to_bytes().unwrap())
}

fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = (message.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(message);
    out
}

/// A connection from `from` (a loopback address) to the listener.
async fn connect(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// What the connection says next: a response, or `None` when the registry closed it.
async fn next(stream: &mut TcpStream) -> Option<Message> {
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.ok()?;
        Some(Message::from_vec(&body).unwrap())
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the registry neither answered nor closed the connection")
}

/// Asks for the SOA on `stream`: `Some(id of the answer)`, or `None` if it was closed.
async fn ask(stream: &mut TcpStream, id: u16) -> Option<u16> {
    // A closed connection may refuse the write; then it is closed, which is the answer.
    if stream.write_all(&soa(id)).await.is_err() {
        return None;
    }
    next(stream).await.map(|m| m.metadata.id)
}

#[tokio::test]
async fn a_stranger_is_closed_at_accept_and_counted() {
    let registry = listen(TcpLimits::default()).await;
    let mut stranger = connect("127.0.0.2", registry.addr).await;
    assert_eq!(ask(&mut stranger, 1).await, None);
    let stats = registry.live.counters.read(0, 0, true);
    // Closed before its message was read: no query was counted.
    assert_eq!((stats.strangers_dropped, stats.queries), (1, 0));
    let mut peer = connect("127.0.0.1", registry.addr).await;
    assert_eq!(ask(&mut peer, 2).await, Some(2));
}

#[tokio::test]
async fn connections_are_capped_per_source_and_in_all() {
    let registry = listen(TcpLimits {
        max_connections: 4,
        per_source: 2,
        ..TcpLimits::default()
    })
    .await;
    let addr = registry.addr;
    let mut first = connect("127.0.0.1", addr).await;
    let mut second = connect("127.0.0.1", addr).await;
    assert_eq!(ask(&mut first, 1).await, Some(1));
    assert_eq!(ask(&mut second, 2).await, Some(2));
    let mut third = connect("127.0.0.1", addr).await;
    assert_eq!(ask(&mut third, 3).await, None, "a third from one source");

    let mut other = connect("127.0.0.3", addr).await;
    assert_eq!(
        ask(&mut other, 4).await,
        Some(4),
        "another source still gets in"
    );
    let mut fourth = connect("127.0.0.4", addr).await;
    assert_eq!(ask(&mut fourth, 5).await, Some(5));
    let mut fifth = connect("127.0.0.5", addr).await;
    assert_eq!(ask(&mut fifth, 6).await, None, "a fifth in all");
    assert_eq!(registry.live.counters.read(0, 0, true).tcp_refused, 2);

    // A place comes back when its connection closes.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = connect("127.0.0.5", addr).await;
        if ask(&mut again, 7).await == Some(7) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_response_sent_as_a_query_gets_nothing_and_the_connection_goes_on() {
    let registry = listen(TcpLimits::default()).await;
    let mut stream = connect("127.0.0.1", registry.addr).await;
    let mut reply = Message::new(9, MessageType::Response, OpCode::Query);
    reply.add_query(Query::query(
        Name::from_ascii(ZONE).unwrap(),
        RecordType::SOA,
    ));
    stream
        .write_all(&framed(&reply.to_bytes().unwrap()))
        .await
        .unwrap();
    // The next thing on the connection is the answer to the next query, not to the QR=1.
    assert_eq!(ask(&mut stream, 10).await, Some(10));
    assert_eq!(registry.live.counters.read(0, 0, true).queries, 1);
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_message_deadline_and_a_busy_one_at_its_lifetime() {
    let registry = listen(TcpLimits {
        message_deadline: Duration::from_millis(200),
        lifetime: Duration::from_millis(600),
        ..TcpLimits::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = connect("127.0.0.1", registry.addr).await;
    assert!(next(&mut silent).await.is_none());
    assert!(started.elapsed() >= Duration::from_millis(200));

    let started = Instant::now();
    let mut busy = connect("127.0.0.1", registry.addr).await;
    let mut id = 0;
    while let Some(answered) = ask(&mut busy, id).await {
        assert_eq!(answered, id);
        assert!(started.elapsed() < PATIENCE, "never closed");
        id += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(id >= 3, "answered while it lived: {id}");
}

#[tokio::test]
async fn a_message_cut_short_is_closed_at_the_deadline_without_an_answer() {
    let registry = listen(TcpLimits {
        message_deadline: Duration::from_millis(200),
        ..TcpLimits::default()
    })
    .await;
    let mut stream = connect("127.0.0.1", registry.addr).await;
    let whole = soa(1);
    stream.write_all(&whole[..whole.len() - 3]).await.unwrap();
    assert!(next(&mut stream).await.is_none());
    assert_eq!(registry.live.counters.read(0, 0, true).queries, 0);
}

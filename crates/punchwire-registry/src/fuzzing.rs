//! Entry points for the fuzz targets in `fuzz/` (outside the workspace), which can only
//! reach what this crate makes public. Not an API: nothing else may call these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use punchwire_control::zone::Zone;
use punchwire_wg::{Device, Peer, PublicKey};

use crate::live::Live;
use crate::respond::{Responder, Transport};
use crate::snapshot::{SelfRecord, Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;

/// Reads `packet` as the UDP loop does before anything else, and says whether it was
/// read as a query (`Some(true)`), as something to reject (`Some(false)`), or dropped.
pub fn read_query(packet: &[u8]) -> Option<bool> {
    crate::wire::read(packet).map(|incoming| matches!(incoming, crate::wire::Incoming::Query(_)))
}

/// A registry for `example.com.` serving three peers and itself, answering exactly as
/// its socket loops do.
pub struct Answerer {
    responder: Responder,
    out: Vec<u8>,
}

/// A source inside peer 1's AllowedIPs: admitted.
pub const PEER_SOURCE: &str = "10.0.0.1:5353";

impl Answerer {
    pub fn new() -> Self {
        let key = |n: u8| {
            let mut bytes = [3u8; 32];
            bytes[0] = n;
            PublicKey::from_bytes(bytes)
        };
        let peer = |n: u8, endpoint: &str| Peer {
            endpoint: Some(endpoint.parse().expect("a literal endpoint")),
            allowed_ips: vec![format!("10.0.0.{n}/32").parse().expect("a literal range")],
            ..Peer::new(key(n))
        };
        let device = Device {
            name: "wg0".into(),
            public_key: Some(key(200)),
            listen_port: Some(51820),
            fwmark: None,
            peers: vec![
                peer(1, "198.51.100.1:51820"),
                peer(2, "[2001:db8::2]:40000"),
                peer(3, "203.0.113.3:1"),
            ],
        };
        let config = Arc::new(SnapshotConfig {
            zone: Arc::new(ZoneNames::new(
                &Zone::parse("example.com.").expect("a literal zone"),
            )),
            self_record: Some(SelfRecord::default()),
            allow: Vec::new(),
            nameserver_ips: vec!["10.0.0.200".parse().expect("a literal address")],
        });
        let live = Arc::new(Live::new(
            Snapshot::first(config, &device, 1),
            Duration::from_secs(3600),
        ));
        live.read_ok(None);
        Self {
            responder: Responder::new(live, "10.0.0.200".parse().expect("a literal"), None),
            out: Vec::new(),
        }
    }

    /// The response to `packet` from `source` over UDP (`tcp` false) or TCP, if any.
    pub fn respond(&mut self, packet: &[u8], source: SocketAddr, tcp: bool) -> Option<&[u8]> {
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        self.out.clear();
        self.responder
            .respond(packet, source, transport, &mut self.out)
            .then_some(&self.out[..])
    }
}

impl Default for Answerer {
    fn default() -> Self {
        Self::new()
    }
}

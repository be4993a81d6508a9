//! The registry's answer path, as its socket loops call it: any query bytes, from an
//! admitted peer and from a stranger, over UDP and TCP, against a snapshot of a few
//! peers. A response is never longer than the transport allows and always echoes the
//! query's ID.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use punchwire_registry::fuzzing::{Answerer, PEER_SOURCE};

fn answerer() -> &'static Mutex<Answerer> {
    static ANSWERER: OnceLock<Mutex<Answerer>> = OnceLock::new();
    ANSWERER.get_or_init(|| Mutex::new(Answerer::new()))
}

fuzz_target!(|packet: &[u8]| {
    let peer: SocketAddr = PEER_SOURCE.parse().unwrap();
    let stranger: SocketAddr = "192.0.2.9:5353".parse().unwrap();
    let mut answerer = answerer().lock().unwrap_or_else(|p| p.into_inner());
    for tcp in [false, true] {
        if let Some(response) = answerer.respond(packet, peer, tcp) {
            let limit = if tcp {
                usize::from(u16::MAX)
            } else {
                usize::from(punchwire_registry::MAX_UDP_PAYLOAD)
            };
            assert!(response.len() >= 12, "a response shorter than a header");
            assert!(
                response.len() <= limit,
                "{} bytes over {limit}",
                response.len()
            );
            assert_eq!(
                response[..2],
                packet[..2],
                "the response's ID is not the query's"
            );
        }
        assert!(
            answerer.respond(packet, stranger, tcp).is_none(),
            "a stranger was answered"
        );
    }
});

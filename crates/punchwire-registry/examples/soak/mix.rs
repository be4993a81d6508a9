//! What the soak asks: valid queries (hits on existing peers, misses, a rare listing),
//! each with the answer code it must get, and malformed packets that may go unanswered.

use std::fmt::Write as _;

use crate::common::{pseudo_key, random_word, ZONE};

/// Out of every 10,000 valid queries: PTR listings of every peer, hits (SRV, A and TXT of
/// an existing peer in turn); the rest are misses, half SRV of peers that do not exist,
/// half A of random names in the zone.
const PTR_IN_10K: u64 = 10;
const HITS_IN_10K: u64 = 7_000;
/// Packets out of every 100 that are malformed.
pub const MALFORMED_PERCENT: u64 = 10;
/// Distinct missing names of each kind: enough that a cache of misses would not help.
const MISS_NAMES: usize = 10_000;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_SRV: u16 = 33;
pub const NOERROR: u8 = 0;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;

/// One valid query, ready to send once its ID is written into the first two bytes.
pub struct Query {
    pub wire: Vec<u8>,
    /// The question section's length: a response must repeat these bytes after its header.
    pub question_len: usize,
    /// The answer code it must get (a listing may come truncated, still NOERROR).
    pub expect: u8,
    /// As dnsperf reads it: `name TYPE`.
    pub text: String,
}

/// Every valid query the soak can send, and how to pick among them.
pub struct Mix {
    queries: Vec<Query>,
    peers: usize,
}

impl Mix {
    /// Queries about the first `peers` of `common::peers` (the device's), and misses.
    pub fn new(peers: usize) -> Self {
        let mut queries = Vec::with_capacity(peers * 3 + 2 * MISS_NAMES + 1);
        for i in 0..peers {
            let name = instance(&pseudo_key(i).to_dns_label());
            for (qtype, text) in [(TYPE_SRV, "SRV"), (TYPE_A, "A"), (TYPE_TXT, "TXT")] {
                queries.push(Query::new(&name, qtype, text, NOERROR));
            }
        }
        for j in 0..MISS_NAMES {
            // Keys past the device's peers: same shape, never published.
            let name = instance(&pseudo_key(peers + j).to_dns_label());
            queries.push(Query::new(&name, TYPE_SRV, "SRV", NXDOMAIN));
            let name = format!("{}.{ZONE}", random_word(peers + MISS_NAMES + j));
            queries.push(Query::new(&name, TYPE_A, "A", NXDOMAIN));
        }
        queries.push(Query::new(
            &format!("_wireguard._udp.{ZONE}"),
            TYPE_PTR,
            "PTR",
            NOERROR,
        ));
        Self { queries, peers }
    }

    pub fn get(&self, index: u32) -> &Query {
        &self.queries[index as usize]
    }

    /// A query's index, drawn from `rng` in the proportions above.
    pub fn pick(&self, rng: &mut Rng) -> u32 {
        let hits = self.peers * 3;
        let roll = rng.below(10_000);
        let index = if roll < PTR_IN_10K {
            self.queries.len() - 1
        } else if roll < PTR_IN_10K + HITS_IN_10K {
            rng.below(hits as u64) as usize
        } else {
            hits + rng.below(2 * MISS_NAMES as u64) as usize
        };
        index as u32
    }

    /// `count` queries drawn as the soak draws them, one `name TYPE` a line, for dnsperf.
    pub fn dnsperf_file(&self, count: usize) -> String {
        let mut rng = Rng::new(7);
        let mut out = String::new();
        for _ in 0..count {
            let _ = writeln!(out, "{}", self.get(self.pick(&mut rng)).text);
        }
        out
    }
}

fn instance(label: &str) -> String {
    format!("{label}._wireguard._udp.{ZONE}")
}

impl Query {
    fn new(name: &str, qtype: u16, type_text: &str, expect: u8) -> Self {
        // Header: ID 0 (written at send), RD, one question, one additional (the OPT).
        let mut wire = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in name.split('.') {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        wire.extend_from_slice(&qtype.to_be_bytes());
        wire.extend_from_slice(&1u16.to_be_bytes());
        let question_len = wire.len() - 12;
        // EDNS, 1232-byte payload, as resolvers send today.
        wire.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        Self {
            wire,
            question_len,
            expect,
            text: format!("{name} {type_text}"),
        }
    }
}

/// Writes into `buf` one malformed packet of a kind drawn from `rng`, built on a valid
/// query `base`.
pub fn malformed(rng: &mut Rng, base: &Query, buf: &mut Vec<u8>) {
    buf.clear();
    match rng.below(6) {
        // A header cut short.
        0 => {
            let len = 1 + rng.below(11) as usize;
            buf.extend((0..len).map(|_| rng.byte()));
        }
        // A label longer than what follows it.
        1 => {
            buf.extend_from_slice(&base.wire[..12]);
            buf.push(40 + rng.below(24) as u8);
            buf.extend_from_slice(b"short");
        }
        // A length byte with the reserved top bits (0x40, 0x80), which no label has.
        2 => {
            buf.extend_from_slice(&base.wire[..12]);
            buf.push(0x40 | rng.below(0x80) as u8);
            buf.extend_from_slice(&base.wire[13..]);
        }
        // A compression pointer to itself.
        3 => {
            buf.extend_from_slice(&base.wire[..12]);
            buf.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        }
        // A valid query cut inside its question.
        4 => {
            let cut = 13 + rng.below(base.question_len as u64 - 2) as usize;
            buf.extend_from_slice(&base.wire[..cut]);
        }
        // Random bytes.
        _ => {
            let len = 12 + rng.below(500) as usize;
            buf.extend((0..len).map(|_| rng.byte()));
        }
    }
}

/// xorshift64*: fast and reproducible; nothing here needs better.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

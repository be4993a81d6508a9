//! A query as it arrives, a UDP datagram or a TCP message alike, read in place: the header
//! fields and the one question, with no name built and nothing allocated. What the registry
//! answers is always a standard query with one question; everything else is told apart here
//! for the cost of a header.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name};

/// Size of a DNS header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire, length bytes included (RFC 1035 §3.1).
const MAX_NAME_LEN: usize = 255;
const TYPE_OPT: u16 = 41;
const OPCODE_QUERY: u8 = 0;
const OPCODE_UPDATE: u8 = 5;

/// The header fields a response echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub id: u16,
    pub op_code: u8,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
}

/// What a query's OPT record (RFC 6891) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    /// The largest UDP response the client takes (values below 512 mean 512).
    pub max_payload: u16,
    pub version: u8,
}

/// A query name in lower case, in wire form (length-prefixed labels, final zero byte).
#[derive(Clone, Copy)]
pub struct LowerWire {
    bytes: [u8; MAX_NAME_LEN],
    len: usize,
}

impl LowerWire {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Debug for LowerWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A standard query with one question.
#[derive(Debug, Clone, Copy)]
pub struct Query<'p> {
    pub echo: Echo,
    /// The question section exactly as received (name, type, class): a response repeats it
    /// byte for byte, letter case included (RFC 4343, and resolvers that randomize case).
    pub question: &'p [u8],
    pub name: LowerWire,
    pub qtype: u16,
    pub qclass: u16,
    pub opt: Option<Opt>,
}

impl Query<'_> {
    /// The query name as hickory names it, for the general path (this builds a name); `None` only for bytes that are no name at all,
    /// which `wire` has already turned away.
    pub fn lower_name(&self) -> Option<LowerName> {
        let mut labels = Vec::with_capacity(8);
        let mut rest = self.name.as_bytes();
        while let Some((&len, tail)) = rest.split_first() {
            if len == 0 {
                break;
            }
            let (label, tail) = tail.split_at_checked(usize::from(len))?;
            labels.push(label);
            rest = tail;
        }
        let name = Name::from_labels(labels).ok()?;
        Some(LowerName::new(&name))
    }
}

/// How a message reads.
// The query, name buffer and all, is the common case; boxing it would allocate per query.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming<'p> {
    Query(Query<'p>),
    /// A DNS UPDATE (RFC 2136): read whole by `update`, which is not a hot path.
    Update,
    /// Readable enough to answer with an error code and no question: another opcode, a
    /// question count other than one, a malformed section, an EDNS version we don't speak.
    /// `opt` says whether the response carries an OPT record (BADVERS needs one).
    Reject {
        echo: Echo,
        rcode: ResponseCode,
        opt: bool,
    },
}

/// Reads one message. `None`: not worth a response, being too short to carry an ID or
/// itself a response (answering those would let anyone bounce traffic between servers).
pub fn read(packet: &[u8]) -> Option<Incoming<'_>> {
    let header = packet.get(..HEADER_LEN)?;
    if header[2] & 0x80 != 0 {
        return None;
    }
    Some(read_query(packet, header))
}

fn read_query<'p>(packet: &'p [u8], header: &[u8]) -> Incoming<'p> {
    let echo = Echo {
        id: u16::from_be_bytes([header[0], header[1]]),
        op_code: (header[2] >> 3) & 0x0f,
        recursion_desired: header[2] & 0x01 != 0,
        checking_disabled: header[3] & 0x10 != 0,
    };
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let reject = |rcode| Incoming::Reject {
        echo,
        rcode,
        opt: false,
    };
    if echo.op_code == OPCODE_UPDATE {
        return Incoming::Update;
    }
    if echo.op_code != OPCODE_QUERY {
        return reject(ResponseCode::NotImp);
    }
    if count(4) != 1 {
        return reject(ResponseCode::FormErr);
    }
    let mut reader = Reader {
        packet,
        at: HEADER_LEN,
    };
    let Some((name, qtype, qclass)) = reader.question() else {
        return reject(ResponseCode::FormErr);
    };
    let question = &packet[HEADER_LEN..reader.at];

    let mut opt = None;
    let records = usize::from(count(6)) + usize::from(count(8));
    for _ in 0..records {
        if reader.record().is_none() {
            return reject(ResponseCode::FormErr);
        }
    }
    for _ in 0..count(10) {
        let Some(record) = reader.record() else {
            return reject(ResponseCode::FormErr);
        };
        if record.rtype != TYPE_OPT {
            continue;
        }
        // RFC 6891 §6.1.1: one OPT at most, owned by the root.
        if opt.is_some() || !record.root_owner {
            return reject(ResponseCode::FormErr);
        }
        opt = Some(Opt {
            max_payload: record.class,
            version: (record.ttl >> 16) as u8,
        });
    }
    if opt.is_some_and(|o| o.version != 0) {
        return Incoming::Reject {
            echo,
            rcode: ResponseCode::BADVERS,
            opt: true,
        };
    }
    Incoming::Query(Query {
        echo,
        question,
        name,
        qtype,
        qclass,
        opt,
    })
}

/// The parts of a resource record the registry looks at.
struct RecordHead {
    root_owner: bool,
    rtype: u16,
    class: u16,
    ttl: u32,
}

struct Reader<'p> {
    packet: &'p [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.packet.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The question's name, type and class. The name must be plain labels: a compression
    /// pointer in the only question of a query has nothing earlier to point at.
    fn question(&mut self) -> Option<(LowerWire, u16, u16)> {
        let mut name = LowerWire {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        };
        loop {
            let len = usize::from(*self.take(1)?.first()?);
            if len > 63 || name.len + 1 + len > MAX_NAME_LEN {
                return None;
            }
            name.bytes[name.len] = len as u8;
            name.len += 1;
            if len == 0 {
                break;
            }
            let label = self.take(len)?;
            for (to, from) in name.bytes[name.len..name.len + len].iter_mut().zip(label) {
                *to = from.to_ascii_lowercase();
            }
            name.len += len;
        }
        Some((name, self.u16()?, self.u16()?))
    }

    /// Skips a name that may end in a compression pointer; says whether it was the root.
    fn skip_name(&mut self) -> Option<bool> {
        let mut root = true;
        loop {
            let len = *self.take(1)?.first()?;
            match len {
                0 => return Some(root),
                1..=63 => {
                    root = false;
                    self.take(usize::from(len))?;
                }
                0xc0..=0xff => {
                    self.take(1)?;
                    return Some(false);
                }
                _ => return None,
            }
        }
    }

    fn record(&mut self) -> Option<RecordHead> {
        let root_owner = self.skip_name()?;
        let head = RecordHead {
            root_owner,
            rtype: self.u16()?,
            class: self.u16()?,
            ttl: self.u32()?,
        };
        let rdata_len = self.u16()?;
        self.take(usize::from(rdata_len))?;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Foo.Example.` SRV IN, id 0x1234, RD set, then `extra` appended (counts given).
    fn packet(qdcount: u16, arcount: u16, extra: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 0];
        p[4..6].copy_from_slice(&qdcount.to_be_bytes());
        p[10..12].copy_from_slice(&arcount.to_be_bytes());
        p.extend_from_slice(b"\x03Foo\x07Example\x00\x00\x21\x00\x01");
        p.extend_from_slice(extra);
        p
    }

    fn opt(payload: u16, version: u8) -> Vec<u8> {
        let mut r = vec![0, 0, 41];
        r.extend_from_slice(&payload.to_be_bytes());
        r.extend_from_slice(&[0, version, 0x80, 0]);
        // One option (a cookie), which is read past, not used.
        r.extend_from_slice(&[0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        r
    }

    #[test]
    fn reads_a_query_in_place_keeping_the_question_as_sent() {
        let p = packet(1, 1, &opt(1232, 0));
        let Some(Incoming::Query(q)) = read(&p) else {
            panic!("not a query")
        };
        assert_eq!(q.echo.id, 0x1234);
        assert!(q.echo.recursion_desired);
        assert!(q.echo.checking_disabled);
        assert_eq!(q.question, b"\x03Foo\x07Example\x00\x00\x21\x00\x01");
        assert_eq!(q.name.as_bytes(), b"\x03foo\x07example\x00");
        assert_eq!((q.qtype, q.qclass), (33, 1));
        assert_eq!(
            q.opt,
            Some(Opt {
                max_payload: 1232,
                version: 0
            })
        );
    }

    #[test]
    fn tells_apart_what_gets_an_error_and_what_gets_nothing() {
        let rcode = |p: &[u8]| match read(p) {
            Some(Incoming::Reject { rcode, .. }) => Some(rcode),
            _ => None,
        };
        assert!(read(&[0; 11]).is_none());
        let mut response = packet(1, 0, &[]);
        response[2] |= 0x80;
        assert!(read(&response).is_none());

        let mut notify = packet(1, 0, &[]);
        notify[2] |= 4 << 3;
        assert_eq!(rcode(&notify), Some(ResponseCode::NotImp));
        assert_eq!(rcode(&packet(2, 0, &[])), Some(ResponseCode::FormErr));
        assert_eq!(rcode(&packet(0, 0, &[])), Some(ResponseCode::FormErr));
        let mut cut = packet(1, 0, &[]);
        cut.truncate(cut.len() - 1);
        assert_eq!(rcode(&cut), Some(ResponseCode::FormErr));
        let mut pointer = packet(1, 0, &[]);
        pointer.splice(12.., *b"\xc0\x0c\x00\x21\x00\x01");
        assert_eq!(rcode(&pointer), Some(ResponseCode::FormErr));

        let two_opts = [opt(1232, 0), opt(1232, 0)].concat();
        assert_eq!(rcode(&packet(1, 2, &two_opts)), Some(ResponseCode::FormErr));
        assert_eq!(rcode(&packet(1, 1, &[])), Some(ResponseCode::FormErr));
        assert!(matches!(
            read(&packet(1, 1, &opt(1232, 1))),
            Some(Incoming::Reject {
                rcode: ResponseCode::BADVERS,
                opt: true,
                ..
            })
        ));
    }
}

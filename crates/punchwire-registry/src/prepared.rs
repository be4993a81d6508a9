//! Responses prepared once per instance, for the questions peers ask all day: its SRV, its
//! TXT and its address. An instance is shared by every snapshot that serves it unchanged
//! (see `snapshot`), so a prepared response lasts until the peer itself changes.

use std::sync::OnceLock;

use hickory_proto::rr::RecordType;

/// One prepared response, made on first use: `None` when that question's answer cannot be
/// prepared, remembered so that it is not tried again.
pub type Slot = OnceLock<Option<Box<[u8]>>>;

/// The responses of one instance (see `respond::prepare` for what they hold).
#[derive(Debug, Default)]
pub struct Prepared {
    /// A or AAAA, whichever the instance has; `None` when its address is the one each
    /// query arrived on (the registry's own record), so that nothing is prepared.
    /// Kept here, beside the slots, so that finding a slot reads one place in memory:
    /// at 65,536 peers every lookup is a cache miss.
    host_type: Option<RecordType>,
    srv: Slot,
    txt: Slot,
    host: Slot,
}

impl Prepared {
    pub fn new(host_type: Option<RecordType>) -> Self {
        Self {
            host_type,
            ..Self::default()
        }
    }

    /// Where the UDP response to a `qtype` question is prepared; `None` when it is not:
    /// NODATA carries the SOA, whose serial moves with every snapshot, and the registry's
    /// own record may hold the address each query arrived on.
    pub fn slot(&self, qtype: RecordType) -> Option<&Slot> {
        let host_type = self.host_type?;
        match qtype {
            RecordType::SRV => Some(&self.srv),
            RecordType::TXT => Some(&self.txt),
            _ if qtype == host_type => Some(&self.host),
            _ => None,
        }
    }
}

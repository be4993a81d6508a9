//! Responses prepared once per instance, for the questions peers ask all day: its SRV, its
//! TXT and its address. An instance is shared by every snapshot that serves it unchanged
//! (see `snapshot`), so a prepared response lasts until the peer itself changes.

use std::sync::OnceLock;

/// One prepared response, made on first use: `None` when that question's answer cannot be
/// prepared, remembered so that it is not tried again.
pub type Slot = OnceLock<Option<Box<[u8]>>>;

/// The responses of one instance (see `respond::prepare` for what they hold).
#[derive(Debug, Default)]
pub struct Prepared {
    pub srv: Slot,
    pub txt: Slot,
    /// The A or AAAA record, whichever the instance has.
    pub host: Slot,
}

//! A peer registering its candidates by DNS UPDATE (RFC 2136), over its tunnel: `parse`
//! reads the message and checks what RFC 2136 asks of every server, `authorize` makes it
//! edits of the sender's own candidates (or refuses it), `store` applies them all or
//! none, with a lease, and an accepted change is published as a new snapshot at once.
//! `respond` hands UPDATE messages here after its access check and rate limit.

mod address;
mod authorize;
mod parse;
mod store;

use std::net::IpAddr;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::DecodeError;
use tracing::debug;

use crate::fit::MAX_UDP_PAYLOAD;
use crate::live::Live;
use crate::refresh::unix_serial;
use parse::Echo;

pub use parse::{MAX_CHANGES, MAX_MESSAGE_LEN};
pub use store::{CandidateStore, DEFAULT_CANDIDATE_LEASE};

/// Why an update was not applied; each maps to the RFC 2136 response code the sender gets.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("the device has not been read recently enough to know who owns an address")]
    Stale,
    #[error("the message is {len} bytes, more than the {MAX_MESSAGE_LEN} an update may have")]
    TooLong { len: usize },
    #[error("not a DNS message: {0}")]
    Malformed(#[source] DecodeError),
    #[error("the zone section must be one SOA question")]
    ZoneSection,
    #[error("zone {0} is not served here")]
    NotOurZone(Name),
    #[error("prerequisites are not supported")]
    Prerequisites,
    #[error("signed updates are not supported (the tunnel authenticates the sender)")]
    Signed,
    #[error("{count} changes, more than the {MAX_CHANGES} an update may have")]
    TooManyChanges { count: usize },
    #[error("{0} is outside the zone")]
    OutsideZone(Name),
    #[error("a malformed change of {1} at {0} (RFC 2136 §3.4.1.3)")]
    BadChange(Name, RecordType),
    #[error("{0} is not inside any peer's AllowedIPs")]
    NotAPeer(IpAddr),
    #[error("{0} is not the sender's candidates name")]
    NotYourName(Name),
    #[error("the zone leaves no room for the sender's candidates name")]
    NoRoomForName,
    #[error("{0} records are not candidates (SRV, A and AAAA are)")]
    NotACandidateType(RecordType),
    #[error("the SRV must be 0 0 <port> pointing at its own name, with a port")]
    BadSrv,
    #[error("{0} cannot be a candidate: {1}")]
    UnfitAddress(IpAddr, &'static str),
    #[error(
        "{count} addresses, more than the {} a peer may register",
        crate::candidates::MAX_ADDRESSES
    )]
    TooManyAddresses { count: usize },
    #[error("the candidates would not be one SRV with addresses (or nothing at all)")]
    Incomplete,
}

impl UpdateError {
    /// The response code RFC 2136 gives this failure; refusals of policy are REFUSED.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            Self::Malformed(_) | Self::ZoneSection | Self::BadChange(..) => ResponseCode::FormErr,
            Self::NotOurZone(_) => ResponseCode::NotAuth,
            Self::OutsideZone(_) => ResponseCode::NotZone,
            Self::Stale => ResponseCode::ServFail,
            _ => ResponseCode::Refused,
        }
    }
}

/// Answers the UPDATE in `packet` from `source` into `out`, applying it when it is
/// the sender's to make, and returns its response code. The caller has already admitted
/// the source and checked its rate; `fresh` says whether the snapshot may be trusted.
pub(crate) fn handle(
    live: &Live,
    packet: &[u8],
    source: IpAddr,
    fresh: bool,
    now: Instant,
    out: &mut Vec<u8>,
) -> ResponseCode {
    let (echo, changes) = parse::read(packet, live.snapshot().zone());
    let applied = changes.and_then(|changes| {
        if !fresh {
            return Err(UpdateError::Stale);
        }
        let mut store = live.writer();
        // The snapshot as it is now, with the store locked: nothing publishes meanwhile.
        let snapshot = live.snapshot();
        let (key, edits) = authorize::edits(&snapshot, source, &changes)?;
        if store.apply(key, &edits, now)? {
            let next = snapshot.with_candidates(store.served(), unix_serial());
            debug!(peer = %key, serial = next.serial(), "registered candidates changed");
            live.publish(next);
        }
        Ok(())
    });
    let rcode = match applied {
        Ok(()) => ResponseCode::NoError,
        Err(error) => {
            debug!(%source, %error, "update refused");
            error.rcode()
        }
    };
    write_response(out, &echo, rcode);
    rcode
}

/// The response (RFC 2136 §3.8): the request's ID and zone section, the response code.
fn write_response(out: &mut Vec<u8>, echo: &Echo, rcode: ResponseCode) {
    let mut message = Message::error_msg(echo.id, OpCode::Update, rcode);
    if let Some(zone) = &echo.zone {
        message.add_query(zone.clone());
    }
    if echo.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        message.set_edns(edns);
    }
    out.clear();
    match message.to_vec() {
        Ok(bytes) => out.extend_from_slice(&bytes),
        Err(_) => {
            // Only a zone name hickory cannot write again: answer without it.
            message.queries.clear();
            out.extend_from_slice(&message.to_vec().unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests;

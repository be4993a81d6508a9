//! Whose update it is, and whether it touches only what is theirs. The tunnel
//! authenticates the sender: a packet from an address inside a peer's AllowedIPs can only
//! have come from that peer. That peer may change one name, its own
//! `_candidates.<label>._wireguard._udp.<zone>`, and there only the SRV, A and AAAA
//! records of the candidates layout.

use std::net::IpAddr;

use hickory_proto::rr::{RData, RecordType};
use punchwire_wg::PublicKey;

use super::address::unfit;
use super::parse::{Change, Op};
use super::store::Edit;
use super::UpdateError;
use crate::snapshot::Snapshot;

/// The peer that sent an update from `source`, and its `changes` as edits of its own
/// candidates; the first change that is not its to make refuses them all.
pub fn edits(
    snapshot: &Snapshot,
    source: IpAddr,
    changes: &[Change],
) -> Result<(PublicKey, Vec<Edit>), UpdateError> {
    let (key, own_ranges) = snapshot
        .sender(source)
        .ok_or(UpdateError::NotAPeer(source))?;
    let own_name = snapshot
        .zone()
        .candidates(key.to_dns_label().as_bytes())
        .map_err(|_| UpdateError::NoRoomForName)?;
    let edits = changes
        .iter()
        .map(|change| {
            if change.name != own_name {
                return Err(UpdateError::NotYourName(change.name.clone()));
            }
            match &change.op {
                Op::DeleteName => Ok(Edit::ClearAll),
                Op::DeleteRrset(rtype) => match rtype {
                    RecordType::SRV | RecordType::A | RecordType::AAAA => Ok(Edit::Clear(*rtype)),
                    other => Err(UpdateError::NotACandidateType(*other)),
                },
                Op::Add(RData::SRV(srv)) => {
                    if srv.priority != 0
                        || srv.weight != 0
                        || srv.port == 0
                        || srv.target != own_name
                    {
                        return Err(UpdateError::BadSrv);
                    }
                    Ok(Edit::AddPort(srv.port))
                }
                Op::Add(data) => match address(data) {
                    Some(ip) => match unfit(ip, own_ranges) {
                        Some(why) => Err(UpdateError::UnfitAddress(ip, why)),
                        None => Ok(Edit::AddAddress(ip)),
                    },
                    None => Err(UpdateError::NotACandidateType(data.record_type())),
                },
                // The only SRV the name can hold is `0 0 <port> <own name>`: its port
                // says which.
                Op::Delete(RData::SRV(srv)) => Ok(Edit::RemovePort(srv.port)),
                Op::Delete(data) => address(data)
                    .map(Edit::RemoveAddress)
                    .ok_or(UpdateError::NotACandidateType(data.record_type())),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok((key, edits))
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

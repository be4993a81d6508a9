//! One served peer, or the registry itself: `<label>._wireguard._udp.<zone>`, with its
//! records built once and the responses prepared for it.

pub mod prepared;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::rdata::{PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;
use punchwire_wg::key::LABEL_LEN;
use punchwire_wg::PublicKey;

use crate::records::{host_record, txt_strings, SizedRecord, TTL};
use crate::zone::ZoneNames;
use prepared::Prepared;

/// A peer label in the form queries are matched in: lower-case base32 with padding.
pub type Label = [u8; LABEL_LEN];

/// Where an instance's endpoint address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    Fixed(SocketAddr),
    /// The registry itself without a configured endpoint: the address each query arrived
    /// on, with this port.
    Arrival {
        port: u16,
    },
}

/// One served peer (or the registry itself): `<label>._wireguard._udp.<zone>`.
#[derive(Debug)]
pub struct Instance {
    pub key: PublicKey,
    pub address: Address,
    pub allowed: Vec<IpNet>,
    pub name: Name,
    /// `_wireguard._udp.<zone> PTR <name>`.
    pub ptr: SizedRecord,
    pub srv: SizedRecord,
    pub txt: SizedRecord,
    /// The A or AAAA record; `None` for [`Address::Arrival`], built per query.
    pub host: Option<SizedRecord>,
    pub prepared: Prepared,
}

impl Instance {
    pub fn build(
        zone: &ZoneNames,
        key: PublicKey,
        address: Address,
        allowed: &[IpNet],
    ) -> Result<Self, hickory_proto::ProtoError> {
        let label = key.to_dns_label();
        let name = zone.instance(label.as_bytes())?;
        let port = match address {
            Address::Fixed(addr) => addr.port(),
            Address::Arrival { port } => port,
        };
        let ptr = SizedRecord::new(Record::from_rdata(
            zone.service().clone(),
            TTL,
            RData::PTR(PTR(name.clone())),
        ))?;
        let srv = SizedRecord::new(Record::from_rdata(
            name.clone(),
            TTL,
            RData::SRV(SRV::new(0, 0, port, name.clone())),
        ))?;
        let txt = SizedRecord::new(Record::from_rdata(
            name.clone(),
            TTL,
            RData::TXT(TXT::new(txt_strings(&key, allowed))),
        ))?;
        let host = match address {
            Address::Fixed(addr) => Some(host_record(&name, addr.ip())?),
            Address::Arrival { .. } => None,
        };
        Ok(Self {
            key,
            address,
            allowed: allowed.to_vec(),
            name,
            ptr,
            srv,
            txt,
            prepared: Prepared::new(host.as_ref().map(|h| h.record.record_type())),
            host,
        })
    }

    /// The A/AAAA record for a query that arrived on `arrival`.
    pub fn host_for(&self, arrival: IpAddr) -> Option<Cow<'_, SizedRecord>> {
        match (&self.host, self.address) {
            (Some(host), _) => Some(Cow::Borrowed(host)),
            (None, Address::Arrival { .. }) => {
                host_record(&self.name, arrival).ok().map(Cow::Owned)
            }
            (None, Address::Fixed(_)) => None,
        }
    }

    pub fn serves_same(&self, key: &PublicKey, address: Address, allowed: &[IpNet]) -> bool {
        &self.key == key && self.address == address && self.allowed == allowed
    }
}

/// The label of `key` as queries carry it.
pub fn label_of(key: &PublicKey) -> Label {
    let mut label = [0u8; LABEL_LEN];
    label.copy_from_slice(key.to_dns_label().as_bytes());
    label
}

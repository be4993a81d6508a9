//! An immutable picture of what the registry serves, built from one read of the device.
//!
//! Every record is built (and its wire size bounded) once per change, so a query only looks
//! up a label in a hash map and borrows what it finds: hits and misses cost the same at 10
//! peers and at 100,000.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use ipnet::IpNet;
use punchwire_wg::key::LABEL_LEN;
use punchwire_wg::{Device, Endpoint, Peer, PublicKey};
use tracing::warn;

use crate::acl::AllowList;
use crate::negative::NegativeSoa;
use crate::prepared::Prepared;
use crate::zone::ZoneNames;

/// TTL of every peer record: endpoints move at any moment, so nothing may be cached (as
/// wgsd does).
pub const TTL: u32 = 0;

/// TTL of the SOA, and its negative-caching minimum. Kept at zero for the same reason: a
/// cached "no such peer" would hide a peer that appears a second later.
pub const SOA_TTL: u32 = 0;

/// A `<character-string>` in a TXT record holds at most 255 octets.
const TXT_STRING_MAX: usize = 255;

/// The TXT version key, first in the record (RFC 6763 §6.7), as wgsd writes it.
pub const TXT_VERSION: &str = "txtvers=1";

/// A peer label in the form queries are matched in: lower-case base32 with padding.
pub type Label = [u8; LABEL_LEN];

/// A record and an upper bound of its size on the wire, so that a response can be sized
/// without encoding it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizedRecord {
    pub record: Record,
    /// Its size with no name compression: never smaller than in any real message.
    pub max_len: usize,
}

impl SizedRecord {
    pub fn new(record: Record) -> Result<Self, hickory_proto::ProtoError> {
        let mut buf = Vec::with_capacity(128);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.emit(&mut encoder)?;
        Ok(Self {
            max_len: buf.len(),
            record,
        })
    }
}

/// The registry's own entry, as wgsd's `self` option serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfRecord {
    /// Where peers reach the registry. `None`: the address the query arrived on, with the
    /// device's listen port (what wgsd does without an endpoint).
    pub endpoint: Option<Endpoint>,
    /// The ranges put in its TXT `allowed=` (wgsd's `self-allowed-ips`).
    pub allowed: Vec<IpNet>,
}

/// What a snapshot is built from besides the device: fixed for the registry's life.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    pub zone: Arc<ZoneNames>,
    pub self_record: Option<SelfRecord>,
    /// Sources allowed besides the peers' AllowedIPs.
    pub allow: Vec<IpNet>,
    /// The registry's own addresses, served as `ns1.<zone>` A/AAAA.
    pub nameserver_ips: Vec<IpAddr>,
}

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
    fn build(
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
    pub fn host_for(&self, arrival: IpAddr) -> Option<std::borrow::Cow<'_, SizedRecord>> {
        match (&self.host, self.address) {
            (Some(host), _) => Some(std::borrow::Cow::Borrowed(host)),
            (None, Address::Arrival { .. }) => host_record(&self.name, arrival)
                .ok()
                .map(std::borrow::Cow::Owned),
            (None, Address::Fixed(_)) => None,
        }
    }

    fn serves_same(&self, key: &PublicKey, address: Address, allowed: &[IpNet]) -> bool {
        &self.key == key && self.address == address && self.allowed == allowed
    }
}

/// A or AAAA for `ip`, by its family.
pub fn host_record(name: &Name, ip: IpAddr) -> Result<SizedRecord, hickory_proto::ProtoError> {
    let data = match ip.to_canonical() {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    SizedRecord::new(Record::from_rdata(name.clone(), TTL, data))
}

/// `"txtvers=1" "pub=<base64>" "allowed=<cidr>,<cidr>"`, as wgsd writes them. A string
/// holds at most 255 octets: ranges that do not fit are left out (and logged), because
/// one oversized string would make every answer for this peer unencodable.
fn txt_strings(key: &PublicKey, allowed: &[IpNet]) -> Vec<String> {
    let mut list = String::from("allowed=");
    let mut dropped = 0;
    for (i, net) in allowed.iter().enumerate() {
        let text = net.trunc().to_string();
        let sep = usize::from(i > 0 && list.len() > "allowed=".len());
        if list.len() + sep + text.len() > TXT_STRING_MAX {
            dropped += 1;
            continue;
        }
        if sep == 1 {
            list.push(',');
        }
        list.push_str(&text);
    }
    if dropped > 0 {
        warn!(
            peer = %key,
            dropped,
            "peer has more AllowedIPs than fit in its 255-octet TXT allowed= string; the rest are not published"
        );
    }
    vec![
        TXT_VERSION.to_owned(),
        format!("pub={}", key.to_base64()),
        list,
    ]
}

/// A device's peers in key order. wireguard-go lists peers in a different order on every
/// read (a Go map), so order must not count as a change.
fn sorted_peers(device: &Device) -> Vec<&Peer> {
    let mut peers: Vec<&Peer> = device.peers.iter().collect();
    peers.sort_unstable_by_key(|p| p.public_key);
    peers
}

/// What a snapshot was built from, kept to tell cheaply whether a new read changes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    public_key: Option<PublicKey>,
    listen_port: Option<u16>,
    /// In key order.
    peers: Vec<(PublicKey, Option<SocketAddr>, Vec<IpNet>)>,
}

impl View {
    fn of(device: &Device, peers: &[&Peer]) -> Self {
        Self {
            public_key: device.public_key,
            listen_port: device.listen_port,
            peers: peers
                .iter()
                .map(|p| (p.public_key, p.endpoint, p.allowed_ips.clone()))
                .collect(),
        }
    }

    /// Compares without copying any peer: this runs every refresh, on every peer.
    fn matches(&self, device: &Device, peers: &[&Peer]) -> bool {
        self.public_key == device.public_key
            && self.listen_port == device.listen_port
            && self.peers.len() == peers.len()
            && self
                .peers
                .iter()
                .zip(peers)
                .all(|((key, endpoint, allowed), peer)| {
                    key == &peer.public_key
                        && endpoint == &peer.endpoint
                        && allowed == &peer.allowed_ips
                })
    }
}

/// Everything the registry serves, at one moment. Never changes once built.
#[derive(Debug)]
pub struct Snapshot {
    config: Arc<SnapshotConfig>,
    serial: u32,
    soa: SizedRecord,
    /// `soa` as a miss carries it; `None` only if it could not be prepared.
    negative: Option<NegativeSoa>,
    ns: SizedRecord,
    nameserver_hosts: Vec<SizedRecord>,
    /// PTR listing order: by key, the registry itself last (as wgsd puts it last).
    listing: Vec<Arc<Instance>>,
    instances: HashMap<Label, Arc<Instance>>,
    acl: AllowList,
    view: View,
}

impl Snapshot {
    /// The first snapshot of a registry, with `serial`.
    pub fn first(config: Arc<SnapshotConfig>, device: &Device, serial: u32) -> Self {
        Self::build(config, device, serial, None)
    }

    /// The snapshot after reading `device` again, or `None` when nothing read matters.
    /// The serial moves forward, to at least `floor`, exactly when a served record
    /// changes; a change seen only by access control (a peer without an endpoint got new
    /// AllowedIPs) keeps it.
    pub fn next(&self, device: &Device, floor: u32) -> Option<Self> {
        if self.view.matches(device, &sorted_peers(device)) {
            return None;
        }
        let mut next = Self::build(Arc::clone(&self.config), device, self.serial, Some(self));
        if !same_listing(&self.listing, &next.listing) {
            next.set_serial(floor.max(self.serial.wrapping_add(1)));
        }
        Some(next)
    }

    fn build(
        config: Arc<SnapshotConfig>,
        device: &Device,
        serial: u32,
        previous: Option<&Snapshot>,
    ) -> Self {
        let zone = Arc::clone(&config.zone);
        let peers = sorted_peers(device);
        let mut listing = Vec::with_capacity(peers.len() + 1);
        for peer in &peers {
            let Some(endpoint) = peer.endpoint else {
                continue;
            };
            let address = Address::Fixed(SocketAddr::new(
                endpoint.ip().to_canonical(),
                endpoint.port(),
            ));
            if let Some(instance) =
                reuse_or_build(&zone, previous, peer.public_key, address, &peer.allowed_ips)
            {
                listing.push(instance);
            }
        }
        if let Some(self_record) = &config.self_record {
            if let Some(address) = self_address(device, self_record) {
                if let Some(key) = device.public_key {
                    if let Some(instance) =
                        reuse_or_build(&zone, previous, key, address, &self_record.allowed)
                    {
                        listing.push(instance);
                    }
                }
            }
        }
        let instances = listing
            .iter()
            .map(|instance| (label_of(&instance.key), Arc::clone(instance)))
            .collect();
        let acl = AllowList::new(device.allowed_ips().chain(config.allow.iter()));
        let (soa, ns, nameserver_hosts) = apex_records(&zone, serial, &config.nameserver_ips);
        Self {
            negative: NegativeSoa::new(&soa, zone.apex()),
            soa,
            ns,
            nameserver_hosts,
            listing,
            instances,
            acl,
            view: View::of(device, &peers),
            serial,
            config,
        }
    }

    fn set_serial(&mut self, serial: u32) {
        self.serial = serial;
        let (soa, _, _) = apex_records(&self.config.zone, serial, &[]);
        self.negative = NegativeSoa::new(&soa, self.config.zone.apex());
        self.soa = soa;
    }

    pub fn zone(&self) -> &ZoneNames {
        &self.config.zone
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn soa(&self) -> &SizedRecord {
        &self.soa
    }

    /// The SOA prepared for "no such name" responses.
    pub fn negative_soa(&self) -> Option<&NegativeSoa> {
        self.negative.as_ref()
    }

    pub fn ns(&self) -> &SizedRecord {
        &self.ns
    }

    /// `ns1.<zone>` A/AAAA: the registry's own addresses, where known.
    pub fn nameserver_hosts(&self) -> &[SizedRecord] {
        &self.nameserver_hosts
    }

    /// Every served instance, in PTR listing order.
    pub fn listing(&self) -> &[Arc<Instance>] {
        &self.listing
    }

    /// The instance of a lower-case label straight off the wire; a constant-time miss for
    /// anything that is not a served peer.
    pub fn instance(&self, label: &[u8]) -> Option<&Instance> {
        let label: &Label = label.try_into().ok()?;
        self.instances.get(label).map(|i| i.as_ref())
    }

    /// Whether a query from `source` may be answered.
    pub fn allows(&self, source: IpAddr) -> bool {
        self.acl.allows(source)
    }
}

fn label_of(key: &PublicKey) -> Label {
    let mut label = [0u8; LABEL_LEN];
    label.copy_from_slice(key.to_dns_label().as_bytes());
    label
}

/// Keeps the previous snapshot's instance when it serves the same thing, so a change of
/// one peer among 100,000 rebuilds one peer's records.
fn reuse_or_build(
    zone: &ZoneNames,
    previous: Option<&Snapshot>,
    key: PublicKey,
    address: Address,
    allowed: &[IpNet],
) -> Option<Arc<Instance>> {
    if let Some(old) = previous.and_then(|p| p.instances.get(&label_of(&key))) {
        if old.serves_same(&key, address, allowed) {
            return Some(Arc::clone(old));
        }
    }
    match Instance::build(zone, key, address, allowed) {
        Ok(instance) => Some(Arc::new(instance)),
        Err(error) => {
            warn!(peer = %key, %error, "cannot build the records of this peer; it is not served");
            None
        }
    }
}

fn self_address(device: &Device, self_record: &SelfRecord) -> Option<Address> {
    if device.public_key.is_none() {
        warn!(
            device = %device.name,
            "the device does not report its own public key: the registry's own record (--self) cannot be served"
        );
        return None;
    }
    match (self_record.endpoint, device.listen_port) {
        (Some(endpoint), _) => Some(Address::Fixed(endpoint.addr())),
        (None, Some(port)) if port != 0 => Some(Address::Arrival { port }),
        (None, _) => {
            warn!(
                device = %device.name,
                "the device has no listen port and --self gives no endpoint: the registry's own record cannot be served"
            );
            None
        }
    }
}

fn same_listing(a: &[Arc<Instance>], b: &[Arc<Instance>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| Arc::ptr_eq(x, y) || x.serves_same(&y.key, y.address, &y.allowed))
}

/// SOA (with wgsd's names and timers), NS, and `ns1` A/AAAA. These names are all valid
/// ASCII labels, so building them cannot fail; a failure would be a bug here.
fn apex_records(
    zone: &ZoneNames,
    serial: u32,
    nameserver_ips: &[IpAddr],
) -> (SizedRecord, SizedRecord, Vec<SizedRecord>) {
    let soa = SizedRecord::new(Record::from_rdata(
        zone.apex().clone(),
        SOA_TTL,
        RData::SOA(SOA::new(
            zone.nameserver().clone(),
            zone.mailbox().clone(),
            serial,
            86400,
            7200,
            3_600_000,
            SOA_TTL,
        )),
    ))
    .expect("an SOA of valid names always encodes");
    let ns = SizedRecord::new(Record::from_rdata(
        zone.apex().clone(),
        SOA_TTL,
        RData::NS(NS(zone.nameserver().clone())),
    ))
    .expect("an NS of valid names always encodes");
    let hosts = nameserver_ips
        .iter()
        .filter_map(|ip| host_record(zone.nameserver(), *ip).ok())
        .collect();
    (soa, ns, hosts)
}

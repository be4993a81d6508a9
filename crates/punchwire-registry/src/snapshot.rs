//! An immutable picture of what the registry serves, built from one read of the device.
//!
//! Every record is built (and its wire size bounded) once per change, so a query only looks
//! up a label in a hash map and borrows what it finds: hits and misses cost the same at 10
//! peers and at 100,000.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use punchwire_wg::{Device, Endpoint, Peer, PublicKey};
use tracing::warn;

use crate::acl::AllowList;
use crate::candidates::{CandidateRecords, CandidateZone};
use crate::instance::{label_of, Address, Instance, Label};
use crate::negative::NegativeSoa;
use crate::owners::Owners;
use crate::records::{apex_records, SizedRecord};
use crate::zone::ZoneNames;

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

/// Everything the registry serves, at one moment. Never changes once built. What grows
/// with the number of peers is shared (`Arc`), so that a change of candidates alone makes
/// a new snapshot without copying the peers.
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
    listing: Arc<Vec<Arc<Instance>>>,
    instances: Arc<HashMap<Label, Arc<Instance>>>,
    acl: Arc<AllowList>,
    view: Arc<View>,
    /// Who owns which tunnel address, built at the first UPDATE that needs it.
    owners: Arc<OnceLock<Owners>>,
    /// The peers' registered candidates; served only for peers that are served.
    candidates: Arc<CandidateZone>,
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
            listing: Arc::new(listing),
            instances: Arc::new(instances),
            acl: Arc::new(acl),
            view: Arc::new(View::of(device, &peers)),
            owners: Arc::default(),
            candidates: previous.map_or_else(Arc::default, |p| Arc::clone(&p.candidates)),
            serial,
            config,
        }
    }

    /// This snapshot serving `candidates` instead, with the serial moved forward to at
    /// least `floor`. Costs what the candidates cost, not what the peers do.
    pub fn with_candidates(&self, candidates: Arc<CandidateZone>, floor: u32) -> Self {
        let mut next = Self {
            config: Arc::clone(&self.config),
            serial: self.serial,
            soa: self.soa.clone(),
            negative: self.negative.clone(),
            ns: self.ns.clone(),
            nameserver_hosts: self.nameserver_hosts.clone(),
            listing: Arc::clone(&self.listing),
            instances: Arc::clone(&self.instances),
            acl: Arc::clone(&self.acl),
            view: Arc::clone(&self.view),
            owners: Arc::clone(&self.owners),
            candidates,
        };
        next.set_serial(floor.max(self.serial.wrapping_add(1)));
        next
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

    pub fn shared_zone(&self) -> Arc<ZoneNames> {
        Arc::clone(&self.config.zone)
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

    /// The registered candidates of a served peer, by its lower-case label.
    pub fn candidates(&self, label: &[u8]) -> Option<&CandidateRecords> {
        let label: &Label = label.try_into().ok()?;
        if !self.instances.contains_key(label) {
            return None;
        }
        self.candidates.get(label).map(|c| c.as_ref())
    }

    /// The peer whose AllowedIPs hold `source` (the one WireGuard would take a packet
    /// from it to be), with those AllowedIPs. The registry itself is not a peer.
    pub fn sender(&self, source: IpAddr) -> Option<(PublicKey, &[IpNet])> {
        let owners = self.owners.get_or_init(|| {
            Owners::new(
                self.view
                    .peers
                    .iter()
                    .enumerate()
                    .flat_map(|(at, (_, _, allowed))| allowed.iter().map(move |range| (at, range))),
            )
        });
        let (key, _, allowed) = self.view.peers.get(owners.owner(source)?)?;
        Some((*key, allowed))
    }

    /// Whether a query from `source` may be answered.
    pub fn allows(&self, source: IpAddr) -> bool {
        self.acl.allows(source)
    }

    /// What a query name, lower-case in wire form as a query carries it, is to this
    /// snapshot: read once per query, with no name built, for the paths that answer
    /// from prepared bytes.
    pub fn asked(&self, wire: &[u8]) -> Asked<'_> {
        let zone = self.zone();
        if let Some(instance) = zone.instance_label(wire).and_then(|l| self.instance(l)) {
            return Asked::Instance(instance);
        }
        if !self.candidates.is_empty()
            && zone
                .candidates_label(wire)
                .is_some_and(|l| self.candidates(l).is_some())
        {
            return Asked::Other;
        }
        // An instance-shaped name reaching here is not served: a label of the right
        // length was just looked up, and one of another length never is.
        match zone.below_apex(wire) {
            Some(below) => Asked::Missing {
                apex_at: below.apex_at,
            },
            None => Asked::Other,
        }
    }
}

/// What a query name is to a snapshot (see [`Snapshot::asked`]).
#[derive(Debug, Clone, Copy)]
pub enum Asked<'s> {
    /// A served instance, `<label>._wireguard._udp.<zone>`.
    Instance(&'s Instance),
    /// A name inside the zone that it does not have; the zone's apex starts `apex_at`
    /// bytes into the name.
    Missing { apex_at: usize },
    /// The apex, the zone's fixed names, a peer's candidates, or a name outside the
    /// zone: for `answer` to place.
    Other,
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

#[cfg(test)]
mod tests;

//! The candidates every peer registered, each set with its lease. An update is applied to
//! a copy of the sender's set and kept only when the whole result is valid; the lease
//! starts again with every accepted update, and a set whose lease ran out, or whose peer
//! left the device, is forgotten.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use punchwire_wg::PublicKey;
use tracing::warn;

use super::UpdateError;
use crate::candidates::{CandidateRecords, CandidateZone, MAX_ADDRESSES};
use crate::instance::label_of;
use crate::zone::ZoneNames;

/// How long registered candidates are served without being registered again, unless
/// the registry is configured otherwise. The service registers again well before.
pub const DEFAULT_CANDIDATE_LEASE: Duration = Duration::from_secs(180);

/// The longest lease taken: a day, far beyond any use, and far from any clock's end.
const MAX_LEASE: Duration = Duration::from_secs(86_400);

/// One change to a peer's own set, as `authorize` made it of an update's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    AddPort(u16),
    AddAddress(IpAddr),
    RemovePort(u16),
    RemoveAddress(IpAddr),
    /// Every record of this type: SRV, A or AAAA.
    Clear(RecordType),
    ClearAll,
}

/// A set as edits leave it, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Draft {
    ports: BTreeSet<u16>,
    addresses: BTreeSet<IpAddr>,
}

impl Draft {
    fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::AddPort(port) => {
                self.ports.insert(port);
            }
            Edit::AddAddress(ip) => {
                self.addresses.insert(ip);
            }
            Edit::RemovePort(port) => {
                self.ports.remove(&port);
            }
            Edit::RemoveAddress(ip) => {
                self.addresses.remove(&ip);
            }
            Edit::Clear(RecordType::SRV) => self.ports.clear(),
            Edit::Clear(RecordType::A) => self.addresses.retain(IpAddr::is_ipv6),
            Edit::Clear(RecordType::AAAA) => self.addresses.retain(IpAddr::is_ipv4),
            Edit::Clear(_) => {}
            Edit::ClearAll => *self = Self::default(),
        }
    }

    /// The port and addresses of a complete set; `None` for an empty one.
    fn check(self) -> Result<Option<(u16, BTreeSet<IpAddr>)>, UpdateError> {
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(UpdateError::TooManyAddresses {
                count: self.addresses.len(),
            });
        }
        let mut ports = self.ports.iter();
        match (ports.next(), ports.next(), self.addresses.is_empty()) {
            (None, _, true) => Ok(None),
            (Some(&port), None, false) => Ok(Some((port, self.addresses))),
            _ => Err(UpdateError::Incomplete),
        }
    }
}

#[derive(Debug)]
struct Entry {
    port: u16,
    addresses: BTreeSet<IpAddr>,
    records: Arc<CandidateRecords>,
    expires: Instant,
}

/// Every peer's registered candidates. Held by whoever builds the next snapshot (see
/// `live`), so that an update and a refresh never publish over each other.
#[derive(Debug)]
pub struct CandidateStore {
    zone: Arc<ZoneNames>,
    lease: Duration,
    peers: HashMap<PublicKey, Entry>,
}

impl CandidateStore {
    pub fn new(zone: Arc<ZoneNames>, lease: Duration) -> Self {
        Self {
            zone,
            lease: lease.min(MAX_LEASE),
            peers: HashMap::new(),
        }
    }

    pub fn set_lease(&mut self, lease: Duration) {
        self.lease = lease.min(MAX_LEASE);
    }

    /// Applies `edits` to `key`'s set at `now`, all or nothing. True when what is served
    /// changed (a refresh with the same records only renews the lease).
    pub fn apply(
        &mut self,
        key: PublicKey,
        edits: &[Edit],
        now: Instant,
    ) -> Result<bool, UpdateError> {
        let current = self.peers.get(&key).filter(|entry| entry.expires > now);
        let mut draft = current.map_or_else(Draft::default, |entry| Draft {
            ports: BTreeSet::from([entry.port]),
            addresses: entry.addresses.clone(),
        });
        for edit in edits {
            draft.apply(*edit);
        }
        let had = current.is_some();
        let Some((port, addresses)) = draft.check()? else {
            // A set whose lease ended is served until the next refresh prunes it: its
            // removal here is a change too.
            return Ok(self.peers.remove(&key).is_some());
        };
        let expires = now + self.lease;
        if let Some(entry) = self.peers.get_mut(&key).filter(|_| had) {
            if entry.port == port && entry.addresses == addresses {
                entry.expires = expires;
                return Ok(false);
            }
        }
        let records =
            CandidateRecords::build(&self.zone, &key, port, &addresses).map_err(|error| {
                warn!(peer = %key, %error, "cannot build the records of this peer's candidates");
                UpdateError::NoRoomForName
            })?;
        self.peers.insert(
            key,
            Entry {
                port,
                addresses,
                records: Arc::new(records),
                expires,
            },
        );
        Ok(true)
    }

    /// Forgets the sets whose lease ended by `now` and those of peers no longer
    /// `present` on the device. True when any was forgotten.
    pub fn prune<'k>(
        &mut self,
        now: Instant,
        present: impl IntoIterator<Item = &'k PublicKey>,
    ) -> bool {
        if self.peers.is_empty() {
            return false;
        }
        let present: HashSet<&PublicKey> = present.into_iter().collect();
        let before = self.peers.len();
        self.peers
            .retain(|key, entry| entry.expires > now && present.contains(key));
        self.peers.len() != before
    }

    /// What is served now, by label.
    pub fn served(&self) -> Arc<CandidateZone> {
        Arc::new(
            self.peers
                .iter()
                .map(|(key, entry)| (label_of(key), Arc::clone(&entry.records)))
                .collect(),
        )
    }
}

//! The relay's record: the AllowedIPs of every peer it changed, as they were before the
//! first change, in a file that outlives the service. Written before each change and
//! removed once everything is put back, so that a file found at start means a service
//! that ended mid-relay (a crash, a `kill -9`, a power cut) and says exactly what to
//! restore.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use punchwire_control::config_file::write_atomically;
use punchwire_wg::PublicKey;
use serde::{Deserialize, Serialize};

/// What the relay changed on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Each changed peer with its AllowedIPs as they were, the registry peer first.
    pub original: Vec<Original>,
    /// The peers whose addresses now go through the registry peer.
    pub relayed: Vec<PublicKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub peer: PublicKey,
    pub allowed_ips: Vec<IpNet>,
}

impl Record {
    /// The AllowedIPs `peer` had before the relay changed it, if it did.
    pub fn original(&self, peer: &PublicKey) -> Option<&[IpNet]> {
        self.original
            .iter()
            .find(|o| o.peer == *peer)
            .map(|o| o.allowed_ips.as_slice())
    }

    /// Remembers `peer`'s AllowedIPs as they are now, unless they are remembered already:
    /// the first reading is the user's configuration, later ones may be the relay's.
    pub fn remember(&mut self, peer: PublicKey, allowed_ips: &[IpNet]) {
        if self.original(&peer).is_none() {
            self.original.push(Original {
                peer,
                allowed_ips: allowed_ips.to_vec(),
            });
        }
    }

    pub fn is_relayed(&self, peer: &PublicKey) -> bool {
        self.relayed.contains(peer)
    }

    /// What the registry peer carries while `relayed` go through it: its own AllowedIPs,
    /// then each relayed peer's, in the order they were relayed.
    pub fn registry_allowed_ips(&self, registry: &PublicKey) -> Vec<IpNet> {
        let own = self.original(registry).unwrap_or_default().iter();
        let carried = self
            .relayed
            .iter()
            .filter_map(|p| self.original(p))
            .flatten();
        let mut all: Vec<IpNet> = Vec::new();
        for net in own.chain(carried) {
            if !all.contains(net) {
                all.push(*net);
            }
        }
        all
    }

    /// Every changed peer with its original AllowedIPs: the request that undoes it all.
    pub fn restoring(&self) -> Vec<(PublicKey, Vec<IpNet>)> {
        // Relayed peers first, so that each takes its addresses back before the registry
        // peer's own list is set; either order ends the same, this one never leaves an
        // address routed to no peer in between.
        let mut peers: Vec<&Original> = self.original.iter().collect();
        peers.sort_by_key(|o| !self.is_relayed(&o.peer));
        peers
            .into_iter()
            .map(|o| (o.peer, o.allowed_ips.clone()))
            .collect()
    }
}

/// Where the record of interface `iface` is kept under `state_dir`.
pub fn path(state_dir: &Path, iface: &str) -> PathBuf {
    state_dir.join(format!("relay-{iface}.json"))
}

/// What went wrong with a record file, naming it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read the relay record {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the relay record {} is not one Punchwire wrote: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the relay record {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// The record at `path`; `None` when there is none (nothing to undo).
pub fn load(path: &Path) -> Result<Option<Record>, RecordError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RecordError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RecordError::Parse {
            path: path.to_owned(),
            source,
        })
}

/// Writes `record` whole or not at all (the directory is made if missing); an empty
/// record removes the file.
pub fn save(path: &Path, record: &Record) -> Result<(), RecordError> {
    let write = |source| RecordError::Write {
        path: path.to_owned(),
        source,
    };
    if record.original.is_empty() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(write(e)),
            _ => Ok(()),
        };
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(write)?;
    }
    let json = serde_json::to_vec_pretty(record).expect("plain data");
    write_atomically(path, &json).map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_testkit::wg::key;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_reading_of_a_peer_is_the_one_kept() {
        let mut record = Record::default();
        record.remember(key(1), &[net("10.99.0.1/32")]);
        record.remember(key(1), &[net("10.99.0.1/32"), net("10.99.0.3/32")]);
        assert_eq!(record.original(&key(1)), Some(&[net("10.99.0.1/32")][..]));
    }

    #[test]
    fn the_registry_carries_its_own_addresses_and_those_of_each_relayed_peer() {
        let mut record = Record::default();
        record.remember(key(1), &[net("10.99.0.1/32")]);
        record.remember(key(3), &[net("10.99.0.3/32"), net("fd00::3/128")]);
        record.remember(key(4), &[net("10.99.0.4/32")]);
        record.relayed = vec![key(3)];
        assert_eq!(
            record.registry_allowed_ips(&key(1)),
            vec![net("10.99.0.1/32"), net("10.99.0.3/32"), net("fd00::3/128")]
        );
        // Restoring gives every remembered peer its own list back, relayed ones first.
        assert_eq!(
            record.restoring(),
            vec![
                (key(3), vec![net("10.99.0.3/32"), net("fd00::3/128")]),
                (key(1), vec![net("10.99.0.1/32")]),
                (key(4), vec![net("10.99.0.4/32")]),
            ]
        );
    }

    #[test]
    fn a_record_survives_the_file_and_an_empty_one_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(&dir.path().join("state"), "wg0");
        assert_eq!(load(&file).unwrap(), None);
        let mut record = Record::default();
        record.remember(key(1), &[net("10.99.0.1/32")]);
        record.relayed.push(key(1));
        save(&file, &record).unwrap();
        assert_eq!(load(&file).unwrap(), Some(record));
        save(&file, &Record::default()).unwrap();
        assert!(!file.exists());
    }

    #[test]
    fn a_damaged_record_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "wg0");
        fs::write(&file, "{ half").unwrap();
        let error = load(&file).unwrap_err().to_string();
        assert!(error.contains("relay-wg0.json"), "{error}");
    }
}

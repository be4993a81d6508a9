//! wgsd's test device and the snapshots built from it, for the tests of `answer` and
//! `snapshot`.

use std::sync::Arc;

use ipnet::IpNet;
use punchwire_control::zone::Zone;
pub use punchwire_testkit::wg::{key, peer};
use punchwire_wg::Device;

use crate::snapshot::{SelfRecord, Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;

pub const ZONE: &str = "example.com.";

pub fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// wgsd's test device: self key 99, peer 1 on IPv4, peer 2 on IPv6, and (added in later
/// wgsd versions) a peer that has no endpoint yet.
pub fn wgsd_device() -> Device {
    Device {
        name: "wg0".into(),
        public_key: Some(key(99)),
        listen_port: Some(51820),
        fwmark: None,
        peers: vec![
            peer(key(1), Some("1.1.1.1:1"), &["10.0.0.1/32", "10.0.0.2/32"]),
            peer(key(2), Some("[::2]:2"), &["10.0.0.3/32", "10.0.0.4/32"]),
            peer(key(3), None, &["10.0.0.5/32"]),
        ],
    }
}

pub fn config(self_record: Option<SelfRecord>) -> Arc<SnapshotConfig> {
    Arc::new(SnapshotConfig {
        zone: Arc::new(ZoneNames::new(&Zone::parse(ZONE).unwrap())),
        self_record,
        allow: Vec::new(),
        nameserver_ips: vec!["10.0.0.99".parse().unwrap()],
    })
}

pub fn wgsd_self() -> SelfRecord {
    SelfRecord {
        endpoint: None,
        allowed: nets(&["10.0.0.99/32", "10.0.0.100/32"]),
    }
}

pub fn snapshot(device: &Device, self_record: Option<SelfRecord>) -> Snapshot {
    Snapshot::first(config(self_record), device, 7)
}

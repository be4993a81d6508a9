//! Snapshots of wgsd's test device as it changes: what counts as a change, what is
//! rebuilt, who may ask.

use std::sync::Arc;

use hickory_proto::rr::RData;
use punchwire_wg::{Device, PublicKey};

use super::{Asked, Snapshot};
use crate::fixtures::{config, key, nets, snapshot, wgsd_device, wgsd_self};
use crate::instance::Instance;

fn instance(snapshot: &Snapshot, key: PublicKey) -> &Instance {
    snapshot
        .instance(key.to_dns_label().as_bytes())
        .expect("a served peer")
}

fn endpoint_of(device: &mut Device, index: usize, endpoint: &str) {
    device.peers[index].endpoint = Some(endpoint.parse().unwrap());
}

#[test]
fn serial_moves_exactly_when_served_data_changes() {
    let mut device = wgsd_device();
    let first = snapshot(&device, Some(wgsd_self()));
    assert_eq!(first.serial(), 7);

    // Traffic and handshakes are not served: nothing to rebuild.
    device.peers[0].rx_bytes += 1000;
    device.peers[0].last_handshake = Some(std::time::SystemTime::now());
    assert!(first.next(&device, 0).is_none());

    // An endpoint moves: the serial goes up by one (the floor is lower).
    endpoint_of(&mut device, 0, "1.1.1.1:9");
    let second = first.next(&device, 0).expect("a changed endpoint rebuilds");
    assert_eq!(second.serial(), 8);
    let srv = &instance(&second, key(1)).srv;
    assert!(srv.record.to_string().contains(" 0 0 9 "));

    // A peer without endpoint gets new AllowedIPs: access control changes, records don't.
    device.peers[2].allowed_ips = nets(&["10.0.0.50/32"]);
    let third = second.next(&device, 0).expect("the ACL changed");
    assert_eq!(third.serial(), 8);
    assert!(third.allows("10.0.0.50".parse().unwrap()));
    assert!(!third.allows("10.0.0.5".parse().unwrap()));

    // That peer gets an endpoint: it is listed now, and the serial jumps to the floor.
    endpoint_of(&mut device, 2, "203.0.113.5:5000");
    let fourth = third.next(&device, 1_000_000).unwrap();
    assert_eq!(fourth.serial(), 1_000_000);
    assert_eq!(fourth.listing().len(), 4);

    // The listen port moves the registry's own SRV (arrival address in use).
    device.listen_port = Some(51821);
    let fifth = fourth.next(&device, 0).unwrap();
    assert_eq!(fifth.serial(), 1_000_001);
}

#[test]
fn peer_order_is_not_a_change() {
    // wireguard-go lists its peers in a new order on every read.
    let mut device = wgsd_device();
    let first = snapshot(&device, None);
    device.peers.reverse();
    assert!(first.next(&device, 0).is_none());
    device.peers[0].rx_bytes = 1;
    endpoint_of(&mut device, 1, "[::2]:3");
    let second = first.next(&device, 0).unwrap();
    assert_eq!(second.serial(), first.serial() + 1);
    device.peers.reverse();
    assert!(second.next(&device, 0).is_none());
}

#[test]
fn unchanged_peers_keep_their_records_across_rebuilds() {
    let mut device = wgsd_device();
    let first = snapshot(&device, None);
    endpoint_of(&mut device, 0, "1.1.1.1:9");
    let second = first.next(&device, 0).unwrap();
    assert!(Arc::ptr_eq(&first.listing()[1], &second.listing()[1]));
    assert!(!Arc::ptr_eq(&first.listing()[0], &second.listing()[0]));
}

#[test]
fn access_control_covers_peers_allowed_ips_and_extra_ranges() {
    let device = wgsd_device();
    let mut cfg = (*config(None)).clone();
    cfg.allow = nets(&["192.0.2.0/24"]);
    let snap = Snapshot::first(Arc::new(cfg), &device, 1);
    for ok in ["10.0.0.1", "10.0.0.4", "10.0.0.5", "192.0.2.77"] {
        assert!(snap.allows(ok.parse().unwrap()), "{ok}");
    }
    for no in ["10.0.0.6", "127.0.0.1", "198.51.100.1"] {
        assert!(!snap.allows(no.parse().unwrap()), "{no}");
    }
}

#[test]
fn too_many_allowed_ips_are_cut_to_fit_the_txt_string() {
    let mut device = wgsd_device();
    device.peers[0].allowed_ips = (0..40)
        .map(|i| format!("10.1.{i}.0/24").parse().unwrap())
        .collect();
    let snap = snapshot(&device, None);
    let txt = &instance(&snap, key(1)).txt;
    let RData::TXT(data) = &txt.record.data else {
        panic!("not a TXT")
    };
    let allowed = String::from_utf8(data.txt_data[2].to_vec()).unwrap();
    assert!(allowed.len() <= 255, "{}", allowed.len());
    assert!(allowed.starts_with("allowed=10.1.0.0/24,10.1.1.0/24"));
    assert!(!allowed.ends_with(','));
}

/// `text` as a query carries it: lower-case labels, each after its length, then a zero.
fn wire(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for label in text.trim_end_matches('.').split('.') {
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label.as_bytes());
    }
    bytes.push(0);
    bytes
}

#[test]
fn a_query_name_is_read_once_as_a_served_instance_a_miss_or_neither() {
    let snap = snapshot(&wgsd_device(), None);
    let name = |k: PublicKey| format!("{}._wireguard._udp.example.com.", k.to_dns_label());
    let Asked::Instance(served) = snap.asked(&wire(&name(key(1)))) else {
        panic!("peer 1 is served");
    };
    assert_eq!(served.key, key(1));

    // Where the apex starts: it ends every name in the zone.
    let apex_at = |text: &str| wire(text).len() - wire("example.com.").len();
    for missing in [
        name(key(3)),
        name(key(42)),
        "short._wireguard._udp.example.com.".to_owned(),
        "nope.example.com.".to_owned(),
    ] {
        assert!(
            matches!(snap.asked(&wire(&missing)), Asked::Missing { apex_at: at } if at == apex_at(&missing)),
            "{missing}"
        );
    }
    for other in [
        "example.com.",
        "_wireguard._udp.example.com.",
        "_udp.example.com.",
        "ns1.example.com.",
        "example.org.",
    ] {
        assert!(matches!(snap.asked(&wire(other)), Asked::Other), "{other}");
    }
}

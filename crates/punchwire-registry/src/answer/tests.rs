//! Every row of the registry's behaviour, answered from snapshots of in-memory devices.
//! The first test is wgsd's own test table (wgsd_test.go), ported.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, RecordType};
use ipnet::IpNet;
use punchwire_wg::{Device, Peer, PublicKey};

use super::{answer, Answer};
use crate::snapshot::{SelfRecord, SizedRecord, Snapshot, SnapshotConfig};
use crate::zone::ZoneNames;
use punchwire_control::zone::Zone;

const ZONE: &str = "example.com.";
const ARRIVAL: &str = "127.0.0.1";

fn key(first: u8) -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = first;
    PublicKey::from_bytes(bytes)
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn peer(key: PublicKey, endpoint: Option<&str>, allowed: &[&str]) -> Peer {
    Peer {
        public_key: key,
        has_preshared_key: false,
        endpoint: endpoint.map(|e| e.parse::<SocketAddr>().unwrap()),
        allowed_ips: nets(allowed),
        last_handshake: None,
        rx_bytes: 0,
        tx_bytes: 0,
        persistent_keepalive: None,
    }
}

/// wgsd's test device: self key 99, peer 1 on IPv4, peer 2 on IPv6, and (added in later
/// wgsd versions) a peer that has no endpoint yet.
fn wgsd_device() -> Device {
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

fn config(self_record: Option<SelfRecord>) -> Arc<SnapshotConfig> {
    Arc::new(SnapshotConfig {
        zone: Arc::new(ZoneNames::new(&Zone::parse(ZONE).unwrap())),
        self_record,
        allow: Vec::new(),
        nameserver_ips: vec!["10.0.0.99".parse().unwrap()],
    })
}

fn wgsd_self() -> SelfRecord {
    SelfRecord {
        endpoint: None,
        allowed: nets(&["10.0.0.99/32", "10.0.0.100/32"]),
    }
}

fn snapshot(device: &Device, self_record: Option<SelfRecord>) -> Snapshot {
    Snapshot::first(config(self_record), device, 7)
}

fn b32(k: PublicKey) -> String {
    k.to_dns_label()
}

/// A query name from text; labels may end in '=' (hickory's parser refuses those).
fn qname(text: &str) -> LowerName {
    let name = Name::from_labels(text.trim_end_matches('.').split('.').map(str::as_bytes));
    LowerName::new(&name.unwrap())
}

fn ask<'s>(snapshot: &'s Snapshot, name: &str, qtype: RecordType) -> Answer<'s> {
    answer(
        snapshot,
        &qname(name),
        qtype,
        DNSClass::IN,
        ARRIVAL.parse::<IpAddr>().unwrap(),
    )
}

/// A record as one line, TXT strings quoted as dig prints them ('=' unescaped: hickory
/// escapes it in names, dig does not).
fn show(record: &SizedRecord) -> String {
    let r = &record.record;
    let line = match &r.data {
        RData::TXT(txt) => {
            let strings: Vec<String> = txt
                .txt_data
                .iter()
                .map(|s| format!("\"{}\"", String::from_utf8_lossy(s)))
                .collect();
            format!("{} {} IN TXT {}", r.name, r.ttl, strings.join(" "))
        }
        _ => r.to_string(),
    };
    line.replace("\\=", "=")
}

fn lines<'a>(
    records: impl IntoIterator<Item = &'a std::borrow::Cow<'a, SizedRecord>>,
) -> Vec<String> {
    records.into_iter().map(|r| show(r)).collect()
}

fn additional(answer: &Answer<'_>) -> Vec<String> {
    answer
        .additional
        .iter()
        .flatten()
        .map(|r| show(r))
        .collect()
}

fn txt_line(k: PublicKey, allowed: &str) -> String {
    format!(
        "{}._wireguard._udp.example.com. 0 IN TXT \"txtvers=1\" \"pub={}\" \"allowed={allowed}\"",
        b32(k),
        k.to_base64()
    )
}

fn instance(k: PublicKey) -> String {
    format!("{}._wireguard._udp.example.com.", b32(k))
}

#[test]
fn wgsd_test_table() {
    let device = wgsd_device();
    let snap = snapshot(&device, Some(wgsd_self()));
    let (me, p1, p2) = (key(99), key(1), key(2));

    let ptr = ask(&snap, "_wireguard._udp.example.com.", RecordType::PTR);
    assert_eq!(ptr.rcode, ResponseCode::NoError);
    assert!(ptr.authoritative);
    assert_eq!(
        lines(&ptr.answers),
        [p1, p2, me].map(|k| format!("_wireguard._udp.example.com. 0 IN PTR {}", instance(k)))
    );

    let srv = ask(&snap, &instance(me), RecordType::SRV);
    assert_eq!(
        lines(&srv.answers),
        [format!(
            "{} 0 IN SRV 0 0 51820 {}",
            instance(me),
            instance(me)
        )]
    );
    assert_eq!(
        additional(&srv),
        [
            format!("{} 0 IN A 127.0.0.1", instance(me)),
            txt_line(me, "10.0.0.99/32,10.0.0.100/32"),
        ]
    );

    let srv = ask(&snap, &instance(p1), RecordType::SRV);
    assert_eq!(
        lines(&srv.answers),
        [format!("{} 0 IN SRV 0 0 1 {}", instance(p1), instance(p1))]
    );
    assert_eq!(
        additional(&srv),
        [
            format!("{} 0 IN A 1.1.1.1", instance(p1)),
            txt_line(p1, "10.0.0.1/32,10.0.0.2/32"),
        ]
    );

    let srv = ask(&snap, &instance(p2), RecordType::SRV);
    assert_eq!(
        lines(&srv.answers),
        [format!("{} 0 IN SRV 0 0 2 {}", instance(p2), instance(p2))]
    );
    assert_eq!(
        additional(&srv),
        [
            format!("{} 0 IN AAAA ::2", instance(p2)),
            txt_line(p2, "10.0.0.3/32,10.0.0.4/32"),
        ]
    );

    let a = ask(&snap, &instance(me), RecordType::A);
    assert_eq!(
        lines(&a.answers),
        [format!("{} 0 IN A 127.0.0.1", instance(me))]
    );
    let a = ask(&snap, &instance(p1), RecordType::A);
    assert_eq!(
        lines(&a.answers),
        [format!("{} 0 IN A 1.1.1.1", instance(p1))]
    );
    let aaaa = ask(&snap, &instance(p2), RecordType::AAAA);
    assert_eq!(
        lines(&aaaa.answers),
        [format!("{} 0 IN AAAA ::2", instance(p2))]
    );

    for (k, allowed) in [
        (me, "10.0.0.99/32,10.0.0.100/32"),
        (p1, "10.0.0.1/32,10.0.0.2/32"),
        (p2, "10.0.0.3/32,10.0.0.4/32"),
    ] {
        let txt = ask(&snap, &instance(k), RecordType::TXT);
        assert_eq!(lines(&txt.answers), [txt_line(k, allowed)]);
    }

    let nx = ask(&snap, "nxdomain.example.com.", RecordType::AAAA);
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert!(nx.answers.is_empty());
    assert_eq!(
        lines(&nx.authority),
        ["example.com. 0 IN SOA ns1.example.com. postmaster.example.com. 7 86400 7200 3600000 0"]
    );

    // wgsd hands names outside its zone to the next CoreDNS plugin (SERVFAIL in its test);
    // a registry alone refuses them.
    let outside = ask(&snap, "servfail.notexample.com.", RecordType::AAAA);
    assert_eq!(outside.rcode, ResponseCode::Refused);
    assert!(!outside.authoritative);
}

#[test]
fn a_peer_without_endpoint_is_neither_listed_nor_resolvable() {
    let device = wgsd_device();
    let snap = snapshot(&device, None);
    let ptr = ask(&snap, "_wireguard._udp.example.com.", RecordType::PTR);
    assert_eq!(ptr.answers.len(), 2);
    assert!(!lines(&ptr.answers).iter().any(|l| l.contains(&b32(key(3)))));
    for qtype in [RecordType::SRV, RecordType::A, RecordType::TXT] {
        let a = ask(&snap, &instance(key(3)), qtype);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{qtype}");
        assert_eq!(a.authority.len(), 1, "SOA in authority");
    }
}

#[test]
fn without_self_the_registry_key_is_unknown() {
    let snap = snapshot(&wgsd_device(), None);
    let a = ask(&snap, &instance(key(99)), RecordType::SRV);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

#[test]
fn self_with_a_fixed_endpoint_uses_it_not_the_arrival_address() {
    let self_record = SelfRecord {
        endpoint: Some("[2001:db8::9]:4000".parse().unwrap()),
        allowed: nets(&["10.0.0.99/32"]),
    };
    let snap = snapshot(&wgsd_device(), Some(self_record));
    let srv = ask(&snap, &instance(key(99)), RecordType::SRV);
    assert_eq!(
        lines(&srv.answers),
        [format!(
            "{} 0 IN SRV 0 0 4000 {}",
            instance(key(99)),
            instance(key(99))
        )]
    );
    assert_eq!(
        additional(&srv)[0],
        format!("{} 0 IN AAAA 2001:db8::9", instance(key(99)))
    );
}

#[test]
fn names_match_case_insensitively() {
    let snap = snapshot(&wgsd_device(), None);
    let upper = instance(key(1)).to_ascii_uppercase();
    let srv = ask(&snap, &upper, RecordType::SRV);
    assert_eq!(srv.rcode, ResponseCode::NoError);
    assert_eq!(srv.answers.len(), 1);
    let ptr = ask(&snap, "_WireGuard._UDP.Example.COM.", RecordType::PTR);
    assert_eq!(ptr.answers.len(), 2);
}

#[test]
fn a_known_name_and_another_type_is_nodata_with_the_soa() {
    let snap = snapshot(&wgsd_device(), None);
    for (name, qtype) in [
        (instance(key(1)), RecordType::AAAA), // IPv4 endpoint
        (instance(key(2)), RecordType::A),    // IPv6 endpoint
        (instance(key(1)), RecordType::MX),
        ("_wireguard._udp.example.com.".to_owned(), RecordType::SRV),
        ("example.com.".to_owned(), RecordType::A),
        ("_udp.example.com.".to_owned(), RecordType::PTR),
        ("ns1.example.com.".to_owned(), RecordType::AAAA),
    ] {
        let a = ask(&snap, &name, qtype);
        assert_eq!(a.rcode, ResponseCode::NoError, "{name} {qtype}");
        assert!(a.answers.is_empty(), "{name} {qtype}");
        assert!(a.authoritative);
        assert_eq!(
            lines(&a.authority),
            ["example.com. 0 IN SOA ns1.example.com. postmaster.example.com. 7 86400 7200 3600000 0"],
            "{name} {qtype}"
        );
    }
}

#[test]
fn unknown_names_in_the_zone_are_nxdomain_even_if_label_shaped() {
    let snap = snapshot(&wgsd_device(), None);
    let stranger = instance(key(42));
    let below_a_peer = format!("x.{}", instance(key(1)));
    let short_label = "abc._wireguard._udp.example.com.".to_owned();
    for name in [
        stranger,
        below_a_peer,
        short_label,
        "www.example.com.".to_owned(),
    ] {
        let a = ask(&snap, &name, RecordType::SRV);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{name}");
        assert!(a.authoritative);
        assert_eq!(a.authority.len(), 1);
    }
}

#[test]
fn apex_serves_soa_and_ns_with_the_nameserver_address() {
    let snap = snapshot(&wgsd_device(), None);
    let soa = ask(&snap, "example.com.", RecordType::SOA);
    assert_eq!(
        lines(&soa.answers),
        ["example.com. 0 IN SOA ns1.example.com. postmaster.example.com. 7 86400 7200 3600000 0"]
    );
    let ns = ask(&snap, "example.com.", RecordType::NS);
    assert_eq!(
        lines(&ns.answers),
        ["example.com. 0 IN NS ns1.example.com."]
    );
    assert_eq!(additional(&ns), ["ns1.example.com. 0 IN A 10.0.0.99"]);
    let a = ask(&snap, "ns1.example.com.", RecordType::A);
    assert_eq!(lines(&a.answers), ["ns1.example.com. 0 IN A 10.0.0.99"]);
}

#[test]
fn ptr_listing_carries_each_instance_in_the_additional_section() {
    let snap = snapshot(&wgsd_device(), None);
    let ptr = ask(&snap, "_wireguard._udp.example.com.", RecordType::PTR);
    assert_eq!(ptr.additional.len(), 2, "one group per instance");
    let p1 = key(1);
    assert_eq!(
        ptr.additional[0]
            .iter()
            .map(|r| show(r))
            .collect::<Vec<_>>(),
        [
            format!("{} 0 IN SRV 0 0 1 {}", instance(p1), instance(p1)),
            format!("{} 0 IN A 1.1.1.1", instance(p1)),
            txt_line(p1, "10.0.0.1/32,10.0.0.2/32"),
        ]
    );
}

#[test]
fn zone_transfers_and_other_classes_are_refused() {
    let snap = snapshot(&wgsd_device(), None);
    for qtype in [RecordType::AXFR, RecordType::IXFR] {
        let a = ask(&snap, "example.com.", qtype);
        assert_eq!(a.rcode, ResponseCode::Refused, "{qtype}");
        assert!(a.answers.is_empty());
    }
    let chaos = answer(
        &snap,
        &qname("version.bind."),
        RecordType::TXT,
        DNSClass::CH,
        ARRIVAL.parse().unwrap(),
    );
    assert_eq!(chaos.rcode, ResponseCode::Refused);
}

#[test]
fn any_is_answered_minimally_per_rfc8482() {
    let snap = snapshot(&wgsd_device(), Some(wgsd_self()));
    for name in [instance(key(1)), "example.com.".to_owned()] {
        let a = ask(&snap, &name, RecordType::ANY);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert_eq!(lines(&a.answers), [format!("{name} 0 IN HINFO RFC8482 ")]);
        assert!(a.additional.is_empty());
    }
    let a = ask(&snap, &instance(key(42)), RecordType::ANY);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
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
    let srv = ask(&second, &instance(key(1)), RecordType::SRV);
    assert!(show(&srv.answers[0]).contains(" 0 0 9 "));

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
    let txt = ask(&snap, &instance(key(1)), RecordType::TXT);
    let RData::TXT(data) = &txt.answers[0].record.data else {
        panic!("not a TXT")
    };
    let allowed = String::from_utf8(data.txt_data[2].to_vec()).unwrap();
    assert!(allowed.len() <= 255, "{}", allowed.len());
    assert!(allowed.starts_with("allowed=10.1.0.0/24,10.1.1.0/24"));
    assert!(!allowed.ends_with(','));
}

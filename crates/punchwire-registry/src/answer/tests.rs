//! Every row of the registry's behaviour, answered from snapshots of in-memory devices.
//! The first test is wgsd's own test table (wgsd_test.go), ported.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, RecordType};
use punchwire_wg::PublicKey;

use super::{answer, Answer};
use crate::fixtures::{key, nets, snapshot, wgsd_device, wgsd_self};
use crate::records::SizedRecord;
use crate::snapshot::{SelfRecord, Snapshot};

const ARRIVAL: &str = "127.0.0.1";

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

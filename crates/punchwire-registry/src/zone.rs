//! The names a registry answers for in its zone: the fixed names the wgsd layout puts in
//! it, built once as DNS names from the checked [`Zone`].

use std::fmt;

use hickory_proto::rr::{LowerName, Name};
use punchwire_control::zone::{Zone, SERVICE_LABELS};
use punchwire_wg::key::LABEL_LEN;

/// The label above a peer's instance name that holds its registered candidates.
pub const CANDIDATES_LABEL: &[u8] = punchwire_control::zone::CANDIDATES_LABEL.as_bytes();

/// The zone `example.com.` with the names the registry answers for in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneNames {
    apex: Name,
    apex_lower: LowerName,
    udp: LowerName,
    service: Name,
    service_lower: LowerName,
    /// `service` in wire form (length-prefixed labels), to match query bytes against.
    service_wire: Vec<u8>,
    /// The apex, `_udp` and `ns1` in wire form, for the same.
    apex_wire: Vec<u8>,
    udp_wire: Vec<u8>,
    nameserver_wire: Vec<u8>,
    nameserver: Name,
    nameserver_lower: LowerName,
    mailbox: Name,
}

impl ZoneNames {
    /// The names of `zone`. A checked zone always makes valid names (its length leaves
    /// room for the longest, a peer's); this is where hickory's `Name` comes in.
    pub fn new(zone: &Zone) -> Self {
        Name::from_ascii(zone.as_str())
            .and_then(Self::from_apex)
            .expect("a checked zone makes valid DNS names")
    }

    fn from_apex(apex: Name) -> Result<Self, hickory_proto::ProtoError> {
        let apex = apex.to_lowercase();
        let udp = Name::from_labels([SERVICE_LABELS[1].as_bytes()])?.append_domain(&apex)?;
        let service = Name::from_labels(SERVICE_LABELS.map(str::as_bytes))?.append_domain(&apex)?;
        let nameserver = Name::from_labels([&b"ns1"[..]])?.append_domain(&apex)?;
        let mailbox = Name::from_labels([&b"postmaster"[..]])?.append_domain(&apex)?;
        Ok(Self {
            service_wire: wire(&service),
            apex_wire: wire(&apex),
            udp_wire: wire(&udp),
            nameserver_wire: wire(&nameserver),
            apex_lower: LowerName::new(&apex),
            udp: LowerName::new(&udp),
            service_lower: LowerName::new(&service),
            nameserver_lower: LowerName::new(&nameserver),
            apex,
            service,
            nameserver,
            mailbox,
        })
    }

    /// `example.com.`
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// `_wireguard._udp.example.com.`: the PTR listing.
    pub fn service(&self) -> &Name {
        &self.service
    }

    /// `ns1.example.com.`: the SOA's primary and the NS target (as wgsd names it).
    pub fn nameserver(&self) -> &Name {
        &self.nameserver
    }

    /// `postmaster.example.com.`: the SOA's mailbox (as wgsd names it).
    pub fn mailbox(&self) -> &Name {
        &self.mailbox
    }

    /// The instance name of a peer label: `<label>._wireguard._udp.example.com.`.
    pub fn instance(&self, label: &[u8]) -> Result<Name, hickory_proto::ProtoError> {
        self.service.prepend_label(label)
    }

    /// The name of a peer's candidates: `_candidates.<label>._wireguard._udp.example.com.`.
    /// It fails only in a zone so long that this name would pass 255 octets (a zone
    /// may leave room for the instance name alone).
    pub fn candidates(&self, label: &[u8]) -> Result<Name, hickory_proto::ProtoError> {
        self.instance(label)?.prepend_label(CANDIDATES_LABEL)
    }

    /// The peer label of a candidates name in lower-case wire form, as a query carries it.
    pub fn candidates_label<'n>(&self, wire: &'n [u8]) -> Option<&'n [u8]> {
        let (&len, rest) = wire.split_first()?;
        let (label, instance) = rest.split_at_checked(usize::from(len))?;
        (label == CANDIDATES_LABEL)
            .then(|| self.instance_label(instance))
            .flatten()
    }

    /// The peer label of an instance name given in lower-case wire form, as a query
    /// carries it: the path of the common question, with no name built.
    pub fn instance_label<'n>(&self, wire: &'n [u8]) -> Option<&'n [u8]> {
        let (&len, rest) = wire.split_first()?;
        let (label, service) = rest.split_at_checked(usize::from(len))?;
        (usize::from(len) == LABEL_LEN && service == self.service_wire.as_slice()).then_some(label)
    }

    /// Where the apex starts in `wire` (a lower-case name in wire form, as a query carries
    /// it) when the name is inside the zone but none of the names the zone always has;
    /// with the label when the name has an instance's shape. The same places as
    /// [`locate`](Self::locate)'s `Unknown` and `Instance`, read off the bytes: the path
    /// of every miss, so that a flood of random names builds no name.
    pub fn below_apex<'n>(&self, wire: &'n [u8]) -> Option<BelowApex<'n>> {
        let apex_at = label_starts(wire).find(|&at| wire[at..] == self.apex_wire[..])?;
        let fixed = [&self.udp_wire, &self.service_wire, &self.nameserver_wire];
        if apex_at == 0 || fixed.iter().any(|name| wire == name.as_slice()) {
            return None;
        }
        let instance = wire
            .split_first()
            .and_then(|(&len, rest)| rest.split_at_checked(usize::from(len)))
            .filter(|(_, service)| *service == self.service_wire.as_slice())
            .map(|(label, _)| label);
        Some(BelowApex { apex_at, instance })
    }

    /// Where `name` sits in this zone.
    pub fn locate<'n>(&self, name: &'n LowerName) -> Place<'n> {
        if !self.apex_lower.zone_of(name) {
            return Place::Outside;
        }
        if name == &self.apex_lower {
            return Place::Apex;
        }
        if name == &self.service_lower {
            return Place::Service;
        }
        if name == &self.udp {
            return Place::EmptyNonTerminal;
        }
        if name == &self.nameserver_lower {
            return Place::Nameserver;
        }
        if name.num_labels() == self.service_lower.num_labels() + 1
            && self.service_lower.zone_of(name)
        {
            if let Some(label) = name.iter().next() {
                return Place::Instance(label);
            }
        }
        if name.num_labels() == self.service_lower.num_labels() + 2
            && self.service_lower.zone_of(name)
        {
            let mut labels = name.iter();
            if let (Some(CANDIDATES_LABEL), Some(label)) = (labels.next(), labels.next()) {
                if label.len() == LABEL_LEN {
                    return Place::Candidates(label);
                }
            }
        }
        Place::Unknown
    }
}

impl fmt::Display for ZoneNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.apex.fmt(f)
    }
}

/// A name below the apex that is none of the zone's fixed names (see
/// [`ZoneNames::below_apex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BelowApex<'n> {
    /// Where the apex's labels start in the name's wire form.
    pub apex_at: usize,
    /// `<label>` of `<label>._wireguard._udp.<zone>`: it may or may not be a peer.
    pub instance: Option<&'n [u8]>,
}

/// `name` in wire form: length-prefixed labels and the root's zero.
fn wire(name: &Name) -> Vec<u8> {
    name.iter()
        .flat_map(|label| std::iter::once(label.len() as u8).chain(label.iter().copied()))
        .chain([0])
        .collect()
}

/// Where each label of a well-formed wire name starts, the root's zero included.
fn label_starts(wire: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut next = Some(0);
    std::iter::from_fn(move || {
        let at = next?;
        let len = usize::from(*wire.get(at)?);
        next = (len != 0).then_some(at + 1 + len);
        Some(at)
    })
}

/// Where a query name falls relative to the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'n> {
    /// Not in this zone at all.
    Outside,
    Apex,
    /// `_udp.<zone>`: exists only because names exist below it (RFC 8020).
    EmptyNonTerminal,
    /// `_wireguard._udp.<zone>`.
    Service,
    /// `ns1.<zone>`.
    Nameserver,
    /// `<label>._wireguard._udp.<zone>`, with the (lower-case) label; it may or may not be
    /// a peer.
    Instance(&'n [u8]),
    /// `_candidates.<label>._wireguard._udp.<zone>`, with the (lower-case) label: a peer's
    /// registered candidates, which it may or may not have.
    Candidates(&'n [u8]),
    /// Some other name inside the zone.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(labels: &[&[u8]]) -> LowerName {
        LowerName::new(&Name::from_labels(labels.iter().copied()).unwrap())
    }

    fn names(zone: &str) -> ZoneNames {
        ZoneNames::new(&Zone::parse(zone).unwrap())
    }

    #[test]
    fn below_apex_reads_the_bytes_as_locate_reads_the_name() {
        let zone = names("example.com");
        let label = b"tl5glqumg5vatrrtyg57hydce55wnfhx7wadwwzhmno4njly4a7q====";
        let cases: [&[&[u8]]; 15] = [
            &[b"example", b"com"],
            &[
                b"_candidates",
                label,
                b"_wireguard",
                b"_udp",
                b"example",
                b"com",
            ],
            &[b"_udp", b"example", b"com"],
            &[b"_wireguard", b"_udp", b"example", b"com"],
            &[b"ns1", b"example", b"com"],
            &[label, b"_wireguard", b"_udp", b"example", b"com"],
            &[b"short", b"_wireguard", b"_udp", b"example", b"com"],
            &[b"x", label, b"_wireguard", b"_udp", b"example", b"com"],
            &[b"x", b"ns1", b"example", b"com"],
            &[b"_tcp", b"example", b"com"],
            &[b"nope", b"example", b"com"],
            &[b"xexample", b"com"],
            &[b"example", b"org"],
            &[b"com"],
            &[],
        ];
        for labels in cases {
            let name = Name::from_labels(labels.iter().copied()).unwrap();
            let bytes = wire(&name);
            let below = zone.below_apex(&bytes);
            match zone.locate(&LowerName::new(&name)) {
                Place::Instance(label) => {
                    assert_eq!(below.and_then(|b| b.instance), Some(label), "{name}")
                }
                Place::Unknown | Place::Candidates(_) => {
                    assert_eq!(below.map(|b| b.instance), Some(None), "{name}")
                }
                place => assert_eq!(below, None, "{name} is {place:?}"),
            }
            if let Some(below) = below {
                assert_eq!(&bytes[below.apex_at..], &zone.apex_wire[..], "{name}");
            }
        }
    }

    #[test]
    fn names_are_built_in_lower_case_under_the_zone() {
        let zone = names("Example.COM");
        assert_eq!(zone.to_string(), "example.com.");
        assert_eq!(zone.service().to_string(), "_wireguard._udp.example.com.");
        assert_eq!(zone.nameserver().to_string(), "ns1.example.com.");
    }

    #[test]
    fn the_longest_zone_still_holds_every_peer_s_name() {
        let mut longest = vec!["a".repeat(60); 4].join(".");
        longest.truncate(punchwire_control::zone::MAX_ZONE_LEN);
        let zone = names(&longest);
        let label = [b'a'; LABEL_LEN];
        assert!(zone.instance(&label).is_ok());
    }

    #[test]
    fn locates_names_including_labels_ending_in_equals() {
        let zone = names("example.com");
        let label = b"tl5glqumg5vatrrtyg57hydce55wnfhx7wadwwzhmno4njly4a7q====";
        let instance = lower(&[label, b"_wireguard", b"_udp", b"example", b"com"]);
        assert_eq!(zone.locate(&instance), Place::Instance(label));
        let wire = [
            &[56u8][..],
            label,
            b"\x0a_wireguard\x04_udp\x07example\x03com\x00",
        ]
        .concat();
        assert_eq!(zone.instance_label(&wire), Some(&label[..]));
        assert_eq!(zone.instance_label(&wire[..wire.len() - 1]), None);
        let other = [
            &[56u8][..],
            label,
            b"\x0a_wireguard\x04_udp\x07example\x03org\x00",
        ]
        .concat();
        assert_eq!(zone.instance_label(&other), None);
        assert_eq!(
            zone.instance_label(b"\x0a_wireguard\x04_udp\x07example\x03com\x00"),
            None
        );
        assert_eq!(zone.locate(&lower(&[b"example", b"com"])), Place::Apex);
        assert_eq!(
            zone.locate(&lower(&[b"_udp", b"example", b"com"])),
            Place::EmptyNonTerminal
        );
        assert_eq!(
            zone.locate(&lower(&[b"_wireguard", b"_udp", b"example", b"com"])),
            Place::Service
        );
        assert_eq!(
            zone.locate(&lower(&[b"nope", b"example", b"com"])),
            Place::Unknown
        );
        assert_eq!(
            zone.locate(&lower(&[
                b"x",
                label,
                b"_wireguard",
                b"_udp",
                b"example",
                b"com"
            ])),
            Place::Unknown
        );
        let candidates = [
            b"_candidates",
            &label[..],
            b"_wireguard",
            b"_udp",
            b"example",
            b"com",
        ];
        assert_eq!(zone.locate(&lower(&candidates)), Place::Candidates(label));
        let bytes = super::wire(&Name::from_labels(candidates).unwrap());
        assert_eq!(zone.candidates_label(&bytes), Some(&label[..]));
        assert_eq!(zone.candidates_label(&bytes[12..]), None);
        assert_eq!(
            zone.candidates(label).unwrap().to_string().replace("\\=", "="),
            "_candidates.tl5glqumg5vatrrtyg57hydce55wnfhx7wadwwzhmno4njly4a7q====._wireguard._udp.example.com."
        );
        assert_eq!(zone.locate(&lower(&[b"example", b"org"])), Place::Outside);
        assert_eq!(zone.locate(&lower(&[b"com"])), Place::Outside);
    }
}

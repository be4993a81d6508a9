//! The zone a registry is authoritative for, and the fixed names the wgsd layout puts in it.

use std::fmt;

use hickory_proto::rr::{LowerName, Name};
use punchwire_wg::key::LABEL_LEN;

/// The service label pair of the wgsd layout: `_wireguard._udp.<zone>`.
pub const SERVICE_LABELS: [&[u8]; 2] = [b"_wireguard", b"_udp"];

/// Why a zone name cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad zone {input:?}: {reason}")]
pub struct ZoneError {
    pub input: String,
    pub reason: String,
}

/// A zone such as `example.com.` with the names the registry answers for in it, built once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    apex: Name,
    apex_lower: LowerName,
    udp: LowerName,
    service: Name,
    service_lower: LowerName,
    /// `service` in wire form (length-prefixed labels), to match query bytes against.
    service_wire: Vec<u8>,
    nameserver: Name,
    nameserver_lower: LowerName,
    mailbox: Name,
}

impl Zone {
    /// Parses `example.com` or `example.com.`; names are kept in lower case.
    pub fn parse(input: &str) -> Result<Self, ZoneError> {
        let err = |reason: &str| ZoneError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed == "." {
            return Err(err(
                "the root zone cannot be served; give a domain such as example.com",
            ));
        }
        let bare = trimmed.strip_suffix('.').unwrap_or(trimmed);
        for label in bare.split('.') {
            if label.is_empty() {
                return Err(err("has an empty label (two dots in a row?)"));
            }
            if label.len() > 63 {
                return Err(err(&format!(
                    "label {label:?} is longer than 63 characters"
                )));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err(&format!(
                    "label {label:?} has a character other than letters, digits, '-' and '_'"
                )));
            }
        }
        let mut apex = Name::from_ascii(trimmed).map_err(|e| err(&e.to_string()))?;
        apex.set_fqdn(true);
        let apex = apex.to_lowercase();
        // The longest name served is <56-char label>._wireguard._udp.<zone>: it must stay
        // within the 255-octet limit of a DNS name.
        let instance_overhead = 1 + 56 + 1 + 10 + 1 + 4;
        if apex.len() + instance_overhead > 254 {
            return Err(err(
                "too long to hold the 56-character peer labels below it",
            ));
        }
        Self::from_apex(apex).map_err(|e| err(&e.to_string()))
    }

    fn from_apex(apex: Name) -> Result<Self, hickory_proto::ProtoError> {
        let udp = Name::from_labels([SERVICE_LABELS[1]])?.append_domain(&apex)?;
        let service = Name::from_labels(SERVICE_LABELS)?.append_domain(&apex)?;
        let nameserver = Name::from_labels([&b"ns1"[..]])?.append_domain(&apex)?;
        let mailbox = Name::from_labels([&b"postmaster"[..]])?.append_domain(&apex)?;
        let service_wire = service
            .iter()
            .flat_map(|label| std::iter::once(label.len() as u8).chain(label.iter().copied()))
            .chain([0])
            .collect();
        Ok(Self {
            service_wire,
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

    /// The peer label of an instance name given in lower-case wire form, as a query
    /// carries it: the path of the common question, with no name built.
    pub fn instance_label<'n>(&self, wire: &'n [u8]) -> Option<&'n [u8]> {
        let (&len, rest) = wire.split_first()?;
        let (label, service) = rest.split_at_checked(usize::from(len))?;
        (usize::from(len) == LABEL_LEN && service == self.service_wire.as_slice()).then_some(label)
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
        Place::Unknown
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.apex.fmt(f)
    }
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
    /// Some other name inside the zone.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(labels: &[&[u8]]) -> LowerName {
        LowerName::new(&Name::from_labels(labels.iter().copied()).unwrap())
    }

    #[test]
    fn parses_with_or_without_the_final_dot_in_lower_case() {
        let zone = Zone::parse("Example.COM").unwrap();
        assert_eq!(zone.to_string(), "example.com.");
        assert_eq!(Zone::parse("example.com.").unwrap(), zone);
        assert_eq!(zone.service().to_string(), "_wireguard._udp.example.com.");
    }

    #[test]
    fn rejects_what_cannot_be_a_zone() {
        for bad in ["", ".", "exa mple.com", "a..b"] {
            let err = Zone::parse(bad).unwrap_err().to_string();
            assert!(err.contains("bad zone"), "{bad:?}: {err}");
        }
        let long = vec!["abcdefghij"; 18].join(".");
        let err = Zone::parse(&long).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn locates_names_including_labels_ending_in_equals() {
        let zone = Zone::parse("example.com").unwrap();
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
        assert_eq!(zone.locate(&lower(&[b"example", b"org"])), Place::Outside);
        assert_eq!(zone.locate(&lower(&[b"com"])), Place::Outside);
    }
}

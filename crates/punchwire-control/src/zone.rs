//! The DNS zone a registry serves and discovery asks, e.g. `example.com.`: checked once,
//! where it is given (the configuration file, `set-config`, a command-line flag), so that
//! nothing later can meet a zone whose names cannot be built.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A peer's label: the base32 of its 32-byte key, with padding (the wgsd layout).
pub const KEY_LABEL_LEN: usize = 56;

/// The service labels every peer's name sits under: `<key>._wireguard._udp.<zone>`.
pub const SERVICE_LABELS: [&str; 2] = ["_wireguard", "_udp"];

/// The label above a peer's instance name that holds its registered candidates (its own
/// addresses, ours, not wgsd's): `_candidates.<key>._wireguard._udp.<zone>`.
pub const CANDIDATES_LABEL: &str = "_candidates";

/// RFC 6763 §11 domain enumeration, as the registry answers it and discovery asks it:
/// `<kind>._dns-sd._udp.<reverse address>` PTR names the zone to browse. The kinds are
/// browse, default browse and legacy browse; discovery asks the first.
pub const BROWSE_KINDS: [&str; 3] = ["b", "db", "lb"];
pub const BROWSE_SERVICE_LABELS: [&str; 2] = ["_dns-sd", "_udp"];

/// A DNS name is at most 255 octets on the wire (RFC 1035 §2.3.4).
const MAX_NAME_OCTETS: usize = 255;

/// The longest zone, in characters without the final dot, that still leaves room for
/// `<56-character key label>._wireguard._udp.` below it: 180.
pub const MAX_ZONE_LEN: usize = MAX_NAME_OCTETS
    - (1 + KEY_LABEL_LEN)
    - (1 + SERVICE_LABELS[0].len())
    - (1 + SERVICE_LABELS[1].len())
    // A name of n characters (no final dot) takes n + 2 octets on the wire: a length
    // octet per label where the text has a dot, one more, and the root's zero.
    - 2;

/// A checked zone, in lower case with its final dot (`example.com.`). Names are matched
/// case-insensitively (RFC 4343), so the case it was written in carries no meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

/// Why a name cannot be a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} cannot be a zone: {problem}")]
pub struct ZoneError {
    pub input: String,
    pub problem: ZoneProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneProblem {
    #[error("the root zone cannot be served; give a domain name such as example.com")]
    Root,
    #[error("it has an empty label (two dots in a row?)")]
    EmptyLabel,
    #[error("label {0:?} is longer than 63 characters")]
    LongLabel(String),
    #[error("label {0:?} may only hold letters, digits, '-' and '_'")]
    BadCharacter(String),
    #[error(
        "it is {len} characters long, and at most {MAX_ZONE_LEN} leave room for a peer's \
         {KEY_LABEL_LEN}-character key label and _wireguard._udp below it (a DNS name is at \
         most {MAX_NAME_OCTETS} octets)"
    )]
    TooLong { len: usize },
}

impl Zone {
    /// Reads `example.com` or `example.com.`, in any case.
    pub fn parse(input: &str) -> Result<Self, ZoneError> {
        let fail = |problem| ZoneError {
            input: input.to_owned(),
            problem,
        };
        let trimmed = input.trim();
        let bare = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if bare.is_empty() {
            return Err(fail(ZoneProblem::Root));
        }
        for label in bare.split('.') {
            if label.is_empty() {
                return Err(fail(ZoneProblem::EmptyLabel));
            }
            if label.len() > 63 {
                return Err(fail(ZoneProblem::LongLabel(label.to_owned())));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(fail(ZoneProblem::BadCharacter(label.to_owned())));
            }
        }
        if bare.len() > MAX_ZONE_LEN {
            return Err(fail(ZoneProblem::TooLong { len: bare.len() }));
        }
        Ok(Self(format!("{}.", bare.to_ascii_lowercase())))
    }

    /// `example.com.`: lower case, with the final dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's labels, from the leftmost: `["example", "com"]`.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.trim_end_matches('.').split('.')
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Zone {
    type Err = ZoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Zone {
    type Error = ZoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> Self {
        zone.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_kept_in_lower_case_with_the_final_dot() {
        let zone = Zone::parse("Example.COM").unwrap();
        assert_eq!(zone.as_str(), "example.com.");
        assert_eq!(Zone::parse("example.com.").unwrap(), zone);
        assert_eq!(zone.labels().collect::<Vec<_>>(), ["example", "com"]);
    }

    #[test]
    fn refuses_what_cannot_be_a_zone_saying_why() {
        for (bad, says) in [
            ("", "root zone"),
            (".", "root zone"),
            ("exa mple.com", "may only hold"),
            ("a..b", "empty label"),
            (&"x".repeat(64), "longer than 63"),
        ] {
            let err = Zone::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    /// The longest name under a zone is a peer's: `<56>._wireguard._udp.<zone>`.
    fn longest_name_octets(zone: &Zone) -> usize {
        let mut octets = 1 + KEY_LABEL_LEN;
        for label in SERVICE_LABELS.into_iter().chain(zone.labels()) {
            octets += 1 + label.len();
        }
        octets + 1
    }

    #[test]
    fn a_zone_is_refused_when_a_peer_s_name_would_not_fit_below_it() {
        // Labels of 60 characters and dots, cut to the length wanted.
        let zone_of = |len: usize| {
            let mut text = vec!["a".repeat(60); 4].join(".");
            text.truncate(len);
            text
        };
        let longest = Zone::parse(&zone_of(MAX_ZONE_LEN)).unwrap();
        assert_eq!(longest_name_octets(&longest), MAX_NAME_OCTETS);

        let err = Zone::parse(&zone_of(MAX_ZONE_LEN + 1)).unwrap_err();
        assert_eq!(err.problem, ZoneProblem::TooLong { len: 181 });
        assert!(err.to_string().contains("56-character key label"), "{err}");
        let err = Zone::parse(&zone_of(200)).unwrap_err().to_string();
        assert!(err.contains("200 characters long"), "{err}");
    }

    #[test]
    fn travels_as_a_string() {
        let zone: Zone = serde_json::from_str("\"Example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), "\"example.com.\"");
        let err = serde_json::from_str::<Zone>("\"a..b\"").unwrap_err();
        assert!(err.to_string().contains("empty label"), "{err}");
    }
}

//! What the service found out by itself about an interface's registries and zone: for
//! an interface configured without them, and for every WireGuard interface no
//! `[[interface]]` names yet (what the window offers to set up with one click).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The zone proposed for registry mode when none is configured. `home.arpa.` is the
/// special-use domain for home networks (RFC 8375): it never clashes with a public
/// zone, and two home servers proposing it to the same mesh agree.
pub const PROPOSED_REGISTRY_ZONE: &str = "punchwire.home.arpa.";

/// How asking the peers' tunnel addresses for their zone (RFC 6763 §11) went, with
/// `text`, the one line every client shows, so that none of them words it anew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Discovery {
    /// Asking now, for the first time.
    Looking { text: String },
    /// These registries named this zone.
    Found {
        #[cfg_attr(test, ts(type = "string[]"))]
        registries: Vec<SocketAddr>,
        zone: String,
        text: String,
    },
    /// No registry was found; `text` says whom it asked and what each answered. Asked
    /// again by itself every little while, so that a registry that comes up later is
    /// found.
    NotFound { text: String },
}

impl Discovery {
    pub fn looking() -> Self {
        Discovery::Looking {
            text: "looking for a registry among the peers…".to_owned(),
        }
    }

    pub fn found(registries: Vec<SocketAddr>, zone: String) -> Self {
        let list: Vec<String> = registries.iter().map(|r| r.ip().to_string()).collect();
        let noun = if registries.len() == 1 {
            "registry"
        } else {
            "registries"
        };
        let text = format!("{noun} {}, zone {zone}", list.join(", "));
        Discovery::Found {
            registries,
            zone,
            text,
        }
    }

    /// `error` is the whole account of what was tried.
    pub fn not_found(error: String) -> Self {
        Discovery::NotFound { text: error }
    }

    /// The one-line account every client shows.
    pub fn text(&self) -> &str {
        match self {
            Discovery::Looking { text }
            | Discovery::Found { text, .. }
            | Discovery::NotFound { text } => text,
        }
    }
}

/// A WireGuard interface the service can see that its configuration does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UnconfiguredInterface {
    pub name: String,
    /// How many peers it has.
    pub peers: usize,
    /// What asking its peers found: with `found`, adding `[[interface]] name = "<name>"`
    /// alone keeps its peers direct.
    pub discovery: Discovery,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_reads_as_the_window_offers_it() {
        let found = Discovery::found(vec!["10.99.0.1:53".parse().unwrap()], "example.com.".into());
        assert_eq!(found.text(), "registry 10.99.0.1, zone example.com.");
        let two = Discovery::found(
            vec![
                "10.98.0.1:53".parse().unwrap(),
                "[fd00::1]:53".parse().unwrap(),
            ],
            "lab.example.".into(),
        );
        assert_eq!(
            two.text(),
            "registries 10.98.0.1, fd00::1, zone lab.example."
        );
    }

    #[test]
    fn every_finding_is_sent_with_its_words() {
        let sent =
            serde_json::to_value(Discovery::not_found("asked 10.99.0.1: refused".into())).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"kind": "not-found", "text": "asked 10.99.0.1: refused"})
        );
        let sent = serde_json::to_value(Discovery::looking()).unwrap();
        assert_eq!(sent["text"], "looking for a registry among the peers…");
    }

    #[test]
    fn the_proposed_zone_is_a_zone() {
        crate::zone::Zone::parse(PROPOSED_REGISTRY_ZONE).unwrap();
    }
}

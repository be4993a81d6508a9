//! What the service found out by itself about an interface's registries and zone: for
//! an interface configured without them, and for every WireGuard interface no
//! `[[interface]]` names yet (what the window offers to set up with one click).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The zone proposed for registry mode when none is configured. `home.arpa.` is the
/// special-use domain for home networks (RFC 8375): it never clashes with a public
/// zone, and two home servers proposing it to the same mesh agree.
pub const PROPOSED_REGISTRY_ZONE: &str = "punchwire.home.arpa.";

/// How asking the peers' tunnel addresses for their zone (RFC 6763 §11) went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Discovery {
    /// Asking now, for the first time.
    Looking,
    /// These registries named this zone.
    Found {
        #[cfg_attr(test, ts(type = "string[]"))]
        registries: Vec<SocketAddr>,
        zone: String,
    },
    /// No registry was found; `error` says what was tried. Asked again by itself every
    /// little while, so that a registry that comes up later is found.
    NotFound { error: String },
}

impl Discovery {
    /// The one-line account every client shows.
    pub fn text(&self) -> String {
        match self {
            Discovery::Looking => "looking for a registry among the peers…".to_owned(),
            Discovery::Found { registries, zone } => {
                let list: Vec<String> = registries.iter().map(|r| r.ip().to_string()).collect();
                let noun = if registries.len() == 1 {
                    "registry"
                } else {
                    "registries"
                };
                format!("{noun} {}, zone {zone}", list.join(", "))
            }
            Discovery::NotFound { error } => error.clone(),
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
        let found = Discovery::Found {
            registries: vec!["10.99.0.1:53".parse().unwrap()],
            zone: "example.com.".into(),
        };
        assert_eq!(found.text(), "registry 10.99.0.1, zone example.com.");
    }

    #[test]
    fn the_proposed_zone_is_a_zone() {
        crate::zone::Zone::parse(PROPOSED_REGISTRY_ZONE).unwrap();
    }
}

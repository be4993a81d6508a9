//! Peers whose endpoint the interface's wg-quick file gives as a DNS name
//! (`Endpoint = home.example.net:51820`). WireGuard itself keeps only the address the
//! name had when wg-quick set the peer up; the name is what the user meant, and
//! [`crate::registry_reresolve`] asks for it again when the registry goes quiet.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use punchwire_wg::PublicKey;

/// An endpoint as a name and a port, as a wg-quick file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedEndpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for NamedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl NamedEndpoint {
    /// `host:port` when `host` is a name: an address literal (`192.0.2.1:51820`,
    /// `[2001:db8::1]:51820`) has nothing to resolve, and a value without a usable port
    /// is one wg-quick would have refused.
    pub fn parse(value: &str) -> Option<Self> {
        let (host, port) = value.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        if host.starts_with('[') || host.parse::<IpAddr>().is_ok() || host.contains(':') {
            return None;
        }
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        valid.then(|| Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// The named endpoints of a wg-quick file's `[Peer]` sections, by the peer's key.
pub fn parse(text: &str) -> HashMap<PublicKey, NamedEndpoint> {
    let mut found = HashMap::new();
    let mut in_peer = false;
    let mut key: Option<PublicKey> = None;
    let mut endpoint: Option<NamedEndpoint> = None;
    let mut finish = |key: Option<PublicKey>, endpoint: Option<NamedEndpoint>| {
        if let (Some(key), Some(endpoint)) = (key, endpoint) {
            found.insert(key, endpoint);
        }
    };
    for line in text.lines() {
        // wg-quick cuts comments at the first `#` anywhere on a line.
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            if in_peer {
                finish(key.take(), endpoint.take());
            }
            in_peer = line.eq_ignore_ascii_case("[peer]");
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if !in_peer {
            continue;
        }
        match name.trim().to_ascii_lowercase().as_str() {
            "publickey" => key = value.trim().parse().ok(),
            "endpoint" => endpoint = NamedEndpoint::parse(value),
            _ => {}
        }
    }
    if in_peer {
        finish(key, endpoint);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTRY: &str = "mvplwow3agnGM8G78+BiJ3tmlPf9gDtbJ2NdxqV44D8=";
    const BOB: &str = "EGy6fmGRUDPeb6/MuTDpOn5S4qkZ3uT4uiGVkqNo8Hw=";

    #[test]
    fn a_peer_named_by_host_is_found_and_one_by_address_is_not() {
        let text = format!(
            "[Interface]\nPrivateKey = x\n# Endpoint = not.a.peer:1\n\n\
             [Peer]\n# Name = registry\nPublicKey = {REGISTRY}\n\
             endpoint = home.example.net:51820 # the home server\n\n\
             [Peer]\nPublicKey = {BOB}\nEndpoint = 203.0.113.9:51820\n"
        );
        let found = parse(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        let registry = &found[&REGISTRY.parse().unwrap()];
        assert_eq!(registry.to_string(), "home.example.net:51820");
    }

    #[test]
    fn only_a_name_with_a_port_is_a_named_endpoint() {
        assert_eq!(
            NamedEndpoint::parse(" vpn.example.org:443 "),
            Some(NamedEndpoint {
                host: "vpn.example.org".into(),
                port: 443
            })
        );
        for literal in [
            "192.0.2.1:51820",
            "[2001:db8::1]:51820",
            "vpn.example.org",
            "vpn.example.org:0",
            "vpn.example.org:http",
            ":51820",
            "bad name.example:1",
        ] {
            assert_eq!(NamedEndpoint::parse(literal), None, "{literal}");
        }
    }
}

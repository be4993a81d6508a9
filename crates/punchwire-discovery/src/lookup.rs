//! What a registry says about one peer: the SRV record of its key in the wgsd layout,
//! followed to the address of the SRV target.
//!
//! [`AnswerSource`] is the seam: [`DnsSource`] asks real DNS servers, and
//! [`crate::MemorySource`] answers from a table, so that the engine can be tested
//! without sockets.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use punchwire_control::defaults;
use punchwire_control::zone::Zone;
use punchwire_wg::PublicKey;
use tokio::sync::Semaphore;

use crate::exchange::{ask, DnsError};

/// How long one DNS question may take (see [`defaults::DEFAULT_QUERY_TIMEOUT`]).
pub const DEFAULT_QUERY_TIMEOUT: Duration = defaults::DEFAULT_QUERY_TIMEOUT.get();

/// How many questions may be in flight at once, across all peers: each one holds a
/// socket, and a device with thousands of peers must not run out of descriptors.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// A registry's answer for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The registry publishes this address for this key. Not yet checked: that is the
    /// policy's job.
    Found(PublishedEndpoint),
    /// The registry has no record for the key.
    NoRecord,
    /// The registry could not be asked, or did not answer.
    Unreachable(String),
    /// The registry answered, but the answer cannot be used.
    Rejected(String),
}

/// What a registry's records say about one key, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedEndpoint {
    /// The key the SRV record is named after.
    pub key: PublicKey,
    /// The SRV port and the A/AAAA address of the SRV target.
    pub addr: SocketAddr,
}

/// Where the answers come from.
pub trait AnswerSource: Send + Sync + 'static {
    /// Asks `registry` where the peer with `key` is.
    fn lookup(&self, registry: SocketAddr, key: PublicKey) -> impl Future<Output = Lookup> + Send;

    /// The serial of the zone's SOA at `registry`: it changes whenever any record does.
    fn soa_serial(
        &self,
        registry: SocketAddr,
    ) -> impl Future<Output = Result<u32, DnsError>> + Send;

    /// The candidates `registry` publishes for `key` (see [`crate::candidates`]): none
    /// when it has none, or cannot say. A source without candidates has none.
    fn candidates(
        &self,
        registry: SocketAddr,
        key: PublicKey,
    ) -> impl Future<Output = Vec<SocketAddr>> + Send {
        let _ = (registry, key);
        std::future::ready(Vec::new())
    }
}

/// Asks real DNS servers, each question bounded by a timeout.
#[derive(Clone)]
pub struct DnsSource {
    zone: Name,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
}

impl DnsSource {
    /// Asks about names under `zone`, waiting at most `timeout` for each answer.
    pub fn new(zone: &Zone, timeout: Duration) -> Self {
        // A checked zone is a valid DNS name with room below it for every peer's name,
        // so the names built from it below cannot fail either.
        let zone = Name::from_ascii(zone.as_str()).expect("a checked zone is a DNS name");
        Self {
            zone,
            timeout,
            in_flight: Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
        }
    }

    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// `<b32>._wireguard._udp.<zone>`. Built from raw labels: the base32 label ends in
    /// `=`, which hickory's name parser refuses.
    pub fn instance_name(&self, key: &PublicKey) -> Name {
        let label = key.to_dns_label();
        let labels: [&[u8]; 3] = [label.as_bytes(), b"_wireguard", b"_udp"];
        Name::from_labels(labels)
            .and_then(|n| n.append_domain(&self.zone))
            .expect("a key label and a valid zone always make a valid name")
    }

    async fn ask(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Message, DnsError> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        ask(server, name, rtype, self.timeout).await
    }

    async fn resolve(&self, registry: SocketAddr, key: PublicKey) -> Lookup {
        let name = self.instance_name(&key);
        let answer = match self.ask(registry, &name, RecordType::SRV).await {
            Ok(answer) => answer,
            Err(
                e @ (DnsError::Malformed { .. }
                | DnsError::Undecodable { .. }
                | DnsError::Unencodable { .. }),
            ) => return Lookup::Rejected(e.to_string()),
            Err(e) => return Lookup::Unreachable(e.to_string()),
        };
        match answer.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Lookup::NoRecord,
            code => {
                return Lookup::Unreachable(format!(
                    "{registry} answered {code} to {} SRV",
                    text(&name)
                ))
            }
        }
        let Some((owner, port, target)) = srv_of(&answer, &name) else {
            return Lookup::NoRecord;
        };
        if target.is_root() {
            // RFC 2782: a target of "." means "decidedly not available".
            return Lookup::NoRecord;
        }
        let key = match owner_key(&owner) {
            Ok(key) => key,
            Err(why) => return Lookup::Rejected(why),
        };
        let ip = match address_in(&answer, &target) {
            Some(ip) => ip,
            None => match self.address_of(registry, &target).await {
                Ok(Some(ip)) => ip,
                Ok(None) => {
                    return Lookup::Rejected(format!(
                        "the SRV target {} has no A or AAAA record",
                        text(&target)
                    ))
                }
                Err(e) => return Lookup::Unreachable(e.to_string()),
            },
        };
        Lookup::Found(PublishedEndpoint {
            key,
            addr: SocketAddr::new(ip, port),
        })
    }

    /// Asks for the SRV target's address when the additional section did not carry it
    /// (old wgsd put it at `<b32>.<zone>`; any server may leave additionals out).
    async fn address_of(
        &self,
        registry: SocketAddr,
        target: &Name,
    ) -> Result<Option<IpAddr>, DnsError> {
        for rtype in [RecordType::A, RecordType::AAAA] {
            let answer = self.ask(registry, target, rtype).await?;
            if let Some(ip) = address_in(&answer, target) {
                return Ok(Some(ip));
            }
        }
        Ok(None)
    }
}

impl AnswerSource for DnsSource {
    fn lookup(&self, registry: SocketAddr, key: PublicKey) -> impl Future<Output = Lookup> + Send {
        self.resolve(registry, key)
    }

    /// One SRV question at the peer's candidates name: the port from the SRV (which
    /// points at that same name) and the addresses from the additional section. Anything
    /// else (no such name, a registry without candidates, a failure) is no candidates:
    /// the mapping still works as before.
    async fn candidates(&self, registry: SocketAddr, key: PublicKey) -> Vec<SocketAddr> {
        let Some(name) = crate::candidates::candidate_name(&self.zone, &key) else {
            return Vec::new();
        };
        let answer = match self.ask(registry, &name, RecordType::SRV).await {
            Ok(answer) if answer.metadata.response_code == ResponseCode::NoError => answer,
            Ok(_) => return Vec::new(),
            Err(e) => {
                tracing::debug!(%registry, "no candidates for {key}: {e}");
                return Vec::new();
            }
        };
        let Some((_, port, target)) = srv_of(&answer, &name).filter(|(_, _, t)| *t == name) else {
            return Vec::new();
        };
        let mut found: Vec<SocketAddr> = answer
            .answers
            .iter()
            .chain(&answer.additionals)
            .filter(|record| record.name == target)
            .filter_map(|record| match &record.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        found.dedup();
        found.truncate(crate::candidates::MAX_CANDIDATES);
        found
    }

    async fn soa_serial(&self, registry: SocketAddr) -> Result<u32, DnsError> {
        let what = format!("{} SOA", text(&self.zone));
        let answer = self.ask(registry, &self.zone, RecordType::SOA).await?;
        if answer.metadata.response_code != ResponseCode::NoError {
            return Err(DnsError::Malformed {
                server: registry,
                what,
                problem: format!(
                    "answered {}: is it serving this zone?",
                    answer.metadata.response_code
                ),
            });
        }
        answer
            .answers
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) if r.name == self.zone => Some(soa.serial),
                _ => None,
            })
            .ok_or_else(|| DnsError::Malformed {
                server: registry,
                what,
                problem: "no SOA record in the answer".into(),
            })
    }
}

/// A name as people write it, `=` and all (hickory's own rendering escapes it), safe to
/// show: labels are any bytes a registry sent, and this text goes to logs, events and
/// terminals, so control characters are escaped.
pub fn text(name: &Name) -> String {
    let mut out = String::new();
    for label in name.iter() {
        out.push_str(&String::from_utf8_lossy(label));
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    punchwire_control::escape::display_safe(&out).into_owned()
}

/// The SRV record for `name`: its owner, port and target. With several, the lowest
/// priority wins (RFC 2782); wgsd publishes one.
fn srv_of(answer: &Message, name: &Name) -> Option<(Name, u16, Name)> {
    answer
        .answers
        .iter()
        .filter(|r| &r.name == name)
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some((srv.priority, r.name.clone(), srv.port, srv.target.clone())),
            _ => None,
        })
        .min_by_key(|(priority, ..)| *priority)
        .map(|(_, owner, port, target)| (owner, port, target))
}

/// The key an SRV record is named after: the first label of `<b32>._wireguard._udp.Z`.
fn owner_key(owner: &Name) -> Result<PublicKey, String> {
    let label = owner
        .iter()
        .next()
        .ok_or_else(|| "the SRV record is owned by the root name".to_owned())?;
    PublicKey::from_dns_label_bytes(label).map_err(|e| format!("the SRV owner: {e}"))
}

/// An A or AAAA record for `target` anywhere in the answer (RFC 2782 asks servers to put
/// them in the additional section; some put them in the answer).
fn address_in(answer: &Message, target: &Name) -> Option<IpAddr> {
    answer
        .answers
        .iter()
        .chain(answer.additionals.iter())
        .filter(|r| &r.name == target)
        .find_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_carry_the_padded_label() {
        let source = DnsSource::new(&"example.com".parse().unwrap(), DEFAULT_QUERY_TIMEOUT);
        let key: PublicKey = "xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="
            .parse()
            .unwrap();
        assert_eq!(
            text(&source.instance_name(&key)),
            "yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha====._wireguard._udp.example.com."
        );
        assert_eq!(owner_key(&source.instance_name(&key)), Ok(key));
    }

    #[test]
    fn names_from_a_registry_cannot_steer_a_terminal_or_forge_a_log_line() {
        let name = Name::from_labels([b"evil\x1b[2J\nINFO all fine".as_ref(), b"example"]).unwrap();
        assert_eq!(text(&name), "evil\\u{1b}[2J\\nINFO all fine.example.");
    }

    #[test]
    fn the_longest_zone_still_names_every_peer() {
        let mut longest = vec!["a".repeat(60); 4].join(".");
        longest.truncate(punchwire_control::zone::MAX_ZONE_LEN);
        let source = DnsSource::new(&longest.parse().unwrap(), DEFAULT_QUERY_TIMEOUT);
        let key: PublicKey = "xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="
            .parse()
            .unwrap();
        assert!(
            text(&source.instance_name(&key)).ends_with(&format!("._wireguard._udp.{longest}."))
        );
    }
}

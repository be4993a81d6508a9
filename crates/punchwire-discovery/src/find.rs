//! Finding a device's registries and their zone when the user gave only the interface.
//!
//! A registry is the peer whose tunnel address answers DNS, and a registry names the zone
//! it serves for that address (RFC 6763 §11 domain enumeration). So the candidates are the
//! single addresses in the peers' AllowedIPs (a /32 or /128 is one host behind the
//! tunnel), each is asked `b._dns-sd._udp.<its reverse name> PTR`, and those that answer
//! are the registries.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use punchwire_control::defaults::DNS_PORT;
use punchwire_control::zone::{Zone, BROWSE_KINDS, BROWSE_SERVICE_LABELS};
use punchwire_wg::{Backend, BackendError, Device};
use tokio::task::JoinSet;

use crate::exchange::ask;

/// How many candidates are asked at once: every peer of a mesh may be one, and most do
/// not run DNS, so each of those costs a whole timeout.
const IN_FLIGHT: usize = 64;

/// What asking the candidates found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The registries, in the device's peer order.
    pub registries: Vec<SocketAddr>,
    pub zone: Zone,
}

/// One candidate asked, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub server: SocketAddr,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Zone(Zone),
    /// Answered, but named no zone (another DNS server, or a registry of an older kind).
    NoZone(ResponseCode),
    /// No answer, or no usable one.
    Failed(String),
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Zone(zone) => write!(f, "{} named {zone}", self.server),
            Outcome::NoZone(rcode) => write!(f, "{} answered {rcode} with no zone", self.server),
            Outcome::Failed(why) => write!(f, "{why}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("cannot read the peers of {device}")]
    Device {
        device: String,
        #[source]
        source: BackendError,
    },
    #[error(
        "no peer of {device} has a single tunnel address (a /32 or /128 in its AllowedIPs) \
         that could be a registry"
    )]
    NoCandidates { device: String },
    #[error(
        "no peer of {device} named a zone when asked b._dns-sd._udp PTR at its tunnel \
         address ({})",
        list(.tried)
    )]
    NoneAnswered { device: String, tried: Vec<Tried> },
    #[error("the registries of {device} name different zones ({})", list(.tried))]
    Disagree { device: String, tried: Vec<Tried> },
}

impl FindError {
    /// What the user can give instead of what was not found, in the words of the place
    /// they give it: `registries` and `zone` name the CLI's flags or the config's keys.
    pub fn remedy(&self, registries: &str, zone: &str) -> String {
        match self {
            FindError::Device { .. } => {
                "check that the interface exists and is up, then try again".to_owned()
            }
            FindError::NoCandidates { .. } | FindError::NoneAnswered { .. } => {
                format!("name the registry with {registries} and the zone with {zone}")
            }
            FindError::Disagree { .. } => format!("choose one with {zone}"),
        }
    }
}

fn list(tried: &[Tried]) -> String {
    tried
        .iter()
        .map(Tried::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The single addresses behind the tunnel, as DNS servers on port 53: where a registry of
/// `device` could be.
pub fn candidates(device: &Device) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    for net in device.peers.iter().flat_map(|p| &p.allowed_ips) {
        let single = net.prefix_len() == net.max_prefix_len();
        let address = SocketAddr::new(net.addr(), DNS_PORT);
        if single && !seen.contains(&address) {
            seen.push(address);
        }
    }
    seen
}

/// The registries and zone of `device`, found by asking `registries` when given, else
/// every candidate among its peers ([`candidates`]); with `zone` given, only registries
/// naming it count.
pub async fn find_on_device(
    backend: &Backend,
    device: &str,
    registries: &[SocketAddr],
    zone: Option<&Zone>,
    timeout: Duration,
) -> Result<(Found, usize), FindError> {
    let servers = if registries.is_empty() {
        let read = backend
            .device(device)
            .await
            .map_err(|source| FindError::Device {
                device: device.to_owned(),
                source,
            })?;
        candidates(&read)
    } else {
        registries.to_vec()
    };
    let found = find(device, &servers, zone, timeout).await?;
    Ok((found, servers.len()))
}

/// Asks each of `servers` which zone it serves for its own address. With `zone` given,
/// only servers naming that zone count (flags win; the rest is checked against them).
pub async fn find(
    device: &str,
    servers: &[SocketAddr],
    zone: Option<&Zone>,
    timeout: Duration,
) -> Result<Found, FindError> {
    if servers.is_empty() {
        return Err(FindError::NoCandidates {
            device: device.to_owned(),
        });
    }
    let tried = ask_all(servers, timeout).await;
    let mut zones: Vec<&Zone> = Vec::new();
    for tried in &tried {
        if let Outcome::Zone(named) = &tried.outcome {
            if zone.is_none_or(|z| z == named) && !zones.contains(&named) {
                zones.push(named);
            }
        }
    }
    match zones.as_slice() {
        [] => Err(FindError::NoneAnswered {
            device: device.to_owned(),
            tried,
        }),
        [zone] => Ok(Found {
            registries: tried
                .iter()
                .filter(|t| t.outcome == Outcome::Zone((*zone).clone()))
                .map(|t| t.server)
                .collect(),
            zone: (*zone).clone(),
        }),
        _ => Err(FindError::Disagree {
            device: device.to_owned(),
            tried,
        }),
    }
}

/// Every server asked, at most [`IN_FLIGHT`] at a time, in the order given.
async fn ask_all(servers: &[SocketAddr], timeout: Duration) -> Vec<Tried> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; servers.len()];
    let mut asking = JoinSet::new();
    let mut next = 0;
    while next < servers.len() || !asking.is_empty() {
        while next < servers.len() && asking.len() < IN_FLIGHT {
            let server = servers[next];
            let at = next;
            asking.spawn(async move { (at, ask_one(server, timeout).await) });
            next += 1;
        }
        if let Some(Ok((at, outcome))) = asking.join_next().await {
            outcomes[at] = Some(outcome);
        }
    }
    servers
        .iter()
        .zip(outcomes)
        .map(|(&server, outcome)| Tried {
            server,
            outcome: outcome.unwrap_or_else(|| Outcome::Failed(format!("{server}: not asked"))),
        })
        .collect()
}

async fn ask_one(server: SocketAddr, timeout: Duration) -> Outcome {
    let name = browse_name(server.ip());
    let message = match ask(server, &name, RecordType::PTR, timeout).await {
        Ok(message) => message,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let named = message
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::PTR(ptr) if record.name == name => Some(ptr.0.clone()),
            _ => None,
        });
    match named {
        Some(domain) => match Zone::parse(&domain.to_ascii()) {
            Ok(zone) => Outcome::Zone(zone),
            Err(error) => Outcome::Failed(format!("{server} named {domain}, not a zone: {error}")),
        },
        None => Outcome::NoZone(message.metadata.response_code),
    }
}

/// `b._dns-sd._udp.<reverse name of ip>`.
fn browse_name(ip: IpAddr) -> Name {
    let [service, proto] = BROWSE_SERVICE_LABELS;
    Name::from_labels([BROWSE_KINDS[0], service, proto])
        .and_then(|prefix| prefix.append_domain(&Name::from(ip)))
        .expect("a reverse name leaves room for three short labels")
}

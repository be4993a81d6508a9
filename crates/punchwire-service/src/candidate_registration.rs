//! Keeps this peer's candidates (its LAN and global IPv6 addresses with its listen port,
//! see [`punchwire_discovery::candidates`]) registered with each of its registries while
//! discovery runs: sent at once, again when they change (looked at when this machine's
//! addresses change, and every [`LOOK_EVERY`] in case that went unnoticed), and again
//! well before the registry's lease ends. A pause stops it; the registry then lets the
//! set expire.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use punchwire_control::error_line::one_line;
use punchwire_control::zone::Zone;
use punchwire_discovery::candidates::{candidate_name, gather, register, registration};
use punchwire_discovery::network_watch::NetworkWatch;
use punchwire_wg::{local_addresses, Backend};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::event_log::EventLog;
use crate::interface_task::Wanted;

/// How often this machine's addresses are read: a change is registered this soon.
pub const LOOK_EVERY: Duration = Duration::from_secs(10);
/// How often an unchanged set is sent again: a third of the registry's lease (180 s by
/// default), so that two lost UPDATEs in a row still leave it served.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How long one UPDATE may take.
const TIMEOUT: Duration = Duration::from_secs(3);

pub struct Registrar {
    pub iface: String,
    pub backend: Backend,
    pub log: Arc<EventLog>,
    pub registries: Vec<SocketAddr>,
    pub zone: Zone,
}

impl Registrar {
    /// Registers whenever discovery is wanted to run, until it is wanted to stop.
    pub async fn run(self, mut wanted: watch::Receiver<Wanted>) {
        let zone = Name::from_ascii(self.zone.as_str()).expect("a checked zone is a DNS name");
        let mut registries: Vec<Registration> = self
            .registries
            .iter()
            .map(|&server| Registration::new(server))
            .collect();
        // A new address is registered as soon as it comes up, not at the next look.
        let mut network = NetworkWatch::new();
        loop {
            // Copied out: the borrow must not be held across the look's awaits.
            let now_wanted = *wanted.borrow_and_update();
            match now_wanted {
                Wanted::Stop => return,
                Wanted::Pause => {}
                Wanted::Run => self.look(&zone, &mut registries).await,
            }
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = network.changed() => {}
                changed = wanted.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Reads the device and this machine's addresses once, and sends the set to every
    /// registry it is due at.
    async fn look(&self, zone: &Name, registries: &mut [Registration]) {
        let iface = self.iface.as_str();
        let device = match self.backend.device(iface).await {
            Ok(device) => device,
            // Discovery says so in the status; nothing to register without the device.
            Err(e) => return tracing::debug!("{iface}: no candidates registered: {e}"),
        };
        let (Some(key), Some(port)) = (device.public_key, device.listen_port) else {
            return tracing::debug!("{iface}: no key or listen port yet, no candidates");
        };
        let Some(name) = candidate_name(zone, &key) else {
            return tracing::debug!("{iface}: the zone is too long for candidates");
        };
        let local = match local_addresses(iface) {
            Ok(local) => local,
            Err(e) => return tracing::warn!("{iface}: cannot read this machine's addresses: {e}"),
        };
        let candidates = gather(&local, port);
        let now = Instant::now();
        for registry in registries.iter_mut() {
            if !registry.due(&candidates, now) {
                continue;
            }
            let update = registration(zone, &name, &candidates);
            let result = register(registry.server, &update, TIMEOUT).await;
            let result = result.map_err(|e| Failure {
                said: one_line(&e),
                refused: e.is_refusal(),
            });
            let said = registry.record(&candidates, result, now);
            if let Some(said) = said {
                self.say(registry.server, said);
            }
        }
    }

    fn say(&self, registry: SocketAddr, said: Said) {
        let iface = self.iface.as_str();
        match said {
            Said::Registered(candidates) => {
                let list: Vec<String> = candidates.iter().map(ToString::to_string).collect();
                tracing::info!(
                    "{iface}: registered candidates [{}] with {registry}",
                    list.join(", ")
                );
                self.log.publish(json!({
                    "type": "candidates-registered",
                    "iface": iface,
                    "registry": registry,
                    "candidates": list,
                }));
            }
            Said::NotRegistered(error) => {
                tracing::warn!("{iface}: candidates not registered: {error}");
                self.log.publish(json!({
                    "type": "candidates-not-registered",
                    "iface": iface,
                    "registry": registry,
                    "error": error,
                }));
            }
        }
    }
}

/// What one registry was last sent, and how that went.
#[derive(Debug)]
struct Registration {
    server: SocketAddr,
    /// The set the registry holds, as far as we know, and since when.
    held: Option<(Vec<SocketAddr>, Instant)>,
    /// The last attempt that failed: its set, when, and how.
    failed: Option<(Vec<SocketAddr>, Instant, Failure)>,
}

/// A registration that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    said: String,
    /// The registry answered no: asked again at the refresh pace, not at every look.
    refused: bool,
}

/// What is worth a line in the log and an event: a change, not a repetition.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Registered(Vec<SocketAddr>),
    NotRegistered(String),
}

impl Registration {
    fn new(server: SocketAddr) -> Self {
        Self {
            server,
            held: None,
            failed: None,
        }
    }

    /// Whether `candidates` should be sent now: a set the registry does not hold yet
    /// (but a set it refused waits [`REFRESH_EVERY`] before the next try; one it did
    /// not answer is tried at the next look), or a held set whose refresh is due.
    fn due(&self, candidates: &[SocketAddr], now: Instant) -> bool {
        if let Some((set, at, failure)) = &self.failed {
            if failure.refused && set == candidates && now < *at + REFRESH_EVERY {
                return false;
            }
        }
        match &self.held {
            Some((set, at)) if set == candidates => now >= *at + REFRESH_EVERY,
            _ => true,
        }
    }

    /// Records the outcome of sending `candidates`, and returns what to say of it.
    fn record(
        &mut self,
        candidates: &[SocketAddr],
        result: Result<(), Failure>,
        now: Instant,
    ) -> Option<Said> {
        match result {
            Ok(()) => {
                let changed = self.failed.is_some()
                    || self.held.as_ref().is_none_or(|(set, _)| set != candidates);
                self.held = Some((candidates.to_vec(), now));
                self.failed = None;
                changed.then(|| Said::Registered(candidates.to_vec()))
            }
            Err(failure) => {
                let new = self
                    .failed
                    .as_ref()
                    .is_none_or(|(_, _, before)| before.said != failure.said);
                let said = failure.said.clone();
                self.failed = Some((candidates.to_vec(), now, failure));
                new.then_some(Said::NotRegistered(said))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addrs: &[&str]) -> Vec<SocketAddr> {
        addrs.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_set_is_sent_at_once_then_on_change_and_on_refresh() {
        let start = Instant::now();
        let lan = set(&["192.168.1.5:51820"]);
        let mut r = Registration::new("10.99.0.1:53".parse().unwrap());
        assert!(r.due(&lan, start), "nothing is held yet");
        assert_eq!(
            r.record(&lan, Ok(()), start),
            Some(Said::Registered(lan.clone()))
        );
        assert!(!r.due(&lan, start + LOOK_EVERY), "held and fresh");
        assert!(r.due(&lan, start + REFRESH_EVERY), "the refresh");
        assert_eq!(
            r.record(&lan, Ok(()), start + REFRESH_EVERY),
            None,
            "a refresh is not news"
        );
        let moved = set(&["192.168.7.5:51820"]);
        assert!(
            r.due(&moved, start + REFRESH_EVERY + LOOK_EVERY),
            "a change"
        );
    }

    #[test]
    fn a_failure_is_said_once_and_retried_at_the_refresh_pace() {
        let start = Instant::now();
        let lan = set(&["192.168.1.5:51820"]);
        let mut r = Registration::new("10.99.0.1:53".parse().unwrap());
        let refused = || {
            Err(Failure {
                said: "10.99.0.1:53 did not take the candidates: REFUSED".to_owned(),
                refused: true,
            })
        };
        assert!(matches!(
            r.record(&lan, refused(), start),
            Some(Said::NotRegistered(_))
        ));
        assert!(!r.due(&lan, start + LOOK_EVERY), "not every look");
        assert!(r.due(&lan, start + REFRESH_EVERY));
        assert_eq!(r.record(&lan, refused(), start + REFRESH_EVERY), None);
        // A new set is worth a try at once; success after failure is said.
        let moved = set(&["192.168.7.5:51820"]);
        assert!(r.due(&moved, start + REFRESH_EVERY + LOOK_EVERY));
        assert_eq!(
            r.record(&moved, Ok(()), start + REFRESH_EVERY + LOOK_EVERY),
            Some(Said::Registered(moved))
        );
    }

    #[test]
    fn a_registry_that_did_not_answer_is_asked_again_at_the_next_look() {
        let start = Instant::now();
        let lan = set(&["192.168.1.5:51820"]);
        let mut r = Registration::new("10.99.0.1:53".parse().unwrap());
        let silent = Failure {
            said: "10.99.0.1:53 did not answer within 3s".to_owned(),
            refused: false,
        };
        r.record(&lan, Err(silent), start);
        assert!(r.due(&lan, start + LOOK_EVERY));
    }
}

//! When to ask a registry's name again, and what to do with the answer: pure functions
//! of what was read and when, so that every rule is tested with a chosen `now`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// How often the name is asked again while the registry stays quiet: a home router's
/// dynamic DNS update takes seconds to minutes, and one query per 30 s costs nothing.
pub const RETRY_WHILE_QUIET: Duration = Duration::from_secs(30);

/// What has been asked of one registry peer's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// Whether the name was asked since the service started.
    once: bool,
    /// When it was last asked while the registry was quiet; cleared when it is not, so
    /// that the next quiet spell asks at once.
    while_quiet: Option<SystemTime>,
}

impl Asked {
    /// Whether to ask now: once at start, whatever the registry's state (it is logged,
    /// so a user sees what the name gives); then when it goes quiet, and every
    /// [`RETRY_WHILE_QUIET`] while it stays so.
    pub fn due(&self, quiet: bool, now: SystemTime) -> bool {
        if !self.once {
            return true;
        }
        quiet
            && self.while_quiet.is_none_or(|at| {
                now.duration_since(at).unwrap_or(Duration::ZERO) >= RETRY_WHILE_QUIET
            })
    }

    /// Whether the name has been asked since the service started.
    pub fn once(&self) -> bool {
        self.once
    }

    /// Notes the state at a read, and that the name is asked now if `asking`.
    pub fn note(&mut self, quiet: bool, asking: bool, now: SystemTime) {
        if !quiet {
            self.while_quiet = None;
        }
        if asking {
            self.once = true;
            if quiet {
                self.while_quiet = Some(now);
            }
        }
    }
}

/// The endpoint to set, if any: only while the registry is quiet (a working path is
/// never moved), and only when the current endpoint is not among the name's addresses
/// (a name with several addresses never makes the endpoint hop between them). Among
/// the answers, the first of the current endpoint's family, as a path of that family
/// is known to exist here; else the first.
pub fn new_endpoint(
    current: Option<SocketAddr>,
    port: u16,
    resolved: &[IpAddr],
    quiet: bool,
) -> Option<SocketAddr> {
    if !quiet || resolved.is_empty() {
        return None;
    }
    let resolved: Vec<IpAddr> = resolved.iter().map(|ip| ip.to_canonical()).collect();
    if let Some(current) = current {
        if current.port() == port && resolved.contains(&current.ip().to_canonical()) {
            return None;
        }
    }
    let same_family = current.and_then(|c| {
        let v4 = c.ip().to_canonical().is_ipv4();
        resolved.iter().find(|ip| ip.is_ipv4() == v4)
    });
    let ip = same_family.unwrap_or(&resolved[0]);
    Some(SocketAddr::new(*ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn asked_once_at_start_then_when_quiet_and_every_30_s_while_quiet() {
        let mut asked = Asked::default();
        assert!(
            asked.due(false, at(0)),
            "once at start, even when all is well"
        );
        asked.note(false, true, at(0));
        assert!(
            !asked.due(false, at(500)),
            "a registry that answers is not asked about"
        );
        assert!(asked.due(true, at(600)), "going quiet asks at once");
        asked.note(true, true, at(600));
        assert!(!asked.due(true, at(629)));
        assert!(asked.due(true, at(630)));
        asked.note(true, true, at(630));
        // Back, then quiet again a moment later: asked at once, not 30 s after the last.
        asked.note(false, false, at(640));
        assert!(asked.due(true, at(645)));
    }

    #[test]
    fn a_quiet_registry_moves_to_the_address_its_name_gives() {
        assert_eq!(
            new_endpoint(
                Some(addr("192.0.2.10:51820")),
                51820,
                &[ip("198.51.100.77")],
                true
            ),
            Some(addr("198.51.100.77:51820"))
        );
        // A peer wg-quick could not set up at boot (the name did not resolve then).
        assert_eq!(
            new_endpoint(None, 51820, &[ip("192.0.2.20")], true),
            Some(addr("192.0.2.20:51820"))
        );
    }

    #[test]
    fn a_working_path_is_never_moved() {
        assert_eq!(
            new_endpoint(
                Some(addr("192.0.2.10:51820")),
                51820,
                &[ip("192.0.2.20")],
                false
            ),
            None
        );
    }

    #[test]
    fn an_endpoint_among_the_answers_stays_and_no_answer_changes_nothing() {
        let current = Some(addr("192.0.2.10:51820"));
        let both = [ip("192.0.2.20"), ip("192.0.2.10")];
        assert_eq!(new_endpoint(current, 51820, &both, true), None);
        assert_eq!(
            new_endpoint(current, 51820, &[ip("::ffff:192.0.2.10")], true),
            None,
            "the same address written as IPv4-mapped IPv6"
        );
        assert_eq!(new_endpoint(current, 51820, &[], true), None);
        // The same address on another port is another endpoint.
        assert_eq!(
            new_endpoint(current, 51821, &[ip("192.0.2.10")], true),
            Some(addr("192.0.2.10:51821"))
        );
    }

    #[test]
    fn the_current_family_is_preferred() {
        let answers = [ip("2001:db8::20"), ip("192.0.2.20")];
        assert_eq!(
            new_endpoint(Some(addr("192.0.2.10:51820")), 51820, &answers, true),
            Some(addr("192.0.2.20:51820"))
        );
        assert_eq!(
            new_endpoint(None, 51820, &answers, true),
            Some(addr("[2001:db8::20]:51820"))
        );
    }
}

//! Tells the driver when this machine's addresses change (a new network, a DHCP lease,
//! a cable or Wi-Fi switch): its NAT mappings then change too, and every peer is looked
//! up again at once rather than at the next serial change. Waking from sleep is told by
//! the core itself, from the clocks.

use std::collections::HashSet;
use std::net::IpAddr;

use if_watch::{IfEvent, IpNet};
use punchwire_wg::local_addresses;

/// The machine's addresses as the operating system reports their changes (netlink on
/// Linux, SystemConfiguration on macOS, IP Helper on Windows).
pub struct NetworkWatch {
    watcher: Option<if_watch::tokio::IfWatcher>,
    /// The addresses seen so far: the watcher first reports every existing address as
    /// new, which is no change.
    known: HashSet<IpAddr>,
}

impl NetworkWatch {
    /// Starts watching; when the system cannot be watched, says so once and waits
    /// forever instead (waking from sleep and the serial polls still move things on).
    pub fn new() -> Self {
        let watcher = if_watch::tokio::IfWatcher::new()
            .inspect_err(|e| {
                tracing::warn!(
                    "cannot watch this machine's addresses ({e}): a move is noticed at the next serial change instead"
                )
            })
            .ok();
        // The addresses as of now, read apart from the watcher, whose own list fills
        // only as its first reports arrive.
        let known = local_addresses("")
            .map(|local| local.host.into_iter().collect())
            .unwrap_or_default();
        Self { watcher, known }
    }

    /// The next change worth a new look, in words, e.g. "192.0.2.7/24 came up".
    pub async fn changed(&mut self) -> String {
        loop {
            let Some(watcher) = self.watcher.as_mut() else {
                return std::future::pending().await;
            };
            let event = match std::future::poll_fn(|cx| watcher.poll_if_event(cx)).await {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!("stopped watching this machine's addresses: {e}");
                    self.watcher = None;
                    continue;
                }
            };
            if let Some(what) = self.note(event) {
                return what;
            }
        }
    }

    /// Takes in one event; says what changed when it is a change that can move a
    /// mapping: not a known address reported again, not loopback or link-local.
    fn note(&mut self, event: IfEvent) -> Option<String> {
        let (net, came) = match event {
            IfEvent::Up(net) => (net, true),
            IfEvent::Down(net) => (net, false),
        };
        if !matters(&net) {
            return None;
        }
        if came {
            self.known
                .insert(net.addr())
                .then(|| format!("{net} came up"))
        } else {
            self.known
                .remove(&net.addr())
                .then(|| format!("{net} went away"))
        }
    }
}

impl Default for NetworkWatch {
    fn default() -> Self {
        Self::new()
    }
}

fn matters(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V4(ip) => !ip.is_loopback() && !ip.is_link_local(),
        IpAddr::V6(ip) => !ip.is_loopback() && !ip.is_unicast_link_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_knowing(addrs: &[&str]) -> NetworkWatch {
        NetworkWatch {
            watcher: None,
            known: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn up(net: &str) -> IfEvent {
        IfEvent::Up(net.parse().unwrap())
    }

    fn down(net: &str) -> IfEvent {
        IfEvent::Down(net.parse().unwrap())
    }

    #[test]
    fn only_an_address_that_came_or_went_is_a_change() {
        let mut watch = watch_knowing(&["192.168.1.2"]);
        assert_eq!(watch.note(up("192.168.1.2/24")), None, "already there");
        assert_eq!(
            watch.note(up("192.168.7.9/24")).as_deref(),
            Some("192.168.7.9/24 came up")
        );
        assert_eq!(
            watch.note(down("192.168.1.2/24")).as_deref(),
            Some("192.168.1.2/24 went away")
        );
        assert_eq!(watch.note(down("192.168.1.2/24")), None, "already gone");
    }

    #[test]
    fn loopback_and_link_local_addresses_move_no_mapping() {
        let mut watch = watch_knowing(&[]);
        for net in ["127.0.0.2/8", "169.254.3.4/16", "::1/128", "fe80::1/64"] {
            assert_eq!(watch.note(up(net)), None, "{net}");
        }
    }
}

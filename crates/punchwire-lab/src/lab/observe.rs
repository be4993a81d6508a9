//! What the hosts' devices report, read with `wg` itself rather than the product's
//! backends, so that a test checks the product against an independent view; and
//! waiting until a device reports what a test expects.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::Lab;
use crate::command;
use crate::dump::{Counters, DeviceDump, PeerStats};
use crate::error::{LabError, Result};
use crate::product::ZONE;
use crate::topology::Host;
use crate::wait::{wait_for, wait_until_ok};

impl Lab {
    /// `wg show <iface> dump` on the host, raw.
    pub fn wg_show(&self, host: Host) -> Result<String> {
        let info = self.host(host);
        command::run(
            Some(&info.namespace),
            &["wg", "show", &info.iface, "dump"],
            None,
        )
    }

    /// The host's device, parsed from `wg show <iface> dump`.
    pub fn wg_dump(&self, host: Host) -> Result<DeviceDump> {
        DeviceDump::parse(&self.wg_show(host)?)
    }

    /// What `host`'s device knows about `peer`.
    pub fn peer_stats(&self, host: Host, peer: Host) -> Result<PeerStats> {
        let key = self.host(peer).public_key;
        self.wg_dump(host)?.peer(&key).cloned().ok_or_else(|| {
            LabError::Usage(format!(
                "{host}'s device {} has no peer {peer} ({})",
                self.host(host).iface,
                key.short()
            ))
        })
    }

    /// The endpoint `host` has for `peer`: for the registry, the NAT mapping it saw.
    pub fn endpoint_of(&self, host: Host, peer: Host) -> Result<Option<SocketAddr>> {
        Ok(self.peer_stats(host, peer)?.endpoint)
    }

    /// Bytes `host` received from and sent to `peer`.
    pub fn counters(&self, host: Host, peer: Host) -> Result<Counters> {
        Ok(self.peer_stats(host, peer)?.counters())
    }

    /// Waits until alice and bob each reach the registry through the tunnel (a ping
    /// to 10.99.0.1, which also starts the handshake without waiting for a keepalive)
    /// and the registry has seen an endpoint for both. Returns how long it took.
    pub fn wait_registry_handshakes(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let remaining = || timeout.saturating_sub(started.elapsed());
        let registry = Host::Registry.tunnel_ip().to_string();
        for host in [Host::Alice, Host::Bob] {
            wait_until_ok(
                remaining(),
                &format!("{host} reaching the registry at {registry} through the tunnel"),
                || {
                    Ok(self
                        .exec(host, &["ping", "-n", "-q", "-c", "1", "-W", "1", &registry])
                        .is_ok())
                },
            )?;
        }
        wait_until_ok(
            remaining(),
            "the registry knowing the endpoints of alice and bob",
            || {
                Ok(self.endpoint_of(Host::Registry, Host::Alice)?.is_some()
                    && self.endpoint_of(Host::Registry, Host::Bob)?.is_some())
            },
        )?;
        Ok(started.elapsed())
    }

    /// Whether `host` has the registry at its endpoint as it is now (see
    /// [`Lab::move_registry`]): its device points there, a handshake completed after
    /// `since`, and the registry answers its SOA query through the tunnel.
    pub fn has_registry_since(&self, host: Host, since: SystemTime) -> Result<bool> {
        let stats = self.peer_stats(host, Host::Registry)?;
        // wg reports handshakes in whole seconds.
        let fresh = stats
            .last_handshake(self.wg)
            .is_some_and(|at| at + Duration::from_secs(1) > since);
        Ok(stats.endpoint == Some(self.registry_endpoint())
            && fresh
            && !self.dig(host, &[ZONE, "SOA", "+short"])?.trim().is_empty())
    }

    /// Polls `host`'s view of `peer` until `probe` yields a value: for waits on what a
    /// device reports (an endpoint changing, a handshake, counters moving).
    pub fn wait_for_peer<T>(
        &self,
        host: Host,
        peer: Host,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut(&PeerStats) -> Option<T>,
    ) -> Result<T> {
        wait_for(timeout, what, || Ok(probe(&self.peer_stats(host, peer)?))).map(|(v, _)| v)
    }
}

//! Starting and stopping a registry: read the device once, bind the sockets, start the
//! refresh task; say plainly what is wrong when any of that fails.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use punchwire_wg::{Backend, BackendError};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::iface::tunnel_addresses;
use crate::listen;
use crate::live::Live;
use crate::open_files;
use crate::rate::{RateLimiter, ResponseRate, DEFAULT_RESPONSE_RATE};
use crate::refresh::{unix_serial, Refresh};
use crate::respond::Responder;
use crate::snapshot::{SelfRecord, Snapshot, SnapshotConfig};
use crate::stats::RegistryStats;
use crate::tcp::{self, TcpLimits, TcpShared};
use crate::udp;
use crate::zone::ZoneNames;
use punchwire_control::defaults;
use punchwire_control::zone::Zone;

/// The DNS port a registry listens on when no `--listen` is given.
pub const DNS_PORT: u16 = defaults::DNS_PORT;
pub const DEFAULT_REFRESH: Duration = defaults::DEFAULT_REFRESH.get();
pub const DEFAULT_STALE_AFTER: Duration = defaults::DEFAULT_STALE_AFTER.get();

/// Everything a registry needs to know. Build it with [`RegistryConfig::new`] and set
/// the fields that differ from the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// The zone served.
    pub zone: Zone,
    /// The WireGuard interface whose peers are published.
    pub device: String,
    /// Where to listen (UDP and TCP on each). Empty: every address of the device itself,
    /// port 53. Port 0 picks a free port (see [`RunningRegistry::local_addrs`]).
    pub listen: Vec<SocketAddr>,
    /// Serve the registry's own record too (wgsd's `self`).
    pub self_record: Option<SelfRecord>,
    /// Sources answered besides the device's peers' AllowedIPs.
    pub allow: Vec<IpNet>,
    /// How often the device is read.
    pub refresh: Duration,
    /// How long the last snapshot is served while the device cannot be read; SERVFAIL
    /// after that.
    pub stale_after: Duration,
    /// UDP responses each source gets; `None`: as many as it asks for (a benchmark).
    pub response_rate: Option<ResponseRate>,
    /// What TCP clients may hold.
    pub tcp: TcpLimits,
    /// How long a peer's registered candidates are served after its last UPDATE (at
    /// most a day).
    pub candidate_lease: Duration,
}

impl RegistryConfig {
    pub fn new(zone: Zone, device: impl Into<String>) -> Self {
        Self {
            zone,
            device: device.into(),
            listen: Vec::new(),
            self_record: None,
            allow: Vec::new(),
            refresh: DEFAULT_REFRESH,
            stale_after: DEFAULT_STALE_AFTER,
            response_rate: Some(DEFAULT_RESPONSE_RATE),
            tcp: TcpLimits::default(),
            candidate_lease: crate::update::DEFAULT_CANDIDATE_LEASE,
        }
    }
}

/// Why a registry did not start. Each message also says its cause, so that it reads
/// whole where only `Display` is shown; the cause is kept as the error's source too, so
/// that callers can still tell an `io::ErrorKind` or a [`BackendError`] apart, and
/// `one_line` (punchwire-control) does not say it twice.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read WireGuard device {device:?}: {reason}")]
    Device {
        device: String,
        #[source]
        reason: BackendError,
    },

    #[error(
        "cannot list the addresses of interface {device:?} to listen on: {reason}; give --listen"
    )]
    InterfaceAddresses {
        device: String,
        #[source]
        reason: io::Error,
    },

    #[error("interface {device:?} has no IP address to listen on (is it up and addressed?); give --listen")]
    NoTunnelAddress { device: String },

    #[error("cannot listen on {addr} ({proto}): {reason}{}", listen_hint(reason))]
    Listen {
        addr: SocketAddr,
        proto: &'static str,
        #[source]
        reason: io::Error,
    },

    #[error("the registry's own record without an endpoint uses the address a query arrived on, but {addr} is a wildcard address; listen on a specific address or give --self an endpoint")]
    SelfNeedsSpecificAddress { addr: SocketAddr },

    #[error("{what} must be longer than zero")]
    ZeroDuration { what: &'static str },
}

fn listen_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            " (another DNS server, such as systemd-resolved or dnsmasq, may already use it)"
        }
        io::ErrorKind::PermissionDenied => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        io::ErrorKind::AddrNotAvailable => " (no interface of this host has that address)",
        _ => "",
    }
}

/// A DNS-SD registry for one WireGuard device.
pub struct Registry;

impl Registry {
    /// Reads the device, binds every listen address (UDP and TCP), and starts serving.
    pub async fn start(
        config: RegistryConfig,
        backend: Backend,
    ) -> Result<RunningRegistry, RegistryError> {
        if config.refresh.is_zero() {
            return Err(RegistryError::ZeroDuration { what: "refresh" });
        }
        if config.candidate_lease.is_zero() {
            return Err(RegistryError::ZeroDuration {
                what: "the candidate lease",
            });
        }
        if config.stale_after.is_zero() {
            return Err(RegistryError::ZeroDuration {
                what: "the stale bound",
            });
        }
        let zone = Arc::new(ZoneNames::new(&config.zone));
        let first_read = std::time::Instant::now();
        let device =
            backend
                .device(&config.device)
                .await
                .map_err(|reason| RegistryError::Device {
                    device: config.device.clone(),
                    reason,
                })?;

        let (listen, device_ips) = if config.listen.is_empty() {
            let ips = tunnel_addresses(&config.device).map_err(|reason| {
                RegistryError::InterfaceAddresses {
                    device: config.device.clone(),
                    reason,
                }
            })?;
            if ips.is_empty() {
                return Err(RegistryError::NoTunnelAddress {
                    device: config.device.clone(),
                });
            }
            let listen = ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, DNS_PORT))
                .collect();
            (listen, ips)
        } else {
            // A listen address that is one of the device's own is listened on through the
            // device alone (see `listen`); if they cannot be listed, the ACL alone guards it.
            let ips = tunnel_addresses(&config.device).unwrap_or_else(|error| {
                warn!(device = %config.device, %error, "cannot list the device's addresses; queries to them are not checked for the interface they came in on");
                Vec::new()
            });
            (config.listen.clone(), ips)
        };
        if config
            .self_record
            .as_ref()
            .is_some_and(|s| s.endpoint.is_none())
        {
            if let Some(addr) = listen.iter().find(|a| a.ip().is_unspecified()) {
                return Err(RegistryError::SelfNeedsSpecificAddress { addr: *addr });
            }
        }

        let snapshot_config = Arc::new(SnapshotConfig {
            zone: Arc::clone(&zone),
            self_record: config.self_record.clone(),
            allow: config.allow.clone(),
            nameserver_ips: specific_ips(&listen),
        });
        let snapshot = Snapshot::first(snapshot_config, &device, unix_serial());
        let first_read = first_read.elapsed();
        let live = Arc::new(
            Live::new(snapshot, config.stale_after).with_candidate_lease(config.candidate_lease),
        );

        let limiter = config
            .response_rate
            .map(|rate| Arc::new(RateLimiter::new(rate)));
        let open_files = open_files::soft_limit();
        let tcp_limits = TcpLimits {
            max_connections: open_files::tcp_cap(config.tcp.max_connections, open_files),
            ..config.tcp
        };
        let tcp_shared = TcpShared::new(tcp_limits);
        // Every address bound before any is served: a failure leaves nothing running.
        let mut bound = Vec::with_capacity(listen.len());
        for addr in &listen {
            let own = device_ips.contains(&addr.ip().to_canonical());
            let device = own.then_some(config.device.as_str());
            bound.push((listen::bind(*addr, device)?, device.is_some()));
        }
        let mut tasks = Vec::with_capacity(2 * listen.len());
        let mut local_addrs = Vec::with_capacity(listen.len());
        for (addr, (sockets, tied)) in listen.iter().zip(bound) {
            let local = sockets
                .udp
                .local_addr()
                .map_err(|reason| RegistryError::Listen {
                    addr: *addr,
                    proto: "UDP",
                    reason,
                })?;
            let arrival = local.ip().to_canonical();
            let responder = Responder::new(Arc::clone(&live), arrival, limiter.clone());
            tasks.push(tokio::spawn(udp::serve(sockets.udp, responder.clone())));
            tasks.push(tokio::spawn(tcp::serve(
                sockets.tcp,
                responder,
                Arc::clone(&tcp_shared),
            )));
            if tied {
                info!(%local, device = %config.device, "listening through the device only");
            }
            local_addrs.push(local);
        }

        let refresh = Refresh::start(
            Arc::clone(&live),
            backend,
            config.device.clone(),
            config.refresh,
            first_read,
        );
        let snapshot = live.snapshot();
        info!(
            zone = %zone,
            device = %config.device,
            listen = ?local_addrs,
            peers = snapshot.listing().len(),
            serial = snapshot.serial(),
            tcp_connections = tcp_limits.max_connections,
            open_files = ?open_files,
            "registry serving"
        );
        Ok(RunningRegistry {
            live,
            tasks,
            refresh,
            local_addrs,
            zone,
        })
    }
}

/// Listen addresses that name one host address: the registry's own, for `ns1.<zone>`.
fn specific_ips(listen: &[SocketAddr]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = listen
        .iter()
        .map(|a| a.ip().to_canonical())
        .filter(|ip| !ip.is_unspecified())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// A registry that is serving. Dropping it stops it too; [`RunningRegistry::shutdown`]
/// waits for the sockets to close.
pub struct RunningRegistry {
    live: Arc<Live>,
    /// Every listener's UDP loop and TCP accept loop (which owns its connections).
    tasks: Vec<JoinHandle<()>>,
    refresh: Refresh,
    local_addrs: Vec<SocketAddr>,
    zone: Arc<ZoneNames>,
}

impl RunningRegistry {
    /// Counters since start, with the serial and peer count served now, and whether the
    /// device is still being read.
    pub fn stats(&self) -> RegistryStats {
        let snapshot = self.live.snapshot();
        RegistryStats {
            refresh_stopped: self.live.why_refresh_stopped().map(str::to_owned),
            ..self.live.counters.read(
                snapshot.serial(),
                snapshot.listing().len(),
                self.live.is_fresh(),
            )
        }
    }

    /// The addresses actually listened on (UDP and TCP), in the order of the config.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The zone served, as `example.com.`.
    pub fn zone(&self) -> String {
        self.zone.to_string()
    }

    /// Whether the device was read recently enough to answer (false: SERVFAIL).
    pub fn is_fresh(&self) -> bool {
        self.live.is_fresh()
    }

    /// Stops reading the device and closes every socket.
    pub async fn shutdown(mut self) {
        self.refresh.stop();
        for task in self.tasks.drain(..) {
            task.abort();
            // Waiting for the aborted task drops its sockets (and a TCP listener's
            // connections): the port is free on return.
            let _ = task.await;
        }
    }
}

impl Drop for RunningRegistry {
    fn drop(&mut self) {
        self.refresh.stop();
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use punchwire_wg::{Device, MemoryBackend};

    use super::*;

    #[tokio::test]
    async fn the_stats_say_at_once_why_the_refresh_stopped() {
        let memory = MemoryBackend::new();
        memory.put_device(Device {
            name: "wg-test".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers: Vec::new(),
        });
        let mut config = RegistryConfig::new("example.com".parse().unwrap(), "wg-test");
        config.listen = vec!["127.0.0.1:0".parse().unwrap()];
        let mut registry = Registry::start(config, Backend::new(memory)).await.unwrap();
        assert_eq!(registry.stats().refresh_stopped, None);

        // A refresh that panics, in place of the one that reads the memory device.
        registry.refresh.stop();
        let failing = tokio::spawn(async { panic!("a bug while reading") });
        registry.refresh = Refresh::watch(Arc::clone(&registry.live), "wg-test".into(), failing);
        let deadline = Instant::now() + Duration::from_secs(10);
        while registry.stats().refresh_stopped.is_none() {
            assert!(
                Instant::now() < deadline,
                "the stop never reached the stats"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = registry.stats();
        assert_eq!(
            stats.refresh_stopped.as_deref(),
            Some("it panicked: a bug while reading")
        );
        assert!(stats.fresh, "the last snapshot is still served");
        registry.shutdown().await;
    }
}

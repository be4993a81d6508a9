//! `punchwire registry`: serve this device's peers as DNS-SD records until stopped.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use ipnet::IpNet;
use punchwire_control::defaults::{DEFAULT_REFRESH, DEFAULT_STALE_AFTER};
use punchwire_control::interface::InterfaceName;
use punchwire_control::timing::Timing;
use punchwire_control::zone::Zone;
use punchwire_registry::{
    raise_open_file_limit, Registry, RegistryConfig, RelayForwarding, ResponseRate, SelfRecord,
    DEFAULT_RESPONSE_RATE,
};
use punchwire_wg::{Backend, Endpoint, SystemBackend};
use tracing::{info, warn};

#[derive(Debug, clap::Args)]
#[command(
    about = "Serve this device's peers as DNS-SD records (the registry peer)",
    long_about = "Serve the WireGuard peers of a device as DNS-SD records in the wgsd layout: \
        _wireguard._udp.ZONE PTR lists the peers, <base32 key>._wireguard._udp.ZONE holds \
        each one's SRV, A/AAAA and TXT. Answers come from a snapshot of the device refreshed \
        in the background; only sources inside the peers' AllowedIPs (and --allow) are \
        answered."
)]
pub struct Args {
    /// The zone to serve, e.g. `example.com`.
    #[arg(long, value_name = "ZONE")]
    zone: Zone,

    /// The WireGuard interface whose peers are published.
    #[arg(long, value_name = "IFACE")]
    device: InterfaceName,

    /// Where to listen, UDP and TCP (repeatable). Default: every address of the device
    /// itself, port 53, so that only the tunnel reaches it.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,

    /// Also publish the registry's own key, like wgsd's `self`: at ENDPOINT, or without
    /// one at the address each query arrived on with the device's listen port.
    #[arg(long = "self", value_name = "ENDPOINT", num_args = 0..=1, value_parser = parse_endpoint)]
    self_endpoint: Option<Option<Endpoint>>,

    /// AllowedIPs published in the registry's own TXT record (repeatable; needs --self).
    #[arg(long, value_name = "CIDR", requires = "self_endpoint")]
    self_allowed: Vec<IpNet>,

    /// Also answer sources in this range, besides the peers' AllowedIPs (repeatable).
    #[arg(long, value_name = "CIDR")]
    allow: Vec<IpNet>,

    /// How often the device is read, e.g. `1s`, `500ms`.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_REFRESH)]
    refresh: Timing,

    /// How long the last snapshot is served while the device cannot be read; after
    /// that every query gets SERVFAIL until it can.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_STALE_AFTER)]
    stale_after: Timing,

    /// UDP responses per second one source gets (twice as many at once after a quiet
    /// spell); beyond it, nothing or an empty truncated answer that sends it to TCP.
    /// 0: no limit.
    #[arg(long, value_name = "PER_SECOND", default_value_t = DEFAULT_RESPONSE_RATE.per_second)]
    rate_limit: u32,

    /// Forward between the device's peers (tunnel to tunnel only, IPv4), so that peers
    /// with relay on reach each other through this host when no direct path works.
    /// Linux only; needs iptables. Undone when the registry stops.
    #[arg(long)]
    relay: bool,
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    s.parse::<Endpoint>().map_err(|e| e.to_string())
}

impl Args {
    fn config(self) -> RegistryConfig {
        let mut config = RegistryConfig::new(self.zone, self.device.to_string());
        config.listen = self.listen;
        config.self_record = self.self_endpoint.map(|endpoint| SelfRecord {
            endpoint,
            allowed: self.self_allowed,
        });
        config.allow = self.allow;
        config.refresh = self.refresh.get();
        config.stale_after = self.stale_after.get();
        config.response_rate = (self.rate_limit > 0).then(|| ResponseRate {
            per_second: self.rate_limit,
            burst: self.rate_limit.saturating_mul(2),
        });
        config
    }
}

/// Raises the open-file limit to the hard one, before anything is opened: a service
/// manager's default soft limit (1024 under systemd) is what a flood of TCP connections
/// would otherwise exhaust. `punchwire registry` and `punchwire service` call it first.
pub fn raise_open_files() {
    match raise_open_file_limit() {
        Ok(limit) if limit.now > limit.before => {
            info!(
                from = limit.before,
                to = limit.now,
                "raised the open-file limit"
            );
        }
        Ok(_) => {}
        Err(error) => {
            warn!(%error, "cannot raise the open-file limit; TCP clients get at most half of it")
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    raise_open_files();
    let relay = args.relay;
    let config = args.config();
    let forwarding = if relay {
        let forwarding = RelayForwarding::enable(&config.device)
            .with_context(|| format!("cannot relay between the peers of {}", config.device))?;
        info!(device = %config.device, "relaying between the device's peers");
        Some(forwarding)
    } else {
        None
    };
    let backend = Backend::new(SystemBackend::new());
    let registry = Registry::start(config, backend)
        .await
        .context("cannot start the registry")?;
    wait_for_stop().await?;
    if let Some(forwarding) = forwarding {
        if let Err(error) = forwarding.disable() {
            warn!(%error, "cannot undo relay forwarding");
        }
    }
    let stats = registry.stats();
    registry.shutdown().await;
    info!(
        queries = stats.queries,
        answered = stats.answered,
        nxdomain = stats.nxdomain,
        refused = stats.refused,
        servfail = stats.servfail,
        strangers_dropped = stats.strangers_dropped,
        rate_limited = stats.rate_limited,
        tcp_refused = stats.tcp_refused,
        "registry stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(flags: &[&str]) -> Result<Args, String> {
        let argv = ["registry"].iter().chain(flags);
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags_become_the_registry_config() {
        let args = parse(&[
            "--zone",
            "example.com",
            "--device",
            "wg0",
            "--listen",
            "10.0.0.1:53",
            "--listen",
            "[fd00::1]:5353",
            "--self",
            "203.0.113.1:51820",
            "--self-allowed",
            "10.0.0.1/32",
            "--allow",
            "192.0.2.0/24",
            "--refresh",
            "500ms",
            "--rate-limit",
            "20",
        ])
        .unwrap();
        let config = args.config();
        let rate = config.response_rate.unwrap();
        assert_eq!((rate.per_second, rate.burst), (20, 40));
        assert_eq!(config.zone.as_str(), "example.com.");
        assert_eq!(config.device, "wg0");
        assert_eq!(config.listen.len(), 2);
        let me = config.self_record.unwrap();
        assert_eq!(me.endpoint.unwrap().to_string(), "203.0.113.1:51820");
        assert_eq!(me.allowed, vec!["10.0.0.1/32".parse::<IpNet>().unwrap()]);
        assert_eq!(config.allow.len(), 1);
        assert_eq!(config.refresh, Duration::from_millis(500));
        assert_eq!(config.stale_after, Duration::from_secs(60));
    }

    #[test]
    fn self_without_an_endpoint_uses_the_arrival_address() {
        let args = parse(&["--zone", "z", "--device", "wg0", "--self"]).unwrap();
        assert_eq!(args.config().self_record, Some(SelfRecord::default()));
        let args = parse(&["--zone", "z", "--device", "wg0"]).unwrap();
        assert_eq!(args.config().self_record, None);
    }

    #[test]
    fn responses_are_rate_limited_unless_told_otherwise() {
        let args = parse(&["--zone", "z", "--device", "wg0"]).unwrap();
        assert_eq!(args.config().response_rate, Some(DEFAULT_RESPONSE_RATE));
        let args = parse(&["--zone", "z", "--device", "wg0", "--rate-limit", "0"]).unwrap();
        assert_eq!(args.config().response_rate, None);
    }

    #[test]
    fn bad_flags_are_named() {
        let base = ["--zone", "z", "--device", "wg0"];
        for (flag, value) in [
            ("--listen", "10.0.0.1"),
            ("--self", "203.0.113.1:0"),
            ("--allow", "10.0.0.300/8"),
            ("--refresh", "soon"),
            ("--refresh", "0s"),
            ("--stale-after", "1x"),
        ] {
            let mut flags = base.to_vec();
            flags.extend([flag, value]);
            let err = parse(&flags).unwrap_err();
            assert!(err.contains(flag), "{flag} {value}: {err}");
        }
        let err = parse(&["--zone", "exa mple.com", "--device", "wg0"]).unwrap_err();
        assert!(
            err.contains("--zone") && err.contains("may only hold"),
            "{err}"
        );
        let err = parse(&["--zone", "z", "--device", "wg/0"]).unwrap_err();
        assert!(err.contains("--device") && err.contains("'/'"), "{err}");
        let err = parse(&["--device", "wg0"]).unwrap_err();
        assert!(err.contains("--zone"), "{err}");
        let err = parse(&[
            "--zone",
            "z",
            "--device",
            "wg0",
            "--self-allowed",
            "10.0.0.1/32",
        ])
        .unwrap_err();
        assert!(err.contains("--self"), "{err}");
    }
}

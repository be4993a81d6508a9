//! `punchwire client`: keep every peer's endpoint current from one or more registries,
//! once (`--once`, like wgsd-client from cron) or until stopped.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use punchwire_control::defaults::{
    DEFAULT_HANDSHAKE_THRESHOLD, DEFAULT_INTERVAL, DEFAULT_POLL, DEFAULT_QUERY_TIMEOUT, DNS_PORT,
};
use punchwire_control::escape::display_safe;
use punchwire_control::interface::InterfaceName;
use punchwire_control::timing::Timing;
use punchwire_control::zone::Zone;
use punchwire_discovery::find;
use punchwire_discovery::{registry_outside_tunnel, DnsSource};
use punchwire_discovery::{Config, Engine, Pass};
use punchwire_wg::{Backend, SystemBackend};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    punchwire client --device wg0 --once\n  \
    punchwire client --device wg0 --dns 10.0.0.1:53 --zone example.com --once\n  \
    punchwire client --device wg0 --dns 10.0.0.1 --dns 10.0.0.2 --zone example.com")]
pub struct Args {
    /// The WireGuard interface whose peers to keep current.
    #[arg(long, value_name = "IFACE")]
    device: InterfaceName,

    /// A registry's DNS server, as ADDR or ADDR:PORT (port 53 if left out). Repeat for
    /// several registries: all are asked, the first listed wins a tie. Left out: every
    /// single tunnel address among the peers' AllowedIPs is asked which zone it serves
    /// (RFC 6763 §11), and those that answer are the registries.
    #[arg(long = "dns", value_name = "ADDR:PORT", value_parser = parse_server)]
    dns: Vec<SocketAddr>,

    /// The zone the registry serves, e.g. `example.com`. Left out: the zone the
    /// registries name for their own address.
    #[arg(long, value_name = "ZONE")]
    zone: Option<Zone>,

    /// Do one pass, print one line per peer and exit: 0 when every peer was set or left
    /// alone for a stated reason, 1 otherwise.
    #[arg(long)]
    once: bool,

    /// Resolve every peer at least this often.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_INTERVAL)]
    interval: Timing,

    /// How often to ask for the zone's SOA serial; a change triggers a full pass.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_POLL)]
    poll: Timing,

    /// A handshake younger than this means the current endpoint works: keep it.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_HANDSHAKE_THRESHOLD)]
    handshake_threshold: Timing,

    /// How long to wait for each DNS answer.
    #[arg(long, value_name = "DURATION", default_value_t = DEFAULT_QUERY_TIMEOUT)]
    timeout: Timing,

    /// Ask a registry that no peer's AllowedIPs contain, outside the tunnel, where DNS is
    /// unauthenticated and anyone on the path can answer. Refused without this flag.
    #[arg(long)]
    allow_registry_outside_tunnel: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let backend = Backend::new(SystemBackend::new());
    // Before anything is asked: a registry given outside the tunnel is refused unasked.
    if !args.dns.is_empty() && !args.allow_registry_outside_tunnel {
        let device = backend
            .device(args.device.as_str())
            .await
            .with_context(|| format!("cannot read the peers of {}", args.device))?;
        registry_outside_tunnel(&args.dns, &device).map_err(|outside| {
            anyhow::anyhow!(
                "{outside}; or, to ask it outside the tunnel anyway, give \
                 --allow-registry-outside-tunnel"
            )
        })?;
    }
    let (dns, zone) = registries(&args, &backend).await?;
    let source = DnsSource::new(&zone, args.timeout.get());
    let mut config = Config::new(args.device.as_str(), dns.clone());
    config.interval = args.interval.get();
    config.poll = args.poll.get();
    config.fresh_handshake = args.handshake_threshold.get();
    let mut engine = Engine::new(backend, source, config);

    if args.once {
        let pass = engine
            .pass()
            .await
            .with_context(|| format!("cannot read the peers of {}", args.device))?;
        print_pass(&pass);
        return Ok(if pass.all_settled() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    tracing::info!(
        "keeping the peers of {} current from {} (zone {})",
        args.device,
        list(&dns),
        zone
    );
    engine.run(stop_signal()).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The registries and the zone: as given, or found by asking (see `find`), which is
/// said on stderr so that the user can write them down.
async fn registries(args: &Args, backend: &Backend) -> anyhow::Result<(Vec<SocketAddr>, Zone)> {
    if let (false, Some(zone)) = (args.dns.is_empty(), &args.zone) {
        return Ok((args.dns.clone(), zone.clone()));
    }
    let (found, asked) = find::find_on_device(
        backend,
        args.device.as_str(),
        &args.dns,
        args.zone.as_ref(),
        args.timeout.get(),
    )
    .await
    .map_err(|e| {
        let remedy = e.remedy("--dns", "--zone");
        anyhow::anyhow!("{}: {remedy}", punchwire_control::error_line::one_line(&e))
    })?;
    eprintln!(
        "found: registry {} serving zone {} (asked {} address{})",
        list(&found.registries),
        found.zone,
        asked,
        if asked == 1 { "" } else { "es" }
    );
    Ok((found.registries, found.zone))
}

/// One line per peer: key, endpoint afterwards (`-` if none), reason.
fn print_pass(pass: &Pass) {
    for outcome in &pass.outcomes {
        let endpoint = outcome
            .endpoint
            .map_or_else(|| "-".to_owned(), |e| e.to_string());
        let mut line = format!("{} {endpoint} {}", outcome.peer, outcome.decision.reason);
        if let Some(error) = &outcome.error {
            line.push_str(&format!(" (failed: {error})"));
        }
        // Reasons quote the registry's answers (SRV targets, instance names).
        println!("{}", display_safe(&line));
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!("cannot listen for SIGTERM ({e}); stop with Ctrl-C"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn list(servers: &[SocketAddr]) -> String {
    servers
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| format!("{s:?} is not ADDR or ADDR:PORT (e.g. 10.0.0.1:53, [fd00::1]:53)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_discovery::lookup;
    use punchwire_discovery::policy::DEFAULT_FRESH_HANDSHAKE;

    #[test]
    fn servers_default_to_port_53() {
        assert_eq!(parse_server("10.0.0.1"), Ok("10.0.0.1:53".parse().unwrap()));
        assert_eq!(
            parse_server("[fd00::1]:5353"),
            Ok("[fd00::1]:5353".parse().unwrap())
        );
        assert!(parse_server("registry.example")
            .unwrap_err()
            .contains("ADDR:PORT"));
    }

    #[test]
    fn defaults_are_the_engines() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli = Cli::parse_from(["t", "--device", "wg0", "--dns", "10.0.0.1", "--zone", "z"]);
        assert_eq!(
            cli.args.interval.get(),
            punchwire_discovery::config::DEFAULT_INTERVAL
        );
        assert_eq!(
            cli.args.poll.get(),
            punchwire_discovery::config::DEFAULT_POLL
        );
        assert_eq!(cli.args.handshake_threshold.get(), DEFAULT_FRESH_HANDSHAKE);
        assert_eq!(cli.args.timeout.get(), lookup::DEFAULT_QUERY_TIMEOUT);
    }

    fn parse(flags: &[&str]) -> Result<Args, String> {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        Cli::try_parse_from(["client"].iter().chain(flags))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn bad_values_are_refused_at_their_flag_saying_why() {
        let long_zone = vec!["a".repeat(50); 5].join(".")[..200].to_owned();
        for (flag, value, says) in [
            ("--zone", long_zone.as_str(), "56-character key label"),
            ("--zone", "exa mple.com", "may only hold"),
            ("--device", "a-very-long-interface-name", "1 to 15"),
            ("--interval", "soon", "\"soon\" is not a duration"),
            ("--poll", "0s", "longer than zero"),
        ] {
            let mut flags = vec!["--device", "wg0", "--dns", "10.0.0.1", "--zone", "z"];
            match flags.iter().position(|f| *f == flag) {
                Some(at) => flags[at + 1] = value,
                None => flags.extend([flag, value]),
            }
            let err = parse(&flags).unwrap_err();
            assert!(
                err.contains(flag) && err.contains(says),
                "{flag} {value}: {err}"
            );
        }
    }
}

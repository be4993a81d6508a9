//! `punchwire client`: keep every peer's endpoint current from one or more registries,
//! once (`--once`, like wgsd-client from cron) or until stopped.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use punchwire_control::escape::display_safe;
use punchwire_discovery::engine::{Config, Engine, Pass};
use punchwire_discovery::DnsSource;
use punchwire_wg::{Backend, SystemBackend};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    punchwire client --device wg0 --dns 10.0.0.1:53 --zone example.com --once\n  \
    punchwire client --device wg0 --dns 10.0.0.1 --dns 10.0.0.2 --zone example.com")]
pub struct Args {
    /// The WireGuard interface whose peers to keep current.
    #[arg(long, value_name = "IFACE")]
    device: String,

    /// A registry's DNS server, as ADDR or ADDR:PORT (port 53 if left out). Repeat for
    /// several registries: all are asked, the first listed wins a tie.
    #[arg(long = "dns", value_name = "ADDR:PORT", required = true, value_parser = parse_server)]
    dns: Vec<SocketAddr>,

    /// The zone the registry serves, e.g. `example.com`.
    #[arg(long, value_name = "ZONE")]
    zone: String,

    /// Do one pass, print one line per peer and exit: 0 when every peer was set or left
    /// alone for a stated reason, 1 otherwise.
    #[arg(long)]
    once: bool,

    /// Resolve every peer at least this often.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    interval: Duration,

    /// How often to ask for the zone's SOA serial; a change triggers a full pass.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    poll: Duration,

    /// A handshake younger than this means the current endpoint works: keep it.
    #[arg(long, value_name = "DURATION", default_value = "150s", value_parser = parse_duration)]
    handshake_threshold: Duration,

    /// How long to wait for each DNS answer.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = DnsSource::new(&args.zone, args.timeout)?;
    let mut config = Config::new(&args.device, args.dns.clone());
    config.interval = args.interval;
    config.poll = args.poll;
    config.fresh_handshake = args.handshake_threshold;
    let mut engine = Engine::new(Backend::new(SystemBackend::new()), source, config);

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
        list(&args.dns),
        args.zone
    );
    engine.run(stop_signal()).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
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
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{s:?} is not ADDR or ADDR:PORT (e.g. 10.0.0.1:53, [fd00::1]:53)"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 30s or 1m: {e}"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_discovery::engine::{DEFAULT_INTERVAL, DEFAULT_POLL};
    use punchwire_discovery::lookup::DEFAULT_QUERY_TIMEOUT;
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
        assert_eq!(cli.args.interval, DEFAULT_INTERVAL);
        assert_eq!(cli.args.poll, DEFAULT_POLL);
        assert_eq!(cli.args.handshake_threshold, DEFAULT_FRESH_HANDSHAKE);
        assert_eq!(cli.args.timeout, DEFAULT_QUERY_TIMEOUT);
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("\"soon\""));
    }
}

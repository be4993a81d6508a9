//! The control-socket clients: `status`, `events`, `pause`, `resume`, `reload`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use punchwire_control::defaults::DEFAULT_SOCKET;
use punchwire_control::client::ControlClient;
use punchwire_control::protocol::Command;
use punchwire_control::status::{EndpointSource, HealthState, ServiceStatus};

/// Where the service listens; shared by every control subcommand.
#[derive(clap::Args)]
pub struct SocketArg {
    /// The service's control socket.
    #[arg(long, env = "PUNCHWIRE_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// Print the service's status document as JSON (see README, "Control protocol").
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// One JSON object per line instead of a human summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ToggleArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// Only this interface (all interfaces when omitted).
    #[arg(long)]
    interface: Option<String>,
}

#[derive(clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    socket: SocketArg,
}

async fn connect(socket: &SocketArg) -> anyhow::Result<ControlClient> {
    Ok(ControlClient::connect(&socket.socket).await?)
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.socket).await?;
    let value = client.request(Command::Status).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let status: ServiceStatus = serde_json::from_value(value)
        .context("the service's status is not in the shape this client knows (versions differ?)")?;
    print!("{}", render_status(&status));
    Ok(ExitCode::SUCCESS)
}

pub async fn events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.socket).await?;
    client.subscribe().await?;
    loop {
        let event = client.next_event().await?;
        if args.json {
            println!("{event}");
        } else {
            println!("{}", describe_event(&event));
        }
    }
}

pub async fn pause(args: ToggleArgs, paused: bool) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.socket).await?;
    let interface = args.interface;
    let command = if paused {
        Command::Pause { interface }
    } else {
        Command::Resume { interface }
    };
    client.request(command).await?;
    println!("discovery {}", if paused { "paused" } else { "resumed" });
    Ok(ExitCode::SUCCESS)
}

pub async fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.socket).await?;
    client.request(Command::Reload).await?;
    println!("configuration reloaded");
    Ok(ExitCode::SUCCESS)
}

/// One line per event: what happened, to whom.
fn describe_event(event: &serde_json::Value) -> String {
    let kind = event["type"].as_str().unwrap_or("event");
    let mut line = kind.to_owned();
    if let Some(fields) = event.as_object() {
        for (key, value) in fields {
            if key == "type" || value.is_null() {
                continue;
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(line, " {key}={text}");
        }
    }
    line
}

fn render_status(status: &ServiceStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "punchwire {} (config {})",
        status.version, status.config_path
    );
    for iface in &status.interfaces {
        let _ = writeln!(
            out,
            "\ninterface {} (zone {}): discovery {}",
            iface.name,
            iface.zone,
            if iface.paused { "paused" } else { "running" }
        );
        if let Some(error) = &iface.error {
            let _ = writeln!(out, "  error: {error}");
        }
        for link in &iface.registries {
            let state = match link.reachable {
                Some(true) => "reachable",
                Some(false) => "unreachable",
                None => "not asked yet",
            };
            let _ = write!(out, "  registry {}: {state}", link.address);
            if let Some(rtt) = link.rtt_ms {
                let _ = write!(out, ", rtt {rtt:.1} ms");
            }
            if let Some(serial) = link.serial {
                let _ = write!(out, ", serial {serial}");
            }
            if let Some(age) = link.last_sync_age_secs {
                let _ = write!(out, ", synced {age} s ago");
            }
            if let Some(error) = &link.error {
                let _ = write!(out, " ({error})");
            }
            out.push('\n');
        }
        for peer in &iface.peers {
            let name = match &peer.name {
                Some(name) => format!("{name} ({})", peer.short_key()),
                None => peer.short_key().to_owned(),
            };
            let ips = peer
                .tunnel_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let endpoint = peer
                .endpoint
                .map(|e| e.to_string())
                .unwrap_or_else(|| "(none)".into());
            let source = match peer.endpoint_source {
                EndpointSource::None => "",
                EndpointSource::Registry => " from registry",
                EndpointSource::Static => " static",
                EndpointSource::Roaming => " roamed",
            };
            let handshake = peer
                .latest_handshake_age_secs
                .map(|s| format!("handshake {s} s ago"))
                .unwrap_or_else(|| "no handshake".into());
            let health = match peer.health.state {
                HealthState::Direct => "direct",
                HealthState::Pending => "pending",
                HealthState::Stale => "stale",
                HealthState::NotDirect => "NOT DIRECT",
                HealthState::Registry => "registry peer",
            };
            let _ = write!(
                out,
                "  peer {name} {ips}: {health}; endpoint {endpoint}{source}, {handshake}"
            );
            if let Some(reason) = &peer.health.reason {
                let _ = write!(out, "; {reason}");
            }
            out.push('\n');
        }
    }
    if let Some(registry) = &status.registry {
        let listen = registry
            .listen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "\nregistry mode: {} (zone {}, device {}, listening on {}): {} peers served, {} queries, {} refused",
            if registry.enabled { "enabled" } else { "disabled" },
            registry.zone,
            registry.device,
            if listen.is_empty() { "-".into() } else { listen },
            registry.peers_served,
            registry.queries,
            registry.refusals
        );
        if registry.strangers_dropped + registry.rate_limited + registry.tcp_refused > 0 {
            let _ = writeln!(
                out,
                "  dropped: {} from strangers, {} over the rate limit, {} TCP connections over the cap",
                registry.strangers_dropped, registry.rate_limited, registry.tcp_refused
            );
        }
        if let Some(error) = &registry.error {
            let _ = writeln!(out, "  error: {error}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use punchwire_control::status::RegistryModeStatus;

    use super::*;

    fn with_registry(strangers: u64, rate_limited: u64, tcp_refused: u64) -> ServiceStatus {
        ServiceStatus {
            version: "1".into(),
            config_path: "/etc/punchwire/config.toml".into(),
            interfaces: Vec::new(),
            registry: Some(RegistryModeStatus {
                enabled: true,
                zone: "example.com.".into(),
                device: "wg0".into(),
                listen: vec!["10.99.0.1:53".parse().unwrap()],
                peers_served: 2,
                queries: 10,
                refusals: 0,
                error: None,
                strangers_dropped: strangers,
                rate_limited,
                tcp_refused,
            }),
        }
    }

    #[test]
    fn what_the_registry_dropped_is_shown_once_there_is_any() {
        let quiet = render_status(&with_registry(0, 0, 0));
        assert!(!quiet.contains("dropped"), "{quiet}");
        let attacked = render_status(&with_registry(3, 4, 1992));
        assert!(
            attacked.contains(
                "dropped: 3 from strangers, 4 over the rate limit, 1992 TCP connections over the cap"
            ),
            "{attacked}"
        );
    }
}

//! The control-socket clients: `status`, `events`, `pause`, `resume`, `reload`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use punchwire_control::defaults::DEFAULT_SOCKET;
// Every string below came from the service, and many from further away (peer names
// from files, registries' answers in reasons and errors): none may steer the terminal.
use punchwire_control::client::ControlClient;
use punchwire_control::escape::display_safe as safe;
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
    let mut line = safe(kind).into_owned();
    if let Some(fields) = event.as_object() {
        for (key, value) in fields {
            if key == "type" || value.is_null() {
                continue;
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(line, " {}={}", safe(key), safe(&text));
        }
    }
    line
}

fn render_status(status: &ServiceStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "punchwire {} (config {})",
        safe(&status.version),
        safe(&status.config_path)
    );
    for iface in &status.interfaces {
        let _ = writeln!(
            out,
            "\ninterface {} (zone {}): discovery {}",
            safe(&iface.name),
            safe(&iface.zone),
            if iface.paused { "paused" } else { "running" }
        );
        if let Some(error) = &iface.error {
            let _ = writeln!(out, "  error: {}", safe(error));
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
                let _ = write!(out, " ({})", safe(error));
            }
            out.push('\n');
        }
        for peer in &iface.peers {
            let name = match &peer.name {
                Some(name) => format!("{} ({})", safe(name), safe(peer.short_key())),
                None => safe(peer.short_key()).into_owned(),
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
                let _ = write!(out, "; {}", safe(reason));
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
            safe(&registry.zone),
            safe(&registry.device),
            if listen.is_empty() { "-".into() } else { listen },
            registry.peers_served,
            registry.queries,
            registry.refusals
        );
        if let Some(error) = &registry.error {
            let _ = writeln!(out, "  error: {}", safe(error));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_reasons_from_elsewhere_cannot_steer_the_terminal() {
        let status: ServiceStatus = serde_json::from_value(json!({
            "version": "0.1.0",
            "config_path": "/etc/punchwire/config.toml",
            "interfaces": [{
                "name": "wg0", "zone": "wg.example.", "paused": false, "error": null,
                "registries": [],
                "peers": [{
                    "public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
                    "name": "alice\u{1b}[2J\u{1b}]0;pwned\u{7}",
                    "tunnel_ips": ["10.99.0.2/32"], "endpoint": null,
                    "endpoint_source": "none", "latest_handshake_age_secs": null,
                    "rx_bytes": 0, "tx_bytes": 0, "last_decision": null,
                    "health": {
                        "state": "not-direct",
                        "reason": "SRV target evil.\ninterface wg1: all fine"
                    }
                }]
            }],
            "registry": null
        }))
        .unwrap();
        let out = render_status(&status);
        assert!(
            !out.chars().any(|c| c == '\u{1b}' || c == '\u{7}'),
            "{out:?}"
        );
        assert!(
            out.contains("alice\\u{1b}[2J\\u{1b}]0;pwned\\u{7} (xTIBA5rb)"),
            "{out}"
        );
        assert!(
            out.contains("; SRV target evil.\\ninterface wg1: all fine\n"),
            "the forged line stays on the peer's line: {out}"
        );

        let event = json!({"type": "endpoint-changed", "peer": "bob\r\u{1b}[1A"});
        assert_eq!(
            describe_event(&event),
            "endpoint-changed peer=bob\\r\\u{1b}[1A"
        );
    }
}

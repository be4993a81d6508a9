//! The control-socket clients: `status`, `events`, `pause`, `resume`, `reload`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::defaults::DEFAULT_SOCKET;
// Every string below came from the service, and many from further away (peer names
// from files, registries' answers in reasons and errors): none may steer the terminal.
use punchwire_control::escape::display_safe as safe;
use punchwire_control::protocol::{Command, ErrorCode};
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
        match client.next_event().await {
            Ok(event) if args.json => println!("{event}"),
            Ok(event) => println!("{}", describe_event(&event)),
            // The service dropped events this client was too slow for. What they said
            // is in the status now, so show that and carry on following.
            Err(ClientError::Refused {
                code: ErrorCode::Lagged,
                message,
                ..
            }) => missed_events(&args, &message).await?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Says that events were missed and what the state is now, read on a connection of its
/// own (a request on the subscribed one would skip the events that arrive meanwhile).
async fn missed_events(args: &EventsArgs, message: &str) -> anyhow::Result<()> {
    let status = connect(&args.socket)
        .await?
        .request(Command::Status)
        .await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"type": "lagged", "message": message, "status": status})
        );
    } else {
        println!("missed events: {message}; the status now:");
        match serde_json::from_value::<ServiceStatus>(status) {
            Ok(status) => print!("{}", render_status(&status)),
            Err(e) => println!("(a status this client does not understand: {e})"),
        }
    }
    Ok(())
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
            // A typed reason is told by the event's `text`, in words.
            if key == "reason" && value.is_object() && fields.contains_key("text") {
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
    let _ = writeln!(out, "{}", status.summary.text);
    for iface in &status.interfaces {
        let zone = if iface.zone.is_empty() {
            "not known yet"
        } else {
            &iface.zone
        };
        let _ = writeln!(
            out,
            "\ninterface {} (zone {}): discovery {}",
            safe(&iface.name),
            safe(zone),
            if iface.paused { "paused" } else { "running" }
        );
        if let Some(found) = &iface.discovery {
            let _ = writeln!(out, "  found among the peers: {}", safe(found.text()));
        }
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
                HealthState::Relayed => "RELAYED via registry",
            };
            let _ = write!(
                out,
                "  peer {name} {ips}: {health}; endpoint {endpoint}{source}, {handshake}"
            );
            // Why, where there is something to act on; a direct peer's reason is its
            // handshake age, already on the line.
            if !matches!(
                peer.health.state,
                HealthState::Direct | HealthState::Registry
            ) {
                let _ = write!(out, "; {}", safe(&peer.health.text));
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
        if registry.strangers_dropped + registry.rate_limited + registry.tcp_refused > 0 {
            let _ = writeln!(
                out,
                "  dropped: {} from strangers, {} over the rate limit, {} TCP connections over the cap",
                registry.strangers_dropped, registry.rate_limited, registry.tcp_refused
            );
        }
        if let Some(error) = &registry.error {
            let _ = writeln!(out, "  error: {}", safe(error));
        }
    }
    for offer in &status.unconfigured {
        let _ = writeln!(
            out,
            "\nnot configured: {} ({} peer{}): {}",
            safe(&offer.name),
            offer.peers,
            if offer.peers == 1 { "" } else { "s" },
            safe(offer.discovery.text())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use punchwire_control::status::{RegistryModeStatus, Summary, SummaryState};
    use serde_json::json;

    use super::*;

    fn fixture() -> serde_json::Value {
        let read = |name: &str| -> serde_json::Value {
            let path = format!(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/{}"),
                name
            );
            let text =
                std::fs::read_to_string(&path).expect("the shared fixtures are in tests/fixtures");
            serde_json::from_str(&text).expect("the fixture is JSON")
        };
        serde_json::json!({"status": read("status.json"), "events": read("events.json")})
    }

    /// `punchwire status` says the verdicts the service computed (the shared fixture the
    /// tray's and the window's tests render too), in the service's words.
    #[test]
    fn status_renders_the_service_s_verdicts() {
        let status: ServiceStatus = serde_json::from_value(fixture()["status"].clone()).unwrap();
        let out = render_status(&status);
        assert_eq!(out.lines().nth(1), Some("1 of 5 peers direct"), "{out}");
        let line = |who: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("  peer {who}")))
                .unwrap_or_else(|| panic!("no line for {who}: {out}"))
                .to_owned()
        };
        assert!(line("registry").contains(": registry peer;"));
        assert!(line("alice")
            .contains(": direct; endpoint 198.51.100.7:41234 from registry, handshake 14 s ago"));
        assert!(
            line("alice").ends_with("handshake 14 s ago"),
            "nothing to act on"
        );
        assert!(line("bob").ends_with(
            ": NOT DIRECT; endpoint 203.0.113.9:40000 from registry, no handshake; no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)"
        ));
        assert!(line("carol").ends_with(": stale; endpoint 198.51.100.22:60001 from registry, handshake 245 s ago; latest handshake 245 s ago"));
        assert!(line("dave").ends_with("pending; endpoint 198.51.100.40:51820 from registry, no handshake; waiting for the first handshake on 198.51.100.40:51820, set 4 s ago"));
        assert!(line("h5zJ/VdR").ends_with(
            ": NOT DIRECT; endpoint (none), no handshake; no endpoint yet (discovery: no-record)"
        ));
    }

    #[test]
    fn events_read_as_one_line_with_the_reason_in_words() {
        let events = fixture()["events"].clone();
        let health_change = events
            .as_array()
            .and_then(|all| all.iter().find(|e| e["type"] == "peer-health-changed"))
            .expect("the fixture has a health change");
        let line = describe_event(health_change);
        assert!(line.starts_with("peer-health-changed "), "{line}");
        for part in [
            " name=bob ",
            " from=pending ",
            " to=not-direct",
            " text=no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
        assert!(!line.contains("kind"), "{line}");
    }

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
                        "reason": {"kind": "no-handshake-yet", "decision": null},
                        "text": "SRV target evil.\ninterface wg1: all fine"
                    }
                }]
            }],
            "registry": null,
            "summary": {"state": "some-not-direct", "text": "The peer is not direct"}
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

    fn with_registry(strangers: u64, rate_limited: u64, tcp_refused: u64) -> ServiceStatus {
        ServiceStatus {
            version: "1".into(),
            config_path: "/etc/punchwire/config.toml".into(),
            summary: Summary {
                state: SummaryState::NoPeers,
                text: "No peers yet".into(),
            },
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
            unconfigured: Vec::new(),
            proposed_registry_zone: None,
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

    #[test]
    fn a_first_run_shows_what_each_unconfigured_interface_would_use() {
        use punchwire_control::setup::{Discovery, UnconfiguredInterface};
        let mut status = with_registry(0, 0, 0);
        status.unconfigured = vec![
            UnconfiguredInterface {
                name: "wg0".into(),
                peers: 3,
                discovery: Discovery::found(
                    vec!["10.99.0.1:53".parse().unwrap()],
                    "example.com.".into(),
                ),
            },
            UnconfiguredInterface {
                name: "wg1".into(),
                peers: 1,
                discovery: Discovery::not_found("no peer of wg1 named a zone".into()),
            },
        ];
        let text = render_status(&status);
        assert!(
            text.contains("not configured: wg0 (3 peers): registry 10.99.0.1, zone example.com.")
                && text.contains("not configured: wg1 (1 peer): no peer of wg1 named a zone"),
            "{text}"
        );
    }
}

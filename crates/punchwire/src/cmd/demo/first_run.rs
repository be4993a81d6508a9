//! The demo's first run: alice's service starts with nothing configured. The demo shows
//! what the service offers and waits for a client to enable alice's interface, as a new
//! user would from the tray app.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use punchwire_control::client::ControlClient;
use punchwire_control::protocol::Command;
use punchwire_control::setup::Discovery;
use punchwire_control::status::ServiceStatus;
use punchwire_lab::{Host, Lab};

use super::{fact, say};

/// How often the demo looks whether the interface was enabled.
const LOOK_EVERY: Duration = Duration::from_millis(250);

pub fn wait_until_enabled(
    lab: &Lab,
    socket: &Path,
    timeout: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let iface = lab.host(Host::Alice).iface.clone();
    say("First run: alice's service has nothing configured");
    let deadline = Instant::now() + timeout;
    let found = loop {
        let offered = status(socket)?
            .unconfigured
            .into_iter()
            .find(|u| u.name == iface);
        match offered {
            Some(offer) if matches!(offer.discovery, Discovery::Found { .. }) => break offer,
            _ if Instant::now() >= deadline => bail!(
                "alice's service did not find her registry within {timeout:?}: {}",
                offered.map_or("her interface is not offered".to_owned(), |o| o
                    .discovery
                    .text()
                    .to_owned())
            ),
            _ => std::thread::sleep(LOOK_EVERY),
        }
    };
    fact(&format!(
        "it offers {iface} ({} peers): {}",
        found.peers,
        found.discovery.text()
    ));
    fact("enable it in the Punchwire window or tray menu; the demo goes on once it is");
    while !stop.load(Ordering::SeqCst) {
        if !status(socket)?.interfaces.is_empty() {
            fact(&format!(
                "{iface} enabled: its peers are kept direct from now on"
            ));
            return Ok(());
        }
        std::thread::sleep(LOOK_EVERY);
    }
    bail!("stopped before {iface} was enabled")
}

fn status(socket: &Path) -> anyhow::Result<ServiceStatus> {
    let value = tokio::runtime::Handle::current().block_on(async {
        let mut client = ControlClient::connect(socket).await?;
        client.request(Command::Status).await
    });
    let value = value.with_context(|| format!("asking alice's service at {}", socket.display()))?;
    serde_json::from_value(value).context("reading alice's status")
}

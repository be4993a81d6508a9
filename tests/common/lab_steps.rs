//! Steps every lab test takes with the real binaries: where `punchwire` is, a ping over
//! the tunnel, waiting for a direct path, a request on a service's control socket.

use std::path::Path;
use std::time::Duration;

use punchwire_control::client::ControlClient;
use punchwire_control::protocol::Command as ControlCommand;
use punchwire_lab::{wait_until, Host, Lab};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_punchwire");
/// How long one step of a lab test may take.
pub const STEP: Duration = Duration::from_secs(60);

pub fn bin() -> &'static Path {
    Path::new(BIN)
}

pub fn ping(lab: &Lab, from: Host, to: Host) -> bool {
    let target = to.tunnel_ip().to_string();
    lab.try_exec(from, &["ping", "-c", "1", "-W", "1", &target])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Both sides ping until one gets through: each NAT must see its own side send first.
pub fn wait_direct(lab: &Lab, what: &str) -> Duration {
    wait_until(STEP, what, || {
        let _ = ping(lab, Host::Bob, Host::Alice);
        ping(lab, Host::Alice, Host::Bob)
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One request on a service's control socket; the service must answer it.
pub fn control(socket: &Path, command: ControlCommand) -> Value {
    try_control(socket, command).unwrap_or_else(|e| panic!("the service answers: {e}"))
}

/// One request on a service's control socket, its refusal as an error.
pub fn try_control(socket: &Path, command: ControlCommand) -> Result<Value, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut client = ControlClient::connect(socket).await.expect("connect");
            client.request(command).await.map_err(|e| e.to_string())
        })
}

pub fn key(lab: &Lab, host: Host) -> String {
    lab.host(host).public_key.to_base64()
}

/// `peer`'s entry (its public key, base64) in the status of the service at `socket`,
/// on its first interface.
pub fn peer_status(socket: &Path, peer: &str) -> Value {
    let status = control(socket, ControlCommand::Status);
    status["interfaces"][0]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["public_key"] == peer)
        .cloned()
        .unwrap_or_else(|| panic!("no peer {peer} in {status}"))
}

/// The events of type `kind` that the service at `socket` told lately.
pub fn recent_events(socket: &Path, kind: &str) -> Vec<Value> {
    let recent = control(socket, ControlCommand::RecentEvents);
    recent["events"]
        .as_array()
        .expect("a list of events")
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

//! The machine form. Its shape is a promise to scripts: fields are only ever added,
//! and `version` changes if one ever has to change meaning.

use std::time::{SystemTime, UNIX_EPOCH};

use punchwire_wg::Device;
use serde::Serialize;

pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Output<'a> {
    version: u32,
    interfaces: Vec<Interface<'a>>,
}

#[derive(Serialize)]
struct Interface<'a> {
    name: &'a str,
    public_key: Option<String>,
    listen_port: Option<u16>,
    fwmark: Option<u32>,
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct Peer {
    public_key: String,
    preshared_key: bool,
    endpoint: Option<String>,
    allowed_ips: Vec<String>,
    /// Unix seconds of the latest handshake; null if none.
    latest_handshake: Option<u64>,
    /// Seconds since the latest handshake; null if none.
    latest_handshake_age: Option<u64>,
    rx_bytes: u64,
    tx_bytes: u64,
    /// Seconds; null when off.
    persistent_keepalive: Option<u16>,
}

pub fn render(devices: &[Device], now: SystemTime) -> String {
    let output = Output {
        version: VERSION,
        interfaces: devices
            .iter()
            .map(|d| Interface {
                name: &d.name,
                public_key: d.public_key.map(|k| k.to_base64()),
                listen_port: d.listen_port,
                fwmark: d.fwmark,
                peers: d
                    .peers
                    .iter()
                    .map(|p| Peer {
                        public_key: p.public_key.to_base64(),
                        preshared_key: p.has_preshared_key,
                        endpoint: p.endpoint.map(|e| e.to_string()),
                        allowed_ips: p.allowed_ips.iter().map(ToString::to_string).collect(),
                        latest_handshake: p
                            .last_handshake
                            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map(|d| d.as_secs()),
                        latest_handshake_age: p.handshake_age(now).map(|d| d.as_secs()),
                        rx_bytes: p.rx_bytes,
                        tx_bytes: p.tx_bytes,
                        persistent_keepalive: p.persistent_keepalive,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut json = serde_json::to_string_pretty(&output).expect("show output is plain data");
    json.push('\n');
    json
}

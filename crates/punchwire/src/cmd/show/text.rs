//! The human form, laid out like `wg show` so that its readers feel at home.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use punchwire_control::escape::display_safe;
use punchwire_wg::Device;

pub fn render(devices: &[Device], now: SystemTime) -> String {
    let mut out = String::new();
    for (i, device) in devices.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        device_block(&mut out, device, now);
    }
    out
}

fn device_block(out: &mut String, device: &Device, now: SystemTime) {
    // A userspace interface's name is a socket's file name, which anyone who can write
    // the socket directory chooses.
    let _ = writeln!(out, "interface: {}", display_safe(&device.name));
    match &device.public_key {
        Some(key) => {
            let _ = writeln!(out, "  public key: {key}");
        }
        None => {
            let _ = writeln!(out, "  public key: (not reported by this implementation)");
        }
    }
    if let Some(port) = device.listen_port {
        let _ = writeln!(out, "  listening port: {port}");
    }
    if let Some(mark) = device.fwmark {
        let _ = writeln!(out, "  fwmark: {mark:#x}");
    }
    for peer in &device.peers {
        let _ = writeln!(out, "\npeer: {}", peer.public_key);
        if peer.has_preshared_key {
            let _ = writeln!(out, "  preshared key: (hidden)");
        }
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "  endpoint: {endpoint}");
        }
        let allowed = if peer.allowed_ips.is_empty() {
            "(none)".to_owned()
        } else {
            peer.allowed_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "  allowed ips: {allowed}");
        if let Some(age) = peer.handshake_age(now) {
            let _ = writeln!(out, "  latest handshake: {}", ago(age));
        }
        if peer.rx_bytes > 0 || peer.tx_bytes > 0 {
            let _ = writeln!(
                out,
                "  transfer: {} received, {} sent",
                bytes(peer.rx_bytes),
                bytes(peer.tx_bytes)
            );
        }
        if let Some(secs) = peer.persistent_keepalive {
            let _ = writeln!(
                out,
                "  persistent keepalive: every {}",
                plural(secs.into(), "second")
            );
        }
    }
}

/// "1 hour, 2 minutes, 3 seconds ago", as `wg show` words it.
pub fn ago(age: Duration) -> String {
    let mut secs = age.as_secs();
    if secs == 0 {
        return "Now".to_owned();
    }
    let mut parts = Vec::new();
    for (unit, len) in [
        ("year", 365 * 24 * 3600),
        ("day", 24 * 3600),
        ("hour", 3600),
        ("minute", 60),
        ("second", 1),
    ] {
        if secs >= len {
            parts.push(plural(secs / len, unit));
            secs %= len;
        }
    }
    format!("{} ago", parts.join(", "))
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Binary units as `wg show` prints them.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::{Peer, PublicKey};

    #[test]
    fn ages_read_like_wg_show() {
        assert_eq!(ago(Duration::ZERO), "Now");
        assert_eq!(ago(Duration::from_secs(1)), "1 second ago");
        assert_eq!(ago(Duration::from_secs(65)), "1 minute, 5 seconds ago");
        assert_eq!(ago(Duration::from_secs(7200)), "2 hours ago");
    }

    #[test]
    fn transfer_uses_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.00 MiB");
    }

    #[test]
    fn a_device_renders_every_field_a_user_needs() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let device = Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: Some(51820),
            fwmark: None,
            peers: vec![Peer {
                public_key: "mvplwow3agnGM8G78+BiJ3tmlPf9gDtbJ2NdxqV44D8="
                    .parse::<PublicKey>()
                    .unwrap(),
                has_preshared_key: false,
                endpoint: Some("198.51.100.10:40000".parse().unwrap()),
                allowed_ips: vec!["10.99.0.3/32".parse().unwrap()],
                last_handshake: Some(now - Duration::from_secs(12)),
                rx_bytes: 2048,
                tx_bytes: 100,
                persistent_keepalive: Some(25),
            }],
        };
        let text = render(&[device], now);
        for expected in [
            "interface: wg0",
            "public key: (not reported by this implementation)",
            "listening port: 51820",
            "peer: mvplwow3agnGM8G78+BiJ3tmlPf9gDtbJ2NdxqV44D8=",
            "endpoint: 198.51.100.10:40000",
            "allowed ips: 10.99.0.3/32",
            "latest handshake: 12 seconds ago",
            "transfer: 2.00 KiB received, 100 B sent",
            "persistent keepalive: every 25 seconds",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}

//! The `set=1` requests Punchwire sends, each ending with the blank line.

use std::fmt::Write;
use std::net::SocketAddr;

use data_encoding::HEXLOWER;
use ipnet::IpNet;

use super::config::UapiPeer;
use crate::device::Endpoint;
use crate::key::PublicKey;

pub(super) const GET: &str = "get=1\n\n";

/// Points an existing peer at `endpoint`; `update_only` makes sure a peer removed in
/// the meantime is not created again.
pub(super) fn update_endpoint(peer: &PublicKey, endpoint: Endpoint) -> String {
    format!(
        "set=1\npublic_key={}\nupdate_only=true\nendpoint={endpoint}\n\n",
        hex(peer)
    )
}

/// Sets each listed peer's allowed IPs to exactly its list, in one request that a
/// compliant implementation applies whole, peer after peer: `replace_allowed_ips`
/// drops what the peer had, and each `allowed_ip` takes its network from whichever
/// peer held it. `update_only` skips a peer removed in the meantime instead of
/// creating it. Not for boringtun, which refuses `update_only` and panics on a change
/// to an existing peer.
pub(super) fn set_allowed_ips(peers: &[(PublicKey, Vec<IpNet>)]) -> String {
    let mut request = String::from("set=1\n");
    for (key, nets) in peers {
        let _ = write!(
            request,
            "public_key={}\nupdate_only=true\nreplace_allowed_ips=true\n",
            hex(key)
        );
        for net in nets {
            let _ = writeln!(request, "allowed_ip={}", net.trunc());
        }
    }
    request.push('\n');
    request
}

/// Opens the listening sockets again on the same port. Both userspace implementations
/// then drop what they kept of the old network: wireguard-go the source address it
/// sends each peer's packets from, boringtun the per-peer sockets it connected from
/// an address, which stay dead once that address is gone.
pub(super) fn rebind(listen_port: u16) -> String {
    format!("set=1\nlisten_port={listen_port}\n\n")
}

pub(super) fn remove_peer(peer: &PublicKey) -> String {
    format!("set=1\npublic_key={}\nremove=true\n\n", hex(peer))
}

/// Adds `peer` back with everything it had (preshared key, keepalive, allowed IPs), at
/// `endpoint`, or with no endpoint when `None`. Only keys that boringtun knows: it
/// refuses the whole request on any other.
pub(super) fn add_peer(peer: &UapiPeer, endpoint: Option<SocketAddr>) -> String {
    format!("set=1\n{}\n", peer_lines(peer, endpoint))
}

/// Removes `peer` and adds it again, with everything it had, at `endpoint`: in one
/// request, which a compliant implementation applies whole. A peer made anew has never
/// tried a handshake, so its first initiation goes out at once instead of waiting out
/// REKEY_TIMEOUT (5 s) after one it tried while it had no endpoint.
pub(super) fn replace_peer(peer: &UapiPeer, endpoint: Endpoint) -> String {
    format!(
        "set=1\npublic_key={}\nremove=true\n{}\n",
        hex(&peer.peer.public_key),
        peer_lines(peer, Some(endpoint.addr()))
    )
}

/// The lines that make `peer` what it is, its `public_key=` first.
fn peer_lines(peer: &UapiPeer, endpoint: Option<SocketAddr>) -> String {
    let mut lines = format!("public_key={}\n", hex(&peer.peer.public_key));
    if let Some(psk) = &peer.preshared_key {
        let _ = writeln!(lines, "preshared_key={}", psk.to_hex());
    }
    if let Some(endpoint) = endpoint {
        let _ = writeln!(lines, "endpoint={endpoint}");
    }
    if let Some(interval) = peer.peer.persistent_keepalive {
        let _ = writeln!(lines, "persistent_keepalive_interval={interval}");
    }
    for net in &peer.peer.allowed_ips {
        let _ = writeln!(lines, "allowed_ip={net}");
    }
    lines
}

fn hex(key: &PublicKey) -> String {
    HEXLOWER.encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::uapi::config::parse_get;
    use std::time::SystemTime;

    #[test]
    fn allowed_ips_are_replaced_per_peer_in_one_request_that_creates_nobody() {
        let relay = PublicKey::from_bytes([0xab; 32]);
        let other = PublicKey::from_bytes([0xcd; 32]);
        let request = set_allowed_ips(&[
            (
                relay,
                vec![
                    "10.99.0.1/32".parse().unwrap(),
                    // Host bits go, as WireGuard would drop them.
                    "fd99::5/64".parse().unwrap(),
                ],
            ),
            (other, vec![]),
        ]);
        assert_eq!(
            request,
            format!(
                "set=1\npublic_key={r}\nupdate_only=true\nreplace_allowed_ips=true\n\
                 allowed_ip=10.99.0.1/32\nallowed_ip=fd99::/64\n\
                 public_key={o}\nupdate_only=true\nreplace_allowed_ips=true\n\n",
                r = "ab".repeat(32),
                o = "cd".repeat(32),
            )
        );
    }

    #[test]
    fn re_add_carries_everything_the_peer_had() {
        let key = PublicKey::from_bytes([0xab; 32]);
        let answer: Vec<String> = format!(
            "public_key={k}\npreshared_key={psk}\npersistent_keepalive_interval=5\n\
             allowed_ip=10.99.0.2/32\nallowed_ip=10.98.0.0/16\nendpoint=192.0.2.1:1\n",
            k = "ab".repeat(32),
            psk = "cd".repeat(32),
        )
        .lines()
        .map(str::to_owned)
        .collect();
        let device = parse_get(&answer, SystemTime::now()).unwrap();
        let endpoint: Endpoint = "[2001:db8::7]:51820".parse().unwrap();
        assert_eq!(
            add_peer(device.peer(&key).unwrap(), Some(endpoint.addr())),
            format!(
                "set=1\npublic_key={k}\npreshared_key={psk}\nendpoint=[2001:db8::7]:51820\n\
                 persistent_keepalive_interval=5\nallowed_ip=10.99.0.2/32\n\
                 allowed_ip=10.98.0.0/16\n\n",
                k = "ab".repeat(32),
                psk = "cd".repeat(32),
            )
        );
        assert_eq!(
            replace_peer(device.peer(&key).unwrap(), endpoint),
            format!(
                "set=1\npublic_key={k}\nremove=true\npublic_key={k}\npreshared_key={psk}\n\
                 endpoint=[2001:db8::7]:51820\npersistent_keepalive_interval=5\n\
                 allowed_ip=10.99.0.2/32\nallowed_ip=10.98.0.0/16\n\n",
                k = "ab".repeat(32),
                psk = "cd".repeat(32),
            )
        );
        assert_eq!(
            update_endpoint(&key, endpoint),
            format!(
                "set=1\npublic_key={}\nupdate_only=true\nendpoint=[2001:db8::7]:51820\n\n",
                "ab".repeat(32)
            )
        );
    }
}

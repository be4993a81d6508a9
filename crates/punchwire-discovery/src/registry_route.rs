//! Whether the registries are asked through the tunnel: a registry address that no
//! peer's AllowedIPs contain is reached outside it, where DNS is unauthenticated and
//! anyone on the path can answer and steer endpoints.

use std::net::SocketAddr;

use punchwire_wg::Device;

/// A registry whose queries would leave the tunnel of interface `iface`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "registry {registry} is outside the tunnel of {iface}: no peer's AllowedIPs contain {ip}, \
     so the DNS queries would leave the tunnel unauthenticated and anyone on their path could \
     answer them and steer endpoints; add {ip} to the registry peer's AllowedIPs",
    ip = registry.ip()
)]
pub struct OutsideTunnel {
    pub registry: SocketAddr,
    pub iface: String,
}

/// The first of `registries` that `device` would not reach through its tunnel, if any.
/// A loopback registry is never outside: its queries do not leave this machine.
pub fn registry_outside_tunnel(
    registries: &[SocketAddr],
    device: &Device,
) -> Result<(), OutsideTunnel> {
    let outside = registries.iter().find(|registry| {
        let ip = registry.ip().to_canonical();
        !ip.is_loopback() && !device.allowed_ips().any(|net| net.contains(&ip))
    });
    match outside {
        Some(registry) => Err(OutsideTunnel {
            registry: *registry,
            iface: device.name.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::{Peer, PublicKey};

    fn device(allowed: &[&str]) -> Device {
        Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers: vec![Peer {
                allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
                ..Peer::new(PublicKey::from_bytes([1; 32]))
            }],
        }
    }

    fn registries(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    #[test]
    fn a_registry_inside_some_peers_allowed_ips_is_inside() {
        let d = device(&["10.99.0.1/32", "fd99::/64"]);
        assert_eq!(
            registry_outside_tunnel(&registries(&["10.99.0.1:53", "[fd99::1]:53"]), &d),
            Ok(())
        );
        // A full tunnel routes every address, the registry's too.
        let full = device(&["0.0.0.0/0"]);
        assert_eq!(
            registry_outside_tunnel(&registries(&["198.51.100.53:53"]), &full),
            Ok(())
        );
    }

    #[test]
    fn a_registry_no_peer_routes_is_outside_and_the_error_says_where_and_why() {
        let d = device(&["10.99.0.1/32"]);
        let e = registry_outside_tunnel(&registries(&["10.99.0.1:53", "198.51.100.53:53"]), &d)
            .unwrap_err();
        assert_eq!(e.registry, "198.51.100.53:53".parse().unwrap());
        let words = e.to_string();
        assert!(
            words.starts_with("registry 198.51.100.53:53 is outside the tunnel of wg0: "),
            "{words}"
        );
        assert!(words.contains("unauthenticated"), "{words}");
        // An IPv4-mapped registry address is the IPv4 address it maps.
        assert_eq!(
            registry_outside_tunnel(&registries(&["[::ffff:10.99.0.1]:53"]), &d),
            Ok(())
        );
    }

    #[test]
    fn a_loopback_registry_never_leaves_the_machine() {
        let d = device(&["10.99.0.1/32"]);
        assert_eq!(
            registry_outside_tunnel(&registries(&["127.0.0.1:53", "[::1]:5353"]), &d),
            Ok(())
        );
    }
}

//! The one check of a configuration that needs the devices: every registry is asked
//! through the tunnel (see [`punchwire_discovery::registry_route`]). Run when a
//! configuration is loaded (at start, reload and `set-config`), before any of it applies.

use std::path::Path;

use punchwire_discovery::registry_outside_tunnel;
use punchwire_wg::Backend;

use crate::config::{Config, ConfigError};

/// Refuses `config` when one of its interfaces would ask a registry outside its tunnel,
/// unless that interface allows it. An interface whose device cannot be read is not
/// judged: it may not be up yet, and discovery reports it; the next reload judges it.
pub async fn check_registries_in_tunnel(
    config: &Config,
    backend: &Backend,
    path: &Path,
) -> Result<(), ConfigError> {
    for (i, iface) in config.interfaces.iter().enumerate() {
        if iface.allow_registry_outside_tunnel {
            continue;
        }
        let device = match backend.device(iface.name.as_str()).await {
            Ok(device) => device,
            Err(error) => {
                tracing::warn!(
                    iface = %iface.name,
                    %error,
                    "cannot read the device: whether its registries are inside the tunnel is checked at the next reload"
                );
                continue;
            }
        };
        if let Err(outside) = registry_outside_tunnel(&iface.registries, &device) {
            let j = iface
                .registries
                .iter()
                .position(|r| *r == outside.registry)
                .unwrap_or_default();
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                key: format!("interface[{i}].registries[{j}]"),
                reason: format!(
                    "{outside}; or, to ask it outside the tunnel anyway, set \
                     allow_registry_outside_tunnel = true in this [[interface]]"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::{Device, MemoryBackend, Peer, PublicKey};

    fn backend_with_registry_peer() -> Backend {
        let memory = MemoryBackend::new();
        memory.put_device(Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers: vec![Peer {
                allowed_ips: vec!["10.99.0.1/32".parse().unwrap()],
                ..Peer::new(PublicKey::from_bytes([1; 32]))
            }],
        });
        Backend::new(memory)
    }

    fn config(registry: &str, extra: &str) -> Config {
        Config::parse(
            Path::new("/etc/punchwire.toml"),
            &format!(
                "[[interface]]\nname = \"wg0\"\nzone = \"example.com.\"\n\
                 registries = [\"10.99.0.1:53\", \"{registry}\"]\n{extra}"
            ),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_registry_outside_the_tunnel_is_refused_at_its_key_with_the_way_out() {
        let e = check_registries_in_tunnel(
            &config("198.51.100.53:53", ""),
            &backend_with_registry_peer(),
            Path::new("/etc/punchwire.toml"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.key(), Some("interface[0].registries[1]"));
        let words = e.to_string();
        for part in [
            "registry 198.51.100.53:53 is outside the tunnel of wg0",
            "unauthenticated",
            "allow_registry_outside_tunnel = true",
        ] {
            assert!(words.contains(part), "{part:?} in {words}");
        }
    }

    #[tokio::test]
    async fn registries_inside_the_tunnel_or_allowed_out_of_it_pass() {
        let backend = backend_with_registry_peer();
        let path = Path::new("/etc/punchwire.toml");
        check_registries_in_tunnel(&config("10.99.0.1:5353", ""), &backend, path)
            .await
            .unwrap();
        let allowed = config("198.51.100.53:53", "allow_registry_outside_tunnel = true\n");
        check_registries_in_tunnel(&allowed, &backend, path)
            .await
            .unwrap();
        // The opt-out survives the round trip through the file set-config writes.
        assert_eq!(Config::parse(path, &allowed.to_toml()).unwrap(), allowed);
    }

    #[tokio::test]
    async fn a_device_that_cannot_be_read_is_not_judged() {
        let backend = Backend::new(MemoryBackend::new());
        check_registries_in_tunnel(
            &config("198.51.100.53:53", ""),
            &backend,
            Path::new("/etc/punchwire.toml"),
        )
        .await
        .unwrap();
    }
}

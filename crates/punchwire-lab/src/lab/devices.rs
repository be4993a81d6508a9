//! Each host's WireGuard device as the lab configures it: the daemon and the initial
//! configuration of the crate docs, a restart that loses what was set since, and an
//! endpoint set by hand the way discovery sets one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Lab;
use crate::command;
use crate::error::{LabError, Result};
use crate::topology::{Host, Node, TUNNEL_PREFIX_LEN};
use crate::wireguard::{self, PeerConfig, WgImpl, MTU};

/// How long a daemon may take to open its UAPI socket.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

impl Lab {
    /// Starts the host's daemon, brings its device up with the tunnel address, then
    /// configures key and port, and each peer in a request of its own.
    pub(super) fn start_wireguard(&self, host: Host, port: u16) -> Result<()> {
        let info = self.host(host);
        let child = wireguard::start_daemon(
            self.wg,
            &info.namespace,
            &info.iface,
            &self.daemon_log(host),
            DAEMON_TIMEOUT,
        )?;
        {
            let mut state = self.state();
            state.daemons[host.index()] = Some(child);
            state.listen_ports[host.index()] = port;
        }
        // Up before configuring: wireguard-go sends the first keepalive when the peer
        // is configured on a device that is up.
        self.ip_batch(
            host.into(),
            &format!(
                "addr add {}/{TUNNEL_PREFIX_LEN} dev {iface}\n\
                 link set {iface} mtu {MTU} up\n",
                info.tunnel_ip,
                iface = info.iface,
            ),
        )?;
        let wg_set = |words: Vec<String>| {
            let mut args = vec!["wg".to_owned(), "set".into(), info.iface.clone()];
            args.extend(words);
            command::run(Some(&info.namespace), &args, None).map(|_| ())
        };
        wg_set(vec![
            "listen-port".into(),
            port.to_string(),
            "private-key".into(),
            info.private_key_file.to_string_lossy().into_owned(),
        ])?;
        // One request per peer: boringtun 0.7.1 carries a peer's endpoint and keepalive
        // over to the next peer of the same request when that one sets none.
        for peer in Host::ALL {
            if let Some(config) = self.peer_config(host, peer) {
                wg_set(config.set_args())?;
            }
        }
        Ok(())
    }

    /// How `host` is configured to know `peer` (see the crate docs).
    fn peer_config(&self, host: Host, peer: Host) -> Option<PeerConfig> {
        if host == peer {
            return None;
        }
        let allowed_ip = format!("{}/32", peer.tunnel_ip());
        let (endpoint, keepalive) = match (host, peer) {
            (Host::Registry, _) => (None, None),
            (_, Host::Registry) => (Some(self.registry_endpoint()), Some(self.keepalive)),
            _ => (None, Some(self.keepalive)),
        };
        Some(PeerConfig {
            key: self.host(peer).public_key,
            allowed_ip,
            endpoint,
            keepalive,
        })
    }

    /// Restarts the host's WireGuard daemon on a new listen port with its initial
    /// configuration (endpoints set since are gone, as after a reboot), so that its NAT
    /// makes a new mapping. Restarting the registry also points alice and bob at its
    /// new port.
    pub fn restart_wireguard(&self, host: Host, new_port: u16) -> Result<()> {
        let old = self.state().daemons[host.index()].take();
        if let Some(child) = old {
            wireguard::stop_daemon(child, &self.host(host).iface);
        }
        self.start_wireguard(host, new_port)?;
        if host == Host::Registry {
            for peer in [Host::Alice, Host::Bob] {
                self.set_endpoint_by_hand(peer, Host::Registry, self.registry_endpoint())?;
            }
        }
        Ok(())
    }

    /// Sets `host`'s endpoint for `peer`, as discovery would. On boringtun, whose
    /// event loop dies when an existing peer is modified, the peer is removed and
    /// re-added with its configuration and the new endpoint, in two requests.
    pub fn set_endpoint_by_hand(&self, host: Host, peer: Host, endpoint: SocketAddr) -> Result<()> {
        let info = self.host(host);
        let mut config = self
            .peer_config(host, peer)
            .ok_or_else(|| LabError::Usage(format!("{host} has no WireGuard peer {peer}")))?;
        let key = config.key.to_base64();
        match self.wg {
            WgImpl::WireguardGo => {
                let endpoint = endpoint.to_string();
                let args = [
                    "wg",
                    "set",
                    &info.iface,
                    "peer",
                    &key,
                    "endpoint",
                    &endpoint,
                ];
                command::run(Some(&info.namespace), &args, None)?;
            }
            WgImpl::Boringtun => {
                let remove = ["wg", "set", &info.iface, "peer", &key, "remove"];
                command::run(Some(&info.namespace), &remove, None)?;
                config.endpoint = Some(endpoint);
                let mut add = vec!["wg".to_owned(), "set".into(), info.iface.clone()];
                add.extend(config.set_args());
                command::run(Some(&info.namespace), &add, None)?;
            }
        }
        Ok(())
    }

    /// Where the host's daemon writes; named after the implementation, so that a
    /// report shows which one ran.
    pub(super) fn daemon_log(&self, host: Host) -> PathBuf {
        self.state_dir()
            .join(format!("{}-{}.log", Node::from(host).suffix(), self.wg))
    }
}

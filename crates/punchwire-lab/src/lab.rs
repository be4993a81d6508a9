//! The [`Lab`] value: what one lab owns and what it can tell about itself.
//!
//! Everything a lab does is a method on [`Lab`], kept in the submodule of its job so
//! that each reads in one pass:
//!
//! - [`build`]: the builder's options and the order of the build;
//! - [`network`]: namespaces, links and NAT rules, and changing them while it runs;
//! - [`grid`]: the grid's variants of one side: a carrier NAT, a firewall alone;
//! - [`ipv6`]: IPv6 on every net, routed behind the NAT boxes' firewalls;
//! - [`devices`]: each host's WireGuard daemon and its configuration;
//! - [`processes`]: commands and long-running programs in a namespace;
//! - [`delay`]: a fixed delay on every packet the simulated internet forwards;
//! - [`observe`]: what the devices report, and waiting on it;
//! - [`diagnostics`]: the report printed when a test fails;
//! - [`teardown`]: undoing all of it, also on panic.
//!
//! Running Punchwire itself in a lab is `crate::product`, on top of these.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Mutex, MutexGuard};

use punchwire_wg::PublicKey;

use crate::error::LabError;
use crate::names::LabName;
use crate::nat::NatBehaviour;
use crate::topology::{Host, Nat, Node};
use crate::wireguard::WgImpl;

mod build;
mod delay;
mod devices;
mod diagnostics;
mod grid;
mod ipv6;
mod network;
mod observe;
mod processes;
mod teardown;

pub use build::LabBuilder;
pub use delay::Delay;
pub use processes::Spawned;

use processes::SpawnedChild;

/// One WireGuard host of the lab, as other code needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub host: Host,
    /// Its network namespace, for `ip netns exec`.
    pub namespace: String,
    /// Its WireGuard interface (UAPI socket `/var/run/wireguard/<iface>.sock`).
    pub iface: String,
    pub public_key: PublicKey,
    /// The file holding its private key (base64), for configuring other tools.
    pub private_key_file: PathBuf,
    /// Its address inside the tunnel (10.99.0.0/24).
    pub tunnel_ip: Ipv4Addr,
    /// Its address on its own link (private behind a NAT; public for the registry and
    /// behind a NAT box that only filters).
    pub lan_ip: Ipv4Addr,
    /// The address the internet sees it as: its NAT's WAN address (or the carrier
    /// NAT's), or its own.
    pub public_ip: Ipv4Addr,
    /// Its global IPv6 address, in a lab built with IPv6.
    pub ipv6: Option<Ipv6Addr>,
}

/// What changes while the lab runs. Behind a mutex so that a `&Lab` can be shared by
/// a test's threads, and so that teardown finds it even after a panic.
struct State {
    /// Namespaces created so far, deleted on teardown.
    namespaces: Vec<String>,
    daemons: [Option<Child>; 3],
    listen_ports: [u16; 3],
    /// The registry's public address now: [`Host::lan_ip`] until [`Lab::move_registry`].
    registry_ip: Ipv4Addr,
    children: Vec<SpawnedChild>,
    torn_down: bool,
}

/// A NAT traversal lab in network namespaces (see the crate docs for the topology).
/// Dropping it kills every process it started and deletes everything it created.
pub struct Lab {
    name: LabName,
    wg: WgImpl,
    nats: [NatBehaviour; 2],
    /// The NAT box a carrier NAT stands in front of, if any.
    carrier: Option<Nat>,
    ipv6: bool,
    keepalive: u16,
    hosts: Vec<HostInfo>,
    state: Mutex<State>,
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// `pwlab<tag>`: the prefix of every name this lab created.
    pub fn name(&self) -> &str {
        &self.name.name
    }

    pub fn wg_impl(&self) -> WgImpl {
        self.wg
    }

    pub fn nat_behaviour(&self, nat: Nat) -> NatBehaviour {
        self.nats[nat.index()]
    }

    /// The NAT box that sits behind a carrier NAT, if one does.
    pub fn carrier_nat(&self) -> Option<Nat> {
        self.carrier
    }

    /// Whether every net has IPv6 too.
    pub fn has_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The nodes this lab has: every [`Node`] but a carrier NAT it was built without.
    pub fn nodes(&self) -> Vec<Node> {
        Node::ALL
            .into_iter()
            .filter(|&node| node != Node::Carrier || self.carrier.is_some())
            .collect()
    }

    /// Where the lab keeps keys and logs (`/run/punchwire-lab/pwlab<tag>`).
    pub fn state_dir(&self) -> PathBuf {
        self.name.state_dir()
    }

    /// The namespace of any node.
    pub fn namespace(&self, node: impl Into<Node>) -> String {
        self.name.namespace(node.into())
    }

    /// The file of a node's network namespace, which a thread of its own enters with
    /// [`enter_namespace`].
    pub fn namespace_file(&self, node: impl Into<Node>) -> PathBuf {
        Path::new("/run/netns").join(self.namespace(node))
    }

    pub fn host(&self, host: Host) -> &HostInfo {
        &self.hosts[host.index()]
    }

    /// The public address the host's packets leave the NAT with (the registry's own,
    /// and the host's own behind a NAT box that only filters).
    pub fn nat_public_ip(&self, host: Host) -> Ipv4Addr {
        self.host(host).public_ip
    }

    /// The port the host's WireGuard listens on now.
    pub fn listen_port(&self, host: Host) -> u16 {
        self.state().listen_ports[host.index()]
    }

    /// The registry's public endpoint, as alice and bob are configured to reach it.
    pub fn registry_endpoint(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(
            self.registry_ip(),
            self.listen_port(Host::Registry),
        ))
    }

    /// The registry's public address now (it changes with [`Lab::move_registry`]).
    pub fn registry_ip(&self) -> Ipv4Addr {
        self.state().registry_ip
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state usable: teardown must run.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Moves the calling thread into the network namespace at `file` (see
/// [`Lab::namespace_file`]): the sockets it makes from then on live there, wherever
/// they are used afterwards. For a thread of its own: there is no way back.
pub fn enter_namespace(file: &Path) -> crate::error::Result<()> {
    let place = file.display();
    let namespace =
        std::fs::File::open(file).map_err(|e| LabError::io(format!("opening {place}"), e))?;
    nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| LabError::io(format!("entering {place}"), e.into()))
}

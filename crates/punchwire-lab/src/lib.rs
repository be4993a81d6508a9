//! A NAT traversal lab in Linux network namespaces, for end-to-end tests and the demo.
//!
//! [`Lab::builder`] builds the topology described in `docs/lab.md`:
//!
//! ```text
//!   registry 192.0.2.10 ── inet ── 198.51.100.10 nat-a 192.168.1.1 ── alice 192.168.1.2
//!                           │
//!                           └───── 203.0.113.10  nat-b 192.168.2.1 ── bob   192.168.2.2
//! ```
//!
//! `inet` routes the three public nets; each NAT box masquerades out of its WAN with a
//! configurable [`NatBehaviour`]. The NAT grid's variants change one side each, and
//! only when asked for (docs/lab.md):
//!
//! ```text
//!   nat_a(NatBehaviour::Firewall): no NAT, a public /25 routed to alice
//!     inet ── 198.51.100.10 nat-a 198.51.100.129 ── alice 198.51.100.130
//!   carrier_nat(Nat::A): a carrier NAT in front of nat-a, in shared address space
//!     inet ── 198.51.100.10 carrier 100.64.0.1 ── 100.64.0.10 nat-a 192.168.1.1 ── alice
//!   ipv6(): every net gets IPv6 too, routed behind the NAT boxes' firewalls
//!     registry 2001:db8::10 ── inet ── 2001:db8:a::10 nat-a 2001:db8:a:1::1 ── alice 2001:db8:a:1::2
//!                               └───── 2001:db8:b::10 nat-b 2001:db8:b:1::1 ── bob   2001:db8:b:1::2
//! ```
//!
//! Registry, alice and bob each run userspace WireGuard ([`WgImpl`]: wireguard-go, or
//! boringtun when `PUNCHWIRE_LAB_WG=boringtun`), MTU 1420, listen port 51820, tunnel
//! 10.99.0.0/24 (registry .1, alice .2, bob .3):
//!
//! - the registry has alice and bob as peers (AllowedIPs their /32, no endpoint);
//! - alice and bob have the registry (endpoint 192.0.2.10:51820, AllowedIPs
//!   10.99.0.1/32, keepalive 5 s) and each other (AllowedIPs the other's /32,
//!   keepalive 5 s, **no endpoint**: finding it is discovery's job).
//!
//! Every name carries a random tag (`pwlab<tag>-alice`, interface `pwlab<tag>a`), so labs run
//! concurrently. Dropping the [`Lab`] kills its daemons and spawned processes and
//! deletes its namespaces and sockets, also when a test panics; [`cleanup_stale`]
//! removes what crashed runs left.
//!
//! A test on top of it, with the registry's view of bob's NAT mapping given to alice:
//!
//! ```no_run
//! use std::time::Duration;
//! use punchwire_lab::{Host, Lab, NatBehaviour};
//!
//! if !punchwire_lab::can_run("my test") {
//!     return;
//! }
//! let lab = Lab::builder().nat_b(NatBehaviour::EndpointIndependent).build().unwrap();
//! lab.with_diagnostics_on_panic(|lab| {
//!     lab.wait_registry_handshakes(Duration::from_secs(20)).unwrap();
//!     let bob = lab.endpoint_of(Host::Registry, Host::Bob).unwrap().unwrap();
//!     lab.set_endpoint_by_hand(Host::Alice, Host::Bob, bob).unwrap();
//!     let registry = lab.spawn(Host::Registry, std::process::Command::new("punchwire")).unwrap();
//!     println!("{}", lab.exec(Host::Alice, &["wg", "show", &lab.host(Host::Alice).iface]).unwrap());
//!     lab.stop(&registry).unwrap();
//! });
//! ```
//!
//! Needs root, `ip`, `iptables` (and `ip6tables` for IPv6), `conntrack`, `sysctl`, `wg`,
//! `ping` and `wireguard-go` (or `boringtun-cli`). Linux only.

#![cfg(target_os = "linux")]

// The lab itself, a submodule per job: building, driving and tearing it down.
mod lab;
// Punchwire's registry and service started inside a lab.
mod product;
// A DNS server in the lab's internet, for what resolves names.
mod name_server;

// Who lives where, with which addresses.
mod topology;
// How a NAT box maps and filters.
mod nat;
// Userspace WireGuard daemons, keys and `wg set` requests.
mod wireguard;
// Reading `wg show <iface> dump`.
mod dump;
// Tools run in a namespace with a deadline.
mod command;
// Waiting on a condition with a deadline.
mod wait;
// Per-lab names and the owner record.
mod names;
// Removing what crashed labs left.
mod cleanup;
// What can go wrong.
mod error;

pub use cleanup::cleanup_stale;
pub use dump::{Counters, DeviceDump, PeerStats};
pub use error::{LabError, Result};
pub use lab::{enter_namespace, Delay, HostInfo, Lab, LabBuilder, Spawned};
pub use name_server::{name_server_ip, NameServer};
pub use names::{PREFIX, STATE_ROOT};
pub use nat::NatBehaviour;
pub use product::{RunningService, ServiceOptions, REGISTRY_DNS, ZONE};
pub use topology::{
    Host, Lan, Nat, Node, CARRIER_INSIDE, CARRIER_SUBSCRIBER, DEFAULT_LISTEN_PORT, IPV6_PREFIX_LEN,
    TUNNEL_PREFIX_LEN,
};
pub use wait::{wait_for, wait_until, wait_until_ok};
pub use wireguard::{WgImpl, BORINGTUN_ENV, MTU, SOCKET_DIR, WG_IMPL_ENV};

/// Whether a lab test can run here: lab tests need root. Without it they are skipped
/// with a loud message, or fail on CI (see `punchwire_testkit::can_run`). Use as
/// `if !punchwire_lab::can_run("my_test") { return; }`.
pub fn can_run(test: &str) -> bool {
    punchwire_testkit::can_run(
        test,
        punchwire_testkit::missing_root("lab tests need network namespaces, iptables and TUN"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lab_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::Lab>();
    }
}

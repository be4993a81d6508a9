//! The lab: building the topology, driving WireGuard in it, and tearing it all down.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use punchwire_wg::PublicKey;

use crate::cleanup::cleanup_stale;
use crate::command::{self, place};
use crate::dump::{Counters, DeviceDump, PeerStats};
use crate::error::{LabError, Result};
use crate::names::{LabName, PREFIX};
use crate::nat::{NatBehaviour, LAN, WAN};
use crate::topology::{Host, Nat, Node, DEFAULT_LISTEN_PORT, REGISTRY_GATEWAY, TUNNEL_PREFIX_LEN};
use crate::wait::{wait_for, wait_until_ok};
use crate::wireguard::{self, PeerConfig, WgImpl, MTU};

/// The link of a host (registry, alice, bob) towards its router.
const HOST_LINK: &str = "eth0";
/// How long a user command run through [`Lab::exec`] may take.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a daemon may take to open its UAPI socket.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);
/// Inspection during diagnostics must not hang on a wedged daemon.
const DIAGNOSTIC_TIMEOUT: Duration = Duration::from_secs(5);

/// How to build a [`Lab`]; start with [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    nats: [NatBehaviour; 2],
    wg: Option<WgImpl>,
    keepalive: u16,
    nat_udp_timeout: Option<Duration>,
}

impl Default for LabBuilder {
    fn default() -> Self {
        Self {
            nats: [NatBehaviour::default(); 2],
            wg: None,
            keepalive: 5,
            nat_udp_timeout: None,
        }
    }
}

impl LabBuilder {
    /// The behaviour of alice's NAT (default: [`NatBehaviour::EndpointIndependent`]).
    pub fn nat_a(mut self, behaviour: NatBehaviour) -> Self {
        self.nats[Nat::A.index()] = behaviour;
        self
    }

    /// The behaviour of bob's NAT (default: [`NatBehaviour::EndpointIndependent`]).
    pub fn nat_b(mut self, behaviour: NatBehaviour) -> Self {
        self.nats[Nat::B.index()] = behaviour;
        self
    }

    /// The WireGuard implementation in every host (default: [`WgImpl::from_env`]).
    pub fn wg_impl(mut self, wg: WgImpl) -> Self {
        self.wg = Some(wg);
        self
    }

    /// PersistentKeepalive, in seconds, of alice's and bob's peers (default 5): the
    /// registry peer and each other. Must stay below the NATs' UDP timeout.
    pub fn keepalive(mut self, seconds: u16) -> Self {
        self.keepalive = seconds;
        self
    }

    /// Shrinks the NAT boxes' conntrack UDP timeouts (default: the kernel's 30 s/120 s),
    /// to test mapping expiry quickly.
    pub fn nat_udp_timeout(mut self, timeout: Duration) -> Self {
        self.nat_udp_timeout = Some(timeout);
        self
    }

    /// Builds the namespaces, links, NAT rules and WireGuard devices, each host with
    /// its peers configured (see the crate docs). Removes leftovers of crashed labs
    /// first. On error, whatever was built is torn down.
    pub fn build(self) -> Result<Lab> {
        let wg = match self.wg {
            Some(wg) => wg,
            None => WgImpl::from_env()?,
        };
        if let Err(e) = cleanup_stale(PREFIX) {
            eprintln!("punchwire-lab: could not clean stale labs: {e}");
        }
        let name = LabName::claim()?;
        let mut lab = Lab {
            name,
            wg,
            nats: self.nats,
            keepalive: self.keepalive,
            hosts: Vec::new(),
            state: Mutex::new(State {
                namespaces: Vec::new(),
                daemons: [None, None, None],
                listen_ports: [DEFAULT_LISTEN_PORT; 3],
                children: Vec::new(),
                torn_down: false,
            }),
        };
        lab.create_namespaces()?;
        lab.wire_links()?;
        lab.install_nat(self.nat_udp_timeout)?;
        lab.make_hosts()?;
        for host in Host::ALL {
            lab.start_wireguard(host, DEFAULT_LISTEN_PORT)?;
        }
        Ok(lab)
    }
}

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
    /// Its address on its own link (private behind a NAT; public for the registry).
    pub lan_ip: Ipv4Addr,
    /// The address the internet sees it as: its NAT's WAN address, or its own.
    pub public_ip: Ipv4Addr,
}

/// A process started with [`Lab::spawn`]; the lab kills it on teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawned {
    id: usize,
    pub pid: u32,
    pub node: Node,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

struct SpawnedChild {
    id: usize,
    node: Node,
    log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

struct State {
    /// Namespaces created so far, deleted on teardown.
    namespaces: Vec<String>,
    daemons: [Option<Child>; 3],
    listen_ports: [u16; 3],
    children: Vec<SpawnedChild>,
    torn_down: bool,
}

/// A NAT traversal lab in network namespaces (see the crate docs for the topology).
/// Dropping it kills every process it started and deletes everything it created.
pub struct Lab {
    name: LabName,
    wg: WgImpl,
    nats: [NatBehaviour; 2],
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

    /// Where the lab keeps keys and logs (`/run/punchwire-lab/pwlab<tag>`).
    pub fn state_dir(&self) -> PathBuf {
        self.name.state_dir()
    }

    /// The namespace of any node.
    pub fn namespace(&self, node: impl Into<Node>) -> String {
        self.name.namespace(node.into())
    }

    pub fn host(&self, host: Host) -> &HostInfo {
        &self.hosts[host.index()]
    }

    /// The public address the host's packets leave the NAT with (the registry's own).
    pub fn nat_public_ip(&self, host: Host) -> Ipv4Addr {
        host.public_ip()
    }

    /// The port the host's WireGuard listens on now.
    pub fn listen_port(&self, host: Host) -> u16 {
        self.state().listen_ports[host.index()]
    }

    /// The registry's public endpoint, as alice and bob are configured to reach it.
    pub fn registry_endpoint(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(
            Host::Registry.lan_ip(),
            self.listen_port(Host::Registry),
        ))
    }

    // ---- running things in namespaces -------------------------------------------

    /// Runs `args` in the node's namespace; a non-zero exit is an error carrying the
    /// command, the namespace and stderr. Returns stdout.
    pub fn exec(&self, node: impl Into<Node>, args: &[&str]) -> Result<String> {
        let ns = self.namespace(node);
        let out = command::output(Some(&ns), args, None, EXEC_TIMEOUT)?;
        command::check(Some(&ns), args, out)
    }

    /// Runs `args` in the node's namespace and returns its output whatever its exit
    /// status (for commands expected to fail, such as a ping that must not get through).
    pub fn try_exec(&self, node: impl Into<Node>, args: &[&str]) -> Result<Output> {
        let ns = self.namespace(node);
        command::output(Some(&ns), args, None, EXEC_TIMEOUT)
    }

    /// Starts `cmd` in the node's namespace, its program, arguments, environment and
    /// working directory as set on `cmd`. Its stdin is null; stdout and stderr go to
    /// [`Spawned::log`] (any stdio set on `cmd` is ignored). Killed on teardown.
    pub fn spawn(&self, node: impl Into<Node>, cmd: Command) -> Result<Spawned> {
        let node = node.into();
        let ns = self.namespace(node);
        let mut args: Vec<OsString> = vec![cmd.get_program().to_owned()];
        args.extend(cmd.get_args().map(|a| a.to_owned()));
        let program = Path::new(cmd.get_program())
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cmd".into());

        let mut state = self.state();
        let id = state.children.len();
        let log = self
            .state_dir()
            .join(format!("{}-{program}-{id}.log", node.suffix()));
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| LabError::io(format!("opening {}", log.display()), e))
        };
        let mut real = command::in_namespace(Some(&ns), &args);
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => real.env(key, v),
                None => real.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            real.current_dir(dir);
        }
        let child = real
            .stdin(Stdio::null())
            .stdout(open()?)
            .stderr(open()?)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: command::display(&args),
                place: place(Some(&ns)),
                source,
            })?;
        let spawned = Spawned {
            id,
            pid: child.id(),
            node,
            log: log.clone(),
        };
        state.children.push(SpawnedChild {
            id,
            node,
            log,
            child,
            exited: None,
        });
        Ok(spawned)
    }

    /// Whether a spawned process has exited, and how.
    pub fn try_wait(&self, spawned: &Spawned) -> Result<Option<ExitStatus>> {
        let mut state = self.state();
        let child = Self::child(&mut state, spawned)?;
        if child.exited.is_none() {
            child.exited = child
                .child
                .try_wait()
                .map_err(|e| LabError::io(format!("checking pid {}", spawned.pid), e))?;
        }
        Ok(child.exited)
    }

    /// Kills a spawned process (if still running) and reaps it.
    pub fn stop(&self, spawned: &Spawned) -> Result<ExitStatus> {
        let mut state = self.state();
        let child = Self::child(&mut state, spawned)?;
        if let Some(status) = child.exited {
            return Ok(status);
        }
        let _ = child.child.kill();
        let status = child
            .child
            .wait()
            .map_err(|e| LabError::io(format!("reaping pid {}", spawned.pid), e))?;
        child.exited = Some(status);
        Ok(status)
    }

    /// Everything a spawned process has written so far.
    pub fn log(&self, spawned: &Spawned) -> String {
        fs::read_to_string(&spawned.log).unwrap_or_default()
    }

    fn child<'a>(state: &'a mut State, spawned: &Spawned) -> Result<&'a mut SpawnedChild> {
        state
            .children
            .iter_mut()
            .find(|c| c.id == spawned.id)
            .ok_or_else(|| {
                LabError::Usage(format!("pid {} was not spawned by this lab", spawned.pid))
            })
    }

    // ---- WireGuard --------------------------------------------------------------

    /// `wg show <iface> dump` on the host, raw.
    pub fn wg_show(&self, host: Host) -> Result<String> {
        let info = self.host(host);
        command::run(
            Some(&info.namespace),
            &["wg", "show", &info.iface, "dump"],
            None,
        )
    }

    /// The host's device, parsed from `wg show <iface> dump`.
    pub fn wg_dump(&self, host: Host) -> Result<DeviceDump> {
        DeviceDump::parse(&self.wg_show(host)?)
    }

    /// What `host`'s device knows about `peer`.
    pub fn peer_stats(&self, host: Host, peer: Host) -> Result<PeerStats> {
        let key = self.host(peer).public_key;
        self.wg_dump(host)?.peer(&key).cloned().ok_or_else(|| {
            LabError::Usage(format!(
                "{host}'s device {} has no peer {peer} ({})",
                self.host(host).iface,
                key.short()
            ))
        })
    }

    /// The endpoint `host` has for `peer`: for the registry, the NAT mapping it saw.
    pub fn endpoint_of(&self, host: Host, peer: Host) -> Result<Option<SocketAddr>> {
        Ok(self.peer_stats(host, peer)?.endpoint)
    }

    /// Bytes `host` received from and sent to `peer`.
    pub fn counters(&self, host: Host, peer: Host) -> Result<Counters> {
        Ok(self.peer_stats(host, peer)?.counters())
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

    /// Waits until alice and bob each reach the registry through the tunnel (a ping
    /// to 10.99.0.1, which also starts the handshake without waiting for a keepalive)
    /// and the registry has seen an endpoint for both. Returns how long it took.
    pub fn wait_registry_handshakes(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let remaining = || timeout.saturating_sub(started.elapsed());
        let registry = Host::Registry.tunnel_ip().to_string();
        for host in [Host::Alice, Host::Bob] {
            wait_until_ok(
                remaining(),
                &format!("{host} reaching the registry at {registry} through the tunnel"),
                || {
                    Ok(self
                        .exec(host, &["ping", "-n", "-q", "-c", "1", "-W", "1", &registry])
                        .is_ok())
                },
            )?;
        }
        wait_until_ok(
            remaining(),
            "the registry knowing the endpoints of alice and bob",
            || {
                Ok(self.endpoint_of(Host::Registry, Host::Alice)?.is_some()
                    && self.endpoint_of(Host::Registry, Host::Bob)?.is_some())
            },
        )?;
        Ok(started.elapsed())
    }

    /// Polls `host`'s view of `peer` until `probe` yields a value: for waits on what a
    /// device reports (an endpoint changing, a handshake, counters moving).
    pub fn wait_for_peer<T>(
        &self,
        host: Host,
        peer: Host,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut(&PeerStats) -> Option<T>,
    ) -> Result<T> {
        wait_for(timeout, what, || Ok(probe(&self.peer_stats(host, peer)?))).map(|(v, _)| v)
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

    /// Empties a NAT box's conntrack table: every mapping is forgotten.
    pub fn flush_conntrack(&self, nat: Nat) -> Result<()> {
        self.exec(nat, &["conntrack", "-F"]).map(|_| ())
    }

    // ---- failure reports --------------------------------------------------------

    /// A report for a failed test: `wg show` of each host, conntrack and iptables of
    /// the NAT boxes, and the tail of every daemon's and spawned process's log.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "=== lab {} ({}; nat-a {:?}, nat-b {:?})",
            self.name(),
            self.wg,
            self.nats[0],
            self.nats[1]
        );
        let mut section = |node: Node, args: &[&str]| {
            let ns = self.namespace(node);
            let _ = writeln!(out, "--- {node}: {}", args.join(" "));
            match command::output(Some(&ns), args, None, DIAGNOSTIC_TIMEOUT) {
                Ok(o) => {
                    out.push_str(&String::from_utf8_lossy(&o.stdout));
                    out.push_str(&String::from_utf8_lossy(&o.stderr));
                }
                Err(e) => {
                    let _ = writeln!(out, "({e})");
                }
            }
        };
        for info in &self.hosts {
            section(info.host.into(), &["wg", "show", &info.iface]);
        }
        for nat in Nat::ALL {
            section(nat.into(), &["conntrack", "-L"]);
            section(nat.into(), &["iptables", "-S", "-v"]);
            section(nat.into(), &["iptables", "-t", "nat", "-S", "-v"]);
        }
        for info in &self.hosts {
            let log = self.daemon_log(info.host);
            let _ = writeln!(out, "--- {} daemon log {}", info.host, log.display());
            out.push_str(&wireguard::tail(&log, 20));
            out.push('\n');
        }
        let logs: Vec<(Node, PathBuf)> = self
            .state()
            .children
            .iter()
            .map(|c| (c.node, c.log.clone()))
            .collect();
        for (node, log) in logs {
            let _ = writeln!(out, "--- {node}: {}", log.display());
            out.push_str(&wireguard::tail(&log, 40));
            out.push('\n');
        }
        out
    }

    /// Runs `test` and, if it panics, prints [`Lab::diagnostics`] before passing the
    /// panic on.
    pub fn with_diagnostics_on_panic<R>(&self, test: impl FnOnce(&Lab) -> R) -> R {
        match panic::catch_unwind(AssertUnwindSafe(|| test(self))) {
            Ok(r) => r,
            Err(p) => {
                eprintln!("{}", self.diagnostics());
                panic::resume_unwind(p)
            }
        }
    }

    // ---- teardown ---------------------------------------------------------------

    /// Tears the lab down now, reporting what could not be removed. Dropping the lab
    /// does the same and prints the problems instead.
    pub fn shutdown(self) -> Result<()> {
        let problems = self.teardown();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Usage(format!(
                "tearing down lab {}: {}",
                self.name(),
                problems.join("; ")
            )))
        }
    }

    fn teardown(&self) -> Vec<String> {
        let mut state = self.state();
        if state.torn_down {
            return Vec::new();
        }
        state.torn_down = true;
        let mut problems = Vec::new();
        for c in &mut state.children {
            if c.exited.is_none() {
                let _ = c.child.kill();
                c.exited = c.child.wait().ok();
            }
        }
        for (i, daemon) in state.daemons.iter_mut().enumerate() {
            if let Some(child) = daemon.take() {
                wireguard::stop_daemon(child, &self.name.iface(Host::ALL[i]));
            }
        }
        if !state.namespaces.is_empty() {
            let batch: String = state
                .namespaces
                .iter()
                .map(|ns| format!("netns del {ns}\n"))
                .collect();
            if let Err(e) = command::run(
                None,
                &["ip", "-force", "-batch", "-"],
                Some(batch.as_bytes()),
            ) {
                problems.push(e.to_string());
            }
            state.namespaces.clear();
        }
        if let Err(e) = fs::remove_dir_all(self.state_dir()) {
            problems.push(format!("removing {}: {e}", self.state_dir().display()));
        }
        problems
    }

    // ---- building -----------------------------------------------------------------

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state usable: teardown must run.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn create_namespaces(&self) -> Result<()> {
        for node in Node::ALL {
            let ns = self.namespace(node);
            command::run(None, &["ip", "netns", "add", &ns], None)?;
            self.state().namespaces.push(ns.clone());
            // Before any link exists, so that every interface inherits the default.
            let mut sysctls = vec![
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ];
            if node.is_router() {
                sysctls.push("net.ipv4.ip_forward=1");
            }
            command::run(Some(&ns), &sysctls, None)?;
        }
        Ok(())
    }

    fn ip_batch(&self, node: Node, batch: &str) -> Result<()> {
        command::run(
            Some(&self.namespace(node)),
            &["ip", "-batch", "-"],
            Some(batch.as_bytes()),
        )
        .map(|_| ())
    }

    fn wire_links(&self) -> Result<()> {
        let ns = |n: Node| self.namespace(n);
        let reg = Host::Registry.lan_ip();
        self.ip_batch(
            Node::Inet,
            &format!(
                "link set lo up\n\
                 link add to-reg type veth peer name {HOST_LINK} netns {}\n\
                 link add to-nata type veth peer name {WAN} netns {}\n\
                 link add to-natb type veth peer name {WAN} netns {}\n\
                 addr add {REGISTRY_GATEWAY}/24 dev to-reg\n\
                 addr add {}/24 dev to-nata\n\
                 addr add {}/24 dev to-natb\n\
                 link set to-reg up\n\
                 link set to-nata up\n\
                 link set to-natb up\n",
                ns(Node::Registry),
                ns(Node::NatA),
                ns(Node::NatB),
                Nat::A.upstream_ip(),
                Nat::B.upstream_ip(),
            ),
        )?;
        self.ip_batch(
            Node::Registry,
            &format!(
                "link set lo up\n\
                 addr add {reg}/24 dev {HOST_LINK}\n\
                 link set {HOST_LINK} up\n\
                 route add default via {REGISTRY_GATEWAY}\n"
            ),
        )?;
        for nat in Nat::ALL {
            let host = nat.host();
            self.ip_batch(
                nat.into(),
                &format!(
                    "link set lo up\n\
                     link add {LAN} type veth peer name {HOST_LINK} netns {}\n\
                     addr add {}/24 dev {WAN}\n\
                     addr add {}/24 dev {LAN}\n\
                     link set {WAN} up\n\
                     link set {LAN} up\n\
                     route add default via {}\n",
                    ns(host.into()),
                    nat.public_ip(),
                    nat.lan_ip(),
                    nat.upstream_ip(),
                ),
            )?;
            self.ip_batch(
                host.into(),
                &format!(
                    "link set lo up\n\
                     addr add {}/24 dev {HOST_LINK}\n\
                     link set {HOST_LINK} up\n\
                     route add default via {}\n",
                    host.lan_ip(),
                    nat.lan_ip(),
                ),
            )?;
        }
        Ok(())
    }

    fn install_nat(&self, udp_timeout: Option<Duration>) -> Result<()> {
        for nat in Nat::ALL {
            let ns = self.namespace(nat);
            let rules = self.nats[nat.index()].iptables_restore();
            command::run(Some(&ns), &["iptables-restore"], Some(rules.as_bytes()))?;
            if let Some(t) = udp_timeout {
                let secs = t.as_secs().max(1);
                let a = format!("net.netfilter.nf_conntrack_udp_timeout={secs}");
                let b = format!("net.netfilter.nf_conntrack_udp_timeout_stream={secs}");
                command::run(Some(&ns), &["sysctl", "-q", "-w", &a, &b], None)?;
            }
        }
        Ok(())
    }

    fn make_hosts(&mut self) -> Result<()> {
        for host in Host::ALL {
            let private_key_file = self
                .state_dir()
                .join(format!("{}.key", Node::from(host).suffix()));
            let public_key = wireguard::generate_key(&private_key_file)?;
            self.hosts.push(HostInfo {
                host,
                namespace: self.namespace(host),
                iface: self.name.iface(host),
                public_key,
                private_key_file,
                tunnel_ip: host.tunnel_ip(),
                lan_ip: host.lan_ip(),
                public_ip: host.public_ip(),
            });
        }
        Ok(())
    }

    fn daemon_log(&self, host: Host) -> PathBuf {
        self.state_dir()
            .join(format!("{}-{}.log", Node::from(host).suffix(), self.wg))
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

    /// Starts the host's daemon, brings its device up with the tunnel address, and
    /// configures key, port and peers in one request.
    fn start_wireguard(&self, host: Host, port: u16) -> Result<()> {
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
}

impl Drop for Lab {
    fn drop(&mut self) {
        for problem in self.teardown() {
            eprintln!("punchwire-lab: tearing down {}: {problem}", self.name());
        }
    }
}

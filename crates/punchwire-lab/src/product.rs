//! Punchwire's own programs inside the lab: the registry on the registry host and the
//! service on alice and bob, each the real `punchwire` binary, started the way a user
//! would start them. Shared by the end-to-end tests and `punchwire demo`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use punchwire_control::defaults;

use crate::error::{LabError, Result};
use crate::lab::{Lab, Spawned};
use crate::topology::Host;
use crate::wait::wait_until_ok;

/// The zone the lab's registry serves.
pub const ZONE: &str = "lab.punchwire.test.";

/// The registry's DNS address: its tunnel address, port 53, as in production.
pub const REGISTRY_DNS: &str = "10.99.0.1:53";

/// How long a program gets to show it is up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `punchwire service` running for one host.
pub struct RunningService {
    pub host: Host,
    pub process: Spawned,
    pub config: PathBuf,
    pub socket: PathBuf,
}

/// What a host's service is configured with, beyond what the lab fixes.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// A handshake younger than this keeps the current endpoint.
    pub handshake_threshold: Duration,
    pub interval: Duration,
    pub poll: Duration,
    /// Start with discovery paused.
    pub paused: bool,
    /// Where the control socket goes; the lab's state directory by default.
    pub socket: Option<PathBuf>,
    /// The control group; root-only (a group that does not exist) by default.
    pub group: Option<String>,
    /// A first run: the configuration names no interface, so that the service only
    /// offers the host's interface until a client enables it (the other options then
    /// do not apply).
    pub first_run: bool,
    /// The registry peer's `Endpoint` in the host's wg-quick file, as a name
    /// (`home.example.net:51820`); by default the file gives it none.
    pub registry_endpoint_name: Option<String>,
    /// Relay through the registry when a peer stays not direct (`relay = true`); the
    /// registry must relay too ([`Lab::start_relaying_registry`]).
    pub relay: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            handshake_threshold: defaults::DEFAULT_HANDSHAKE_THRESHOLD.get(),
            interval: defaults::DEFAULT_INTERVAL.get(),
            poll: defaults::DEFAULT_POLL.get(),
            paused: false,
            socket: None,
            group: None,
            first_run: false,
            registry_endpoint_name: None,
            relay: false,
        }
    }
}

impl Lab {
    /// Starts `punchwire registry` on the registry host, serving [`ZONE`] on its tunnel
    /// address (the default), plus `extra_listen` (e.g. a public address for tests
    /// that prove outsiders are refused). Returns once alice's `dig` gets the SOA.
    pub fn start_registry(&self, bin: &Path, extra_listen: &[&str]) -> Result<Spawned> {
        self.registry_with(bin, extra_listen, &[])
    }

    /// [`Lab::start_registry`] with `--relay`: the registry host forwards between its
    /// peers.
    pub fn start_relaying_registry(&self, bin: &Path) -> Result<Spawned> {
        self.registry_with(bin, &[], &["--relay"])
    }

    fn registry_with(&self, bin: &Path, extra_listen: &[&str], flags: &[&str]) -> Result<Spawned> {
        let iface = self.host(Host::Registry).iface.clone();
        let mut cmd = Command::new(bin);
        cmd.args(["registry", "--zone", ZONE, "--device", &iface]);
        cmd.args(flags);
        if !extra_listen.is_empty() {
            cmd.args(["--listen", REGISTRY_DNS]);
            for listen in extra_listen {
                cmd.args(["--listen", listen]);
            }
        }
        cmd.env("PUNCHWIRE_LOG", "info");
        let process = self.spawn(Host::Registry, cmd)?;
        let ready = wait_until_ok(
            START_TIMEOUT,
            "the registry answers alice's SOA query",
            || {
                self.ensure_running(&process, "punchwire registry", Host::Registry)?;
                Ok(!self
                    .dig(Host::Alice, &[ZONE, "SOA", "+short"])?
                    .trim()
                    .is_empty())
            },
        );
        ready.map(|_| process)
    }

    /// Runs `dig @10.99.0.1` from `host` (over its tunnel) and returns its stdout.
    pub fn dig(&self, host: Host, args: &[&str]) -> Result<String> {
        let mut all = vec!["dig", "@10.99.0.1", "+time=1", "+tries=1"];
        all.extend_from_slice(args);
        let out = self.try_exec(host, &all)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `punchwire service` for alice or bob with a config written into the lab's
    /// state directory; returns once its control socket is up.
    pub fn start_service(
        &self,
        host: Host,
        bin: &Path,
        options: &ServiceOptions,
    ) -> Result<RunningService> {
        let info = self.host(host);
        let dir = self.state_dir();
        let config = dir.join(format!("service-{}.toml", info.iface));
        let socket = options
            .socket
            .clone()
            .unwrap_or_else(|| dir.join(format!("control-{}.sock", info.iface)));
        let group = options
            .group
            .clone()
            .unwrap_or_else(|| format!("{}-nogroup", self.name()));
        let mut text = String::new();
        let _ = writeln!(text, "# Written by the Punchwire lab for {host:?}.");
        // The relay's records go with the lab, never into the machine's own state.
        let state = dir.join(format!("state-{}", info.iface));
        let _ = writeln!(text, "state_dir = {:?}", state.display().to_string());
        let _ = writeln!(
            text,
            "[control]\nsocket = {:?}\ngroup = {group:?}\n",
            socket.display().to_string()
        );
        if !options.first_run {
            self.write_interface(host, options, &mut text)?;
        }
        std::fs::write(&config, text)
            .map_err(|e| LabError::io(format!("writing {}", config.display()), e))?;

        let mut cmd = Command::new(bin);
        cmd.arg("service").arg("--config").arg(&config);
        cmd.env("PUNCHWIRE_LOG", "info");
        let process = self.spawn(host, cmd)?;
        wait_until_ok(
            START_TIMEOUT,
            "the service's control socket appears",
            || {
                self.ensure_running(&process, "punchwire service", host)?;
                Ok(socket.exists())
            },
        )?;
        Ok(RunningService {
            host,
            process,
            config,
            socket,
        })
    }

    /// The `[[interface]]` of `host`'s service, and the wg-quick file naming its peers.
    fn write_interface(
        &self,
        host: Host,
        options: &ServiceOptions,
        text: &mut String,
    ) -> Result<()> {
        let info = self.host(host);
        let dir = self.state_dir();
        let _ = writeln!(
            text,
            "[[interface]]\nname = {:?}\nzone = {ZONE:?}",
            info.iface
        );
        let _ = writeln!(text, "registries = [{REGISTRY_DNS:?}]");
        let _ = writeln!(text, "interval = \"{}ms\"", options.interval.as_millis());
        let _ = writeln!(text, "poll = \"{}ms\"", options.poll.as_millis());
        let _ = writeln!(
            text,
            "handshake_threshold = \"{}ms\"",
            options.handshake_threshold.as_millis()
        );
        let _ = writeln!(text, "paused = {}", options.paused);
        let _ = writeln!(text, "relay = {}", options.relay);
        // Peers named the way people name them in wg-quick files, so status shows names.
        let names = dir.join(format!("names-{}.conf", info.iface));
        let mut wg_quick = String::from("[Interface]\n");
        for other in [Host::Registry, Host::Alice, Host::Bob] {
            if other != host {
                let name = format!("{other:?}").to_lowercase();
                let key = self.host(other).public_key.to_base64();
                let _ = writeln!(wg_quick, "\n[Peer]\n# Name = {name}\nPublicKey = {key}");
                if let (Host::Registry, Some(endpoint)) = (other, &options.registry_endpoint_name) {
                    let _ = writeln!(wg_quick, "Endpoint = {endpoint}");
                }
            }
        }
        std::fs::write(&names, wg_quick)
            .map_err(|e| LabError::io(format!("writing {}", names.display()), e))?;
        let _ = writeln!(text, "names_from = {:?}", names.display().to_string());
        Ok(())
    }

    /// Fails with the daemon's log when it has already exited, so that a wait for it to
    /// become ready quotes why it never will.
    fn ensure_running(&self, process: &Spawned, daemon: &str, host: Host) -> Result<()> {
        match self.try_wait(process)? {
            Some(status) => Err(LabError::DaemonExited {
                daemon: daemon.into(),
                place: self.namespace(host),
                status: status.to_string(),
                log: self.log(process),
            }),
            None => Ok(()),
        }
    }
}

//! The service's configuration file: parsed and checked whole before anything is
//! applied, so that a bad file never half-applies.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use punchwire_control::interface::InterfaceName;
use punchwire_control::timing::Timing;
use punchwire_control::zone::Zone;
use punchwire_control::{config_file, defaults};
use punchwire_wg::Endpoint;
use serde::{Deserialize, Serialize};

pub use punchwire_control::defaults::DEFAULT_CONFIG_PATH as DEFAULT_PATH;

pub use punchwire_control::defaults::{DEFAULT_GROUP, DEFAULT_SOCKET};

/// A names file larger than this is not a wg-quick file: it is not read.
pub const MAX_NAMES_FILE: u64 = 1 << 20;

/// A checked configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub control: ControlConfig,
    /// WireGuard interfaces whose peers' endpoints the service keeps current.
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<InterfaceConfig>,
    /// Present when this machine also serves as a registry.
    #[serde(default)]
    pub registry: Option<RegistryModeConfig>,
    /// Where the service keeps what it must undo after a crash (see [`crate::relay`]);
    /// by default [`punchwire_control::defaults::state_dir`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    #[serde(default = "default_group")]
    pub group: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            socket: default_socket(),
            group: default_group(),
        }
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

fn default_group() -> String {
    DEFAULT_GROUP.to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// The WireGuard interface, e.g. `wg0`.
    pub name: InterfaceName,
    /// The DNS-SD zone the registries serve, e.g. `example.com.`. Left out: the zone the
    /// registries name for their own address (RFC 6763 §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Zone>,
    /// Registries to ask, as `ip:port` reachable through the tunnel. Left out (or
    /// empty): the peers whose single tunnel address answers the enumeration query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<SocketAddr>,
    /// A full resolution of every peer at least this often.
    #[serde(default = "default_interval")]
    pub interval: Timing,
    /// How often the zone's SOA serial is polled for changes.
    #[serde(default = "default_poll")]
    pub poll: Timing,
    /// A handshake younger than this keeps the current endpoint.
    #[serde(default = "default_threshold")]
    pub handshake_threshold: Timing,
    /// Whether discovery starts paused.
    #[serde(default)]
    pub paused: bool,
    /// The wg-quick file whose comments name this interface's peers; by default
    /// `/etc/wireguard/<name>.conf`. Names are only shown, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_from: Option<PathBuf>,
    /// Ask registries that no peer's AllowedIPs contain, outside the tunnel, where DNS
    /// is unauthenticated. Refused unless set (see [`crate::tunnel_check`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_registry_outside_tunnel: bool,
    /// When a peer stays not direct, route its tunnel addresses through the registry
    /// peer until a direct handshake succeeds (see [`crate::relay`]). Both peers and the
    /// registry (its `[registry] relay`) must have it on.
    #[serde(default, skip_serializing_if = "is_false")]
    pub relay: bool,
    /// Register this machine's own addresses with the registries as candidates, and try
    /// the peers' ones. On by default; off keeps LAN addresses out of the registry.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub candidates: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl InterfaceConfig {
    /// Whether the registries or the zone are left out, to be found among the peers.
    pub fn finds_registries(&self) -> bool {
        self.zone.is_none() || self.registries.is_empty()
    }

    /// Where this interface's peer names are read from.
    pub fn names_path(&self) -> PathBuf {
        self.names_from
            .clone()
            .unwrap_or_else(|| crate::peer_names::default_path(self.name.as_str()))
    }
}

fn default_interval() -> Timing {
    defaults::DEFAULT_INTERVAL
}
fn default_poll() -> Timing {
    defaults::DEFAULT_POLL
}
fn default_threshold() -> Timing {
    defaults::DEFAULT_HANDSHAKE_THRESHOLD
}

/// `[registry]`: registry mode, this machine serving its mesh's registry; the service
/// turns it into a running registry's [`punchwire_registry::RegistryConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryModeConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub zone: Zone,
    pub device: InterfaceName,
    /// Empty: the device's own tunnel addresses, port 53.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Serve the registry's own record (wgsd's `self`).
    #[serde(default)]
    pub serve_self: bool,
    /// The endpoint to publish for `self`; by default the address a query arrived on.
    #[serde(default)]
    pub self_endpoint: Option<Endpoint>,
    #[serde(default)]
    pub self_allowed: Vec<IpNet>,
    /// Sources allowed to query besides the device's peers.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    #[serde(default = "default_refresh")]
    pub refresh: Timing,
    /// Forward between this device's peers (tunnel to tunnel only), so that peers with
    /// `relay` on can reach each other through it when no direct path works.
    #[serde(default, skip_serializing_if = "is_false")]
    pub relay: bool,
}

fn default_true() -> bool {
    true
}
fn default_refresh() -> Timing {
    defaults::DEFAULT_REFRESH
}

/// A configuration as its file held it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// [`config_file::revision`] of the bytes it was read from.
    pub revision: String,
}

/// What is wrong with a configuration, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: {key}: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// What is wrong, without the file's name: for a client that sent the configuration
    /// itself and knows where it came from.
    pub fn detail(&self) -> String {
        match self {
            Self::Read { source, .. } => source.to_string(),
            Self::Syntax { message, .. } => message.clone(),
            Self::Invalid { key, reason, .. } => format!("{key}: {reason}"),
        }
    }
}

impl Config {
    /// Where the service keeps what it must undo after a crash.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(punchwire_control::defaults::state_dir)
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::read(path).map(|loaded| loaded.config)
    }

    /// Reads and checks `path`, and says which revision of the file it was.
    pub fn read(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Loaded {
            config: Self::parse(path, &text)?,
            revision: config_file::revision(text.as_bytes()),
        })
    }

    /// Parses and checks `text`; `path` only names the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            // toml's message names the line and column, and shows them.
            message: e.to_string().trim_end().to_owned(),
        };
        let document = toml::Deserializer::parse(text).map_err(syntax)?;
        let config: Config = serde_path_to_error::deserialize(document).map_err(|e| {
            keyed(path, e, |e| {
                let line = e.span().map(|span| {
                    let before = text.get(..span.start).unwrap_or_default();
                    before.matches('\n').count() + 1
                });
                match line {
                    Some(line) => format!("{} (line {line})", e.message().trim_end()),
                    None => e.message().trim_end().to_owned(),
                }
            })
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Reads a configuration sent as JSON (the control socket's `set-config`), in the
    /// same keys as the file, and checks it; `path` names the file it is meant for.
    pub fn from_json(path: &Path, value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: Config = serde_path_to_error::deserialize(value)
            .map_err(|e| keyed(path, e, |e| e.to_string()))?;
        config.check(path)?;
        Ok(config)
    }

    /// The configuration as a file would hold it; [`Config::parse`] reads it back equal.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a checked configuration is plain data")
    }

    /// The checks a type cannot express.
    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        if self.control.group.trim().is_empty() {
            return Err(invalid("control.group".into(), "must not be empty".into()));
        }
        if !self.control.socket.is_absolute() {
            return Err(invalid(
                "control.socket".into(),
                format!("{:?} must be an absolute path", self.control.socket),
            ));
        }
        if let Some(dir) = &self.state_dir {
            if !dir.is_absolute() {
                return Err(invalid(
                    "state_dir".into(),
                    format!("{dir:?} must be an absolute path"),
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, iface) in self.interfaces.iter().enumerate() {
            let key = |field: &str| format!("interface[{i}].{field}");
            if !names.insert(iface.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("{:?} is configured twice", iface.name.as_str()),
                ));
            }
            for (j, registry) in iface.registries.iter().enumerate() {
                if registry.port() == 0 || registry.ip().is_unspecified() {
                    return Err(invalid(
                        format!("interface[{i}].registries[{j}]"),
                        format!("{registry} is not an address a query can be sent to"),
                    ));
                }
            }
            if iface.poll > iface.interval {
                return Err(invalid(
                    key("poll"),
                    format!(
                        "{} is longer than interval ({}): the SOA poll would never run",
                        iface.poll, iface.interval
                    ),
                ));
            }
            if let Some(names) = &iface.names_from {
                check_names_file(names).map_err(|r| invalid(key("names_from"), r))?;
            }
        }
        if let Some(registry) = &self.registry {
            if registry.relay && !cfg!(target_os = "linux") {
                return Err(invalid(
                    "registry.relay".into(),
                    "relaying needs Linux, which forwards per interface; turn it off here".into(),
                ));
            }
            if (registry.self_endpoint.is_some() || !registry.self_allowed.is_empty())
                && !registry.serve_self
            {
                return Err(invalid(
                    "registry.serve_self".into(),
                    "self_endpoint/self_allowed are set but serve_self is false".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Reads what went wrong at a key out of `e`: serde names the key when it can
/// (`interface[0].poll`); `.` is the whole document, which has no key to name.
fn keyed<E>(
    path: &Path,
    e: serde_path_to_error::Error<E>,
    reason: impl Fn(&E) -> String,
) -> ConfigError {
    let key = e.path().to_string();
    let reason = reason(e.inner());
    if key == "." {
        ConfigError::Syntax {
            path: path.to_owned(),
            message: reason,
        }
    } else {
        ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        }
    }
}

/// A names file must be named absolutely, and where it exists be a regular file of a
/// size a wg-quick file can have: a FIFO would block its reader, a device or a huge
/// file would make every `status` read without end.
fn check_names_file(path: &Path) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!("{path:?} must be an absolute path"));
    }
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(format!(
            "{} is not a regular file (a FIFO, a device or a directory cannot hold peer names)",
            path.display()
        )),
        Ok(meta) if meta.len() > MAX_NAMES_FILE => Err(format!(
            "{} is {} bytes, more than a wg-quick file has (at most {MAX_NAMES_FILE})",
            path.display(),
            meta.len()
        )),
        // A file that does not exist yet names nobody, which is not an error.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;

//! The service's configuration file: parsed and checked whole before anything is
//! applied, so that a bad file never half-applies.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use punchwire_wg::Endpoint;
use serde::{Deserialize, Serialize};

pub use punchwire_control::defaults::DEFAULT_CONFIG_PATH as DEFAULT_PATH;

pub use punchwire_control::defaults::{DEFAULT_GROUP, DEFAULT_SOCKET};

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
    pub registry: Option<RegistryConfig>,
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
    pub name: String,
    /// The DNS-SD zone the registries serve, e.g. `example.com.`.
    pub zone: String,
    /// Registries to ask, as `ip:port` reachable through the tunnel.
    pub registries: Vec<SocketAddr>,
    /// A full resolution of every peer at least this often.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// How often the zone's SOA serial is polled for changes.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll: Duration,
    /// A handshake younger than this keeps the current endpoint.
    #[serde(default = "default_threshold", with = "humantime_serde")]
    pub handshake_threshold: Duration,
    /// Whether discovery starts paused.
    #[serde(default)]
    pub paused: bool,
    /// The wg-quick file whose comments name this interface's peers; by default
    /// `/etc/wireguard/<name>.conf`. Names are only shown, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_from: Option<PathBuf>,
}

impl InterfaceConfig {
    /// Where this interface's peer names are read from.
    pub fn names_path(&self) -> PathBuf {
        self.names_from
            .clone()
            .unwrap_or_else(|| crate::peer_names::default_path(&self.name))
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_threshold() -> Duration {
    Duration::from_secs(150)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub zone: String,
    pub device: String,
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
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
}

fn default_true() -> bool {
    true
}
fn default_refresh() -> Duration {
    Duration::from_secs(1)
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
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks `text`; `path` only names the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            // toml's message already names the key, line and column.
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Reads a configuration sent as JSON (the control socket's `set-config`), in the
    /// same keys as the file, and checks it; `path` names the file it is meant for.
    pub fn from_json(path: &Path, value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            // serde names the key when it can ("interface[0].poll"); "." is the top.
            let key = e.path().to_string();
            let reason = e.into_inner().to_string();
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
        })?;
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
        if self.interfaces.is_empty() && self.registry.is_none() {
            return Err(invalid(
                "interface".into(),
                "nothing to do: add an [[interface]] to keep endpoints current, a [registry], or both"
                    .into(),
            ));
        }
        if self.control.group.trim().is_empty() {
            return Err(invalid("control.group".into(), "must not be empty".into()));
        }
        if !self.control.socket.is_absolute() {
            return Err(invalid(
                "control.socket".into(),
                format!("{:?} must be an absolute path", self.control.socket),
            ));
        }
        let mut names = HashSet::new();
        for (i, iface) in self.interfaces.iter().enumerate() {
            let key = |field: &str| format!("interface[{i}].{field}");
            check_iface_name(&iface.name).map_err(|r| invalid(key("name"), r))?;
            if !names.insert(iface.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("{:?} is configured twice", iface.name),
                ));
            }
            check_zone(&iface.zone).map_err(|r| invalid(key("zone"), r))?;
            if iface.registries.is_empty() {
                return Err(invalid(
                    key("registries"),
                    "at least one registry address (ip:port) is needed".into(),
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
            check_positive(iface.poll).map_err(|r| invalid(key("poll"), r))?;
            check_positive(iface.interval).map_err(|r| invalid(key("interval"), r))?;
            if iface.poll > iface.interval {
                return Err(invalid(
                    key("poll"),
                    format!(
                        "{} is longer than interval ({}): the SOA poll would never run",
                        humantime::format_duration(iface.poll),
                        humantime::format_duration(iface.interval)
                    ),
                ));
            }
            check_positive(iface.handshake_threshold)
                .map_err(|r| invalid(key("handshake_threshold"), r))?;
            if let Some(names) = iface.names_from.as_ref().filter(|p| !p.is_absolute()) {
                return Err(invalid(
                    key("names_from"),
                    format!("{names:?} must be an absolute path"),
                ));
            }
        }
        if let Some(registry) = &self.registry {
            check_iface_name(&registry.device).map_err(|r| invalid("registry.device".into(), r))?;
            check_zone(&registry.zone).map_err(|r| invalid("registry.zone".into(), r))?;
            check_positive(registry.refresh).map_err(|r| invalid("registry.refresh".into(), r))?;
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

fn check_iface_name(name: &str) -> Result<(), String> {
    // Linux limits interface names to 15 bytes (IFNAMSIZ - 1) and forbids '/' and
    // whitespace; the UAPI socket is named after the interface too.
    if name.is_empty() || name.len() > 15 {
        return Err(format!("{name:?} must be 1 to 15 characters"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c == ':')
    {
        return Err(format!("{name:?} contains '/', ':' or whitespace"));
    }
    Ok(())
}

fn check_zone(zone: &str) -> Result<(), String> {
    let trimmed = zone.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("the zone must be a domain name such as \"example.com.\"".into());
    }
    if zone.len() > 253 {
        return Err(format!("{zone:?} is longer than a domain name can be"));
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{zone:?} has an empty or over-long label (labels are 1 to 63 characters)"
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{zone:?}: label {label:?} may only hold letters, digits, '-' and '_'"
            ));
        }
    }
    Ok(())
}

fn check_positive(d: Duration) -> Result<(), String> {
    if d.is_zero() {
        Err("must be longer than zero".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[control]
socket = "/run/punchwire/control.sock"
group = "punchwire"

[[interface]]
name = "wg0"
zone = "example.com."
registries = ["10.99.0.1:53"]
interval = "30s"
poll = "1s"
handshake_threshold = "150s"

[registry]
zone = "example.com."
device = "wg-reg"
listen = ["10.99.0.1:53"]
serve_self = true
self_endpoint = "192.0.2.10:51820"
self_allowed = ["10.99.0.1/32"]
allow = ["10.98.0.0/24"]
refresh = "1s"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/punchwire/config.toml"), text)
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.interfaces[0].name, "wg0");
        assert_eq!(config.interfaces[0].poll, Duration::from_secs(1));
        let registry = config.registry.unwrap();
        assert!(registry.enabled);
        assert_eq!(
            registry.self_endpoint.unwrap().to_string(),
            "192.0.2.10:51820"
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../installers/config.example.toml");
        parse(text).unwrap();
    }

    #[test]
    fn what_to_toml_writes_parses_back_the_same() {
        for config in [
            parse(GOOD).unwrap(),
            parse(include_str!("../../../installers/config.example.toml")).unwrap(),
        ] {
            let text = config.to_toml();
            assert_eq!(parse(&text).unwrap(), config, "{text}");
        }
    }

    #[test]
    fn json_in_the_file_s_keys_is_read_and_checked_like_the_file() {
        let good = serde_json::to_value(parse(GOOD).unwrap()).unwrap();
        // Durations travel as the file writes them, so a client can show and edit them.
        assert_eq!(good["interface"][0]["handshake_threshold"], "2m 30s");
        let path = Path::new("/etc/punchwire/config.toml");
        assert_eq!(
            Config::from_json(path, good.clone()).unwrap(),
            parse(GOOD).unwrap()
        );

        let mut bad_zone = good.clone();
        bad_zone["interface"][0]["zone"] = "example..com.".into();
        let e = Config::from_json(path, bad_zone).unwrap_err();
        assert_eq!(e.key(), Some("interface[0].zone"));
        assert!(
            e.detail().starts_with("interface[0].zone: "),
            "{}",
            e.detail()
        );
        assert!(
            e.detail().contains("empty or over-long label"),
            "{}",
            e.detail()
        );

        let mut bad_duration = good.clone();
        bad_duration["interface"][0]["poll"] = "soon".into();
        let e = Config::from_json(path, bad_duration).unwrap_err();
        assert_eq!(e.key(), Some("interface[0].poll"), "{e}");

        let mut bad_registry = good.clone();
        bad_registry["interface"][0]["registries"][0] = "10.99.0.1".into();
        let e = Config::from_json(path, bad_registry).unwrap_err();
        assert_eq!(e.key(), Some("interface[0].registries[0]"), "{e}");

        let mut unknown = good;
        unknown["interface"][0]["colour"] = "blue".into();
        let e = Config::from_json(path, unknown).unwrap_err();
        assert!(
            e.detail().contains("unknown field `colour`"),
            "{}",
            e.detail()
        );

        let e = Config::from_json(path, serde_json::json!("not a table")).unwrap_err();
        assert_eq!(e.key(), None);
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = parse(
            "[[interface]]\nname = \"wg0\"\nzone = \"example.com\"\nregistries = [\"10.99.0.1:53\"]\n",
        )
        .unwrap();
        assert_eq!(config.control, ControlConfig::default());
        let iface = &config.interfaces[0];
        assert_eq!(iface.interval, Duration::from_secs(30));
        assert_eq!(iface.handshake_threshold, Duration::from_secs(150));
        assert!(!iface.paused);
    }

    /// Replaces one `key = value` line of the good example and expects the error to
    /// name the file, the key and the reason.
    fn expect_error(find: &str, replace: &str, key: &str, reason: &str) {
        assert!(GOOD.contains(find), "test bug: {find:?} not in the example");
        let text = GOOD.replacen(find, replace, 1);
        let err = parse(&text).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("/etc/punchwire/config.toml"),
            "names the file: {message}"
        );
        assert!(message.contains(key), "names {key:?}: {message}");
        assert!(message.contains(reason), "says {reason:?}: {message}");
    }

    #[test]
    fn every_key_is_checked_and_named() {
        expect_error(
            "group = \"punchwire\"",
            "group = \"\"",
            "control.group",
            "must not be empty",
        );
        expect_error(
            "socket = \"/run/punchwire/control.sock\"",
            "socket = \"control.sock\"",
            "control.socket",
            "absolute path",
        );
        expect_error(
            "name = \"wg0\"",
            "name = \"a-very-long-interface-name\"",
            "interface[0].name",
            "1 to 15",
        );
        expect_error("name = \"wg0\"", "name = 7", "name", "invalid type");
        expect_error(
            "zone = \"example.com.\"\nregistries",
            "zone = \"exa mple.com\"\nregistries",
            "interface[0].zone",
            "may only hold",
        );
        expect_error(
            "registries = [\"10.99.0.1:53\"]",
            "registries = []",
            "interface[0].registries",
            "at least one",
        );
        expect_error(
            "registries = [\"10.99.0.1:53\"]",
            "registries = [\"10.99.0.1\"]",
            "registries",
            "invalid socket address",
        );
        expect_error(
            "registries = [\"10.99.0.1:53\"]",
            "registries = [\"0.0.0.0:53\"]",
            "interface[0].registries[0]",
            "not an address",
        );
        expect_error("interval = \"30s\"", "interval = \"soon\"", "interval", "");
        expect_error(
            "interval = \"30s\"",
            "interval = \"0s\"",
            "interface[0].interval",
            "longer than zero",
        );
        expect_error(
            "poll = \"1s\"",
            "poll = \"1m\"",
            "interface[0].poll",
            "longer than interval",
        );
        expect_error(
            "handshake_threshold = \"150s\"",
            "handshake_threshold = \"0s\"",
            "interface[0].handshake_threshold",
            "longer than zero",
        );
        expect_error(
            "device = \"wg-reg\"",
            "device = \"\"",
            "registry.device",
            "1 to 15",
        );
        expect_error(
            "zone = \"example.com.\"\ndevice",
            "zone = \".\"\ndevice",
            "registry.zone",
            "domain name",
        );
        expect_error(
            "self_endpoint = \"192.0.2.10:51820\"",
            "self_endpoint = \"192.0.2.10:0\"",
            "self_endpoint",
            "port 0",
        );
        expect_error(
            "self_allowed = [\"10.99.0.1/32\"]",
            "self_allowed = [\"10.99.0.1/33\"]",
            "self_allowed",
            "invalid",
        );
        expect_error(
            "serve_self = true",
            "serve_self = false",
            "registry.serve_self",
            "serve_self is false",
        );
        expect_error(
            "refresh = \"1s\"",
            "refresh = \"0ms\"",
            "registry.refresh",
            "longer than zero",
        );
        expect_error(
            "allow = [\"10.98.0.0/24\"]",
            "allow = [\"everyone\"]",
            "allow",
            "invalid",
        );
        expect_error(
            "refresh = \"1s\"",
            "refresh = \"1s\"\ntypo = 1",
            "typo",
            "unknown field",
        );
    }

    #[test]
    fn an_interface_configured_twice_is_an_error() {
        let iface =
            "[[interface]]\nname = \"wg0\"\nzone = \"z\"\nregistries = [\"10.99.0.1:53\"]\n";
        let err = parse(&format!("{iface}{iface}")).unwrap_err();
        assert_eq!(err.key(), Some("interface[1].name"));
        assert!(err.to_string().contains("configured twice"));
    }

    #[test]
    fn an_empty_file_says_what_to_add() {
        let err = parse("").unwrap_err().to_string();
        assert!(err.contains("nothing to do"), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/punchwire.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/punchwire.toml"), "{err}");
    }
}

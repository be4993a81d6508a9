//! Where the service and its clients meet when nothing else is said.

/// Where the service reads its configuration when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/punchwire/config.toml";

/// Where the control socket lives when the configuration does not say.
pub const DEFAULT_SOCKET: &str = "/run/punchwire/control.sock";

/// The group whose members may use the control socket.
pub const DEFAULT_GROUP: &str = "punchwire";

//! Every default the user can override, in one place: the command-line flags, the
//! configuration file, the lab and the window's hints all read them from here.

use crate::timing::Timing;

/// Where the service reads its configuration when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/punchwire/config.toml";

/// Where the control socket lives when the configuration does not say.
pub const DEFAULT_SOCKET: &str = "/run/punchwire/control.sock";

/// The group whose members may use the control socket.
pub const DEFAULT_GROUP: &str = "punchwire";

/// The port a registry listens on, and that a registry address without one means.
pub const DNS_PORT: u16 = 53;

/// Discovery resolves every peer at least this often.
pub const DEFAULT_INTERVAL: Timing = Timing::from_secs(30);

/// Discovery polls the zone's SOA serial this often; a change triggers a full pass.
pub const DEFAULT_POLL: Timing = Timing::from_secs(1);

/// A handshake younger than this means the current endpoint works: it is kept. Two
/// minutes is WireGuard's own rekey interval; the half minute more is slack.
pub const DEFAULT_HANDSHAKE_THRESHOLD: Timing = Timing::from_secs(150);

/// How long discovery waits for one DNS answer. The registry is one tunnel hop away; an
/// answer that takes longer than this is not coming.
pub const DEFAULT_QUERY_TIMEOUT: Timing = Timing::from_secs(1);

/// How often a registry reads its device.
pub const DEFAULT_REFRESH: Timing = Timing::from_secs(1);

/// How long a registry serves its last snapshot while the device cannot be read.
pub const DEFAULT_STALE_AFTER: Timing = Timing::from_secs(60);

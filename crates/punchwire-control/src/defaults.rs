//! Every default the user can override, in one place: the command-line flags, the
//! configuration file, the lab and the window's hints all read them from here. Where
//! the service and its clients meet differs per platform:
//!
//! | | config | control endpoint | who may use it |
//! |---|---|---|---|
//! | Linux | `/etc/punchwire/config.toml` | Unix socket `/run/punchwire/control.sock` | group `punchwire` |
//! | macOS | `/etc/punchwire/config.toml` | Unix socket `/var/run/punchwire/control.sock` | group `admin` |
//! | Windows | `%ProgramData%\Punchwire\config.toml` | named pipe `\\.\pipe\punchwire` | SYSTEM, Administrators, local group `Punchwire Users` |

use std::path::PathBuf;

use crate::timing::Timing;

/// Where the service reads its configuration when no `--config` is given. On Windows
/// this is the usual `%ProgramData%`; [`config_path`] follows the variable.
#[cfg(not(windows))]
pub const DEFAULT_CONFIG_PATH: &str = "/etc/punchwire/config.toml";
#[cfg(windows)]
pub const DEFAULT_CONFIG_PATH: &str = r"C:\ProgramData\Punchwire\config.toml";

/// Where the control endpoint lives when the configuration does not say: a Unix socket,
/// or on Windows a named pipe.
#[cfg(target_os = "linux")]
pub const DEFAULT_SOCKET: &str = "/run/punchwire/control.sock";
#[cfg(all(unix, not(target_os = "linux")))]
pub const DEFAULT_SOCKET: &str = "/var/run/punchwire/control.sock";
#[cfg(windows)]
pub const DEFAULT_SOCKET: &str = r"\\.\pipe\punchwire";

/// The group whose members may use the control endpoint. On macOS the administrators'
/// own group, so that an admin user needs no extra step; on Windows a local group the
/// installer creates.
#[cfg(target_os = "linux")]
pub const DEFAULT_GROUP: &str = "punchwire";
#[cfg(all(unix, not(target_os = "linux")))]
pub const DEFAULT_GROUP: &str = "admin";
#[cfg(windows)]
pub const DEFAULT_GROUP: &str = "Punchwire Users";

/// The directory `%ProgramData%\Punchwire` on Windows (configuration and state), from the
/// environment when it says, else the usual place.
#[cfg(windows)]
pub fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(|dir| PathBuf::from(dir).join("Punchwire"))
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData\Punchwire"))
}

/// The configuration file to use when none is named.
pub fn config_path() -> PathBuf {
    #[cfg(windows)]
    return program_data().join("config.toml");
    #[cfg(not(windows))]
    PathBuf::from(DEFAULT_CONFIG_PATH)
}

/// Where the service keeps what it must undo after a crash (a relay's record of the
/// AllowedIPs it changed), when the configuration's `state_dir` does not say.
pub fn state_dir() -> PathBuf {
    #[cfg(windows)]
    return program_data().join("state");
    #[cfg(target_os = "macos")]
    return PathBuf::from("/Library/Application Support/Punchwire");
    #[cfg(all(not(windows), not(target_os = "macos")))]
    PathBuf::from("/var/lib/punchwire")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_path_is_the_documented_one() {
        #[cfg(not(windows))]
        assert_eq!(config_path(), PathBuf::from(DEFAULT_CONFIG_PATH));
        #[cfg(windows)]
        {
            let data = std::env::var_os("ProgramData").expect("Windows sets ProgramData");
            assert_eq!(
                config_path(),
                PathBuf::from(data).join("Punchwire").join("config.toml")
            );
            assert!(DEFAULT_SOCKET.starts_with(r"\\.\pipe\"));
        }
    }
}

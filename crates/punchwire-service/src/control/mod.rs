//! The local control endpoint: how the CLI and the tray app see and steer the service.
//!
//! The transport (a Unix socket on Linux and macOS, a named pipe with an access list on
//! Windows) stays behind [`transport::ControlListener`] and [`client::ControlClient`];
//! the protocol and the per-connection logic ([`server`]) do not know which one carries
//! them.

#[cfg(unix)]
pub mod auth;
#[cfg(windows)]
#[path = "auth_windows.rs"]
pub mod auth;
// The protocol and the client live in `punchwire-control`, which the tray app shares.
pub use punchwire_control::{client, protocol};
#[cfg(windows)]
pub mod pipe;
#[cfg(windows)]
mod pipe_security;
pub mod server;
pub mod transport;
#[cfg(unix)]
pub mod unix;

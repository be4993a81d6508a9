//! The local control socket: how the CLI and the tray app see and steer the service.
//!
//! The transport (a Unix socket here; a named pipe with an ACL on Windows later) stays
//! behind [`unix::ControlListener`] and [`client::ControlClient`]; the protocol and the
//! per-connection logic do not know which one carries them.

pub mod auth;
// The protocol and the client live in `punchwire-control`, which the tray app shares.
pub use punchwire_control::{client, protocol};
pub mod server;
pub mod unix;

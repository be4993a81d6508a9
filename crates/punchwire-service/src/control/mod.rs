//! The local control socket: how the CLI and the tray app see and steer the service.
//!
//! The transport (a Unix socket here; a named pipe with an ACL on Windows later) stays
//! behind [`unix::ControlListener`] and [`client::ControlClient`]; the protocol and the
//! per-connection logic do not know which one carries them.

pub mod auth;
pub mod client;
pub mod protocol;
pub mod server;
pub mod unix;

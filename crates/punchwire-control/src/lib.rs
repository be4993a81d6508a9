//! The contract between the privileged Punchwire service and its clients (the CLI, the
//! tray app, users' scripts), and nothing else: no WireGuard, no registry, no DNS.
//!
//! Reading order: [`protocol`] (requests, answers, errors, event frames on the wire),
//! [`status`] (the document `status` returns), [`rejection`] (why an answer was not
//! used, by kind), [`setup`] (what the service found out by itself about an interface), [`events`] (the
//! events clients act on, typed), [`client`] (one connection to the
//! service), [`config_file`] (replacing a configuration file all or nothing),
//! [`defaults`] (where the two sides meet when nothing else is said, per platform),
//! [`error_line`] (an error and its causes in one line), [`escape`]
//! (showing text that came from elsewhere without letting it steer the screen), and the
//! values a configuration is made of, each checked where it is given: [`zone`],
//! [`interface`], [`timing`]. The connection itself is the platform's: a Unix socket
//! or a Windows named pipe (`transport`).

pub mod client;
pub mod config_file;
pub mod defaults;
pub mod error_line;
pub mod escape;
pub mod events;
pub mod interface;
pub mod protocol;
pub mod rejection;
pub mod setup;
pub mod status;
pub mod timing;
mod transport;
#[cfg(test)]
mod typescript;
pub mod zone;

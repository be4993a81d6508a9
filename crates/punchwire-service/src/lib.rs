//! The privileged Punchwire service: it reads its configuration, keeps peer endpoints
//! current through discovery, serves as registry where enabled, and reports all of it on
//! a local control socket.

pub mod config;
pub mod control;
pub mod status;

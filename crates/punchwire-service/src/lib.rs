//! The privileged Punchwire service: it reads its configuration, keeps peer endpoints
//! current through discovery, serves as registry where enabled, and reports all of it on
//! a local control socket.
//!
//! Reading order: [`config`] (what to do), [`tunnel_check`] (the check of it that needs
//! the devices), [`service`] (doing it: engines, registry),
//! [`notes`] and [`report`] (what it learned, as `status`), [`control`] (how clients
//! ask), [`daemon`] (the process's life), [`signals`] (stop and reload requests of each
//! platform) and on Windows `scm` (running as a Windows service).

pub mod config;
pub mod control;
pub mod daemon;
pub mod notes;
pub mod peer_names;
pub mod report;
#[cfg(windows)]
pub mod scm;
pub mod service;
pub mod signals;
pub mod tunnel_check;

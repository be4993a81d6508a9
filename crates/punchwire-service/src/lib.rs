//! The privileged Punchwire service: it reads its configuration, keeps peer endpoints
//! current through discovery, serves as registry where enabled, and reports all of it on
//! a local control socket.
//!
//! Reading order: [`config`] (what to do), [`tunnel_check`] (the check of it that needs
//! the devices), [`service`] (doing it: the registry, and an [`interface_task`] per
//! interface, which finds what the configuration left out before it runs the engine,
//! with a [`registry_reresolve`] task beside it for a registry whose endpoint is a name),
//! [`scout`] (what the interfaces nobody configured would need), [`engine_events`] and
//! [`event_log`] (the events, in the protocol's shape, live and recent), [`report`] and
//! [`status`] (what it learned, as `status`), [`control`] (how clients
//! ask), [`daemon`] (the process's life), [`signals`] (stop and reload requests of each
//! platform) and on Windows `scm` (running as a Windows service).

pub mod candidate_registration;
pub mod config;
pub mod control;
pub mod daemon;
pub mod endpoint_names;
pub mod engine_events;
pub mod event_log;
pub mod interface_task;
pub mod name_lookup;
pub mod peer_names;
pub mod registry_quiet;
pub mod registry_reresolve;
pub mod relay;
pub mod report;
pub mod reresolve_decision;
#[cfg(windows)]
pub mod scm;
pub mod scout;
pub mod service;
pub mod set_config;
pub mod signals;
pub mod status;
pub mod tunnel_check;

//! WireGuard for Windows (the wireguard-nt kernel driver) through `wireguard.dll`.
//!
//! Punchwire works beside the official WireGuard client, which owns the tunnels: each of
//! its tunnels is a wireguard-nt adapter named like the tunnel. So this backend opens
//! existing adapters by name and never creates, deletes, brings up or down, or
//! reconfigures one; it writes only peers' endpoints (a peer without a session is made
//! anew with everything it had, so that its handshake starts now) and allowed IPs.
//! wireguard-nt has no call that lists adapters, so [`NtBackend::interfaces`] reports the
//! official client's tunnels (its configuration files) whose adapter exists right now;
//! any other adapter is still served when named.

#[cfg(windows)]
mod backend;
#[cfg(windows)]
mod driver;
// The layout, the first-contact write and the tunnel list are plain data, compiled and tested everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
mod layout;
#[cfg_attr(not(windows), allow(dead_code))]
mod remake;
#[cfg(test)]
mod test_config;
#[cfg_attr(not(windows), allow(dead_code))]
mod tunnels;

#[cfg(windows)]
pub use backend::NtBackend;

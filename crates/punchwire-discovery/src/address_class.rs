//! Addresses that are never another machine's, whatever the device: a registry that
//! answers with one is wrong or hostile, and setting it would send the tunnel to this
//! machine, to nowhere, or to everyone on a link.

use std::net::IpAddr;

use punchwire_control::rejection::Rejection;

/// A global unicast IPv6 address (2000::/3): reached without NAT, from anywhere with
/// IPv6 of its own. The one rule for the candidates this machine registers and for
/// which of a peer's it tries.
pub fn is_global_ipv6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xe000 == 0x2000)
}

/// The class of `ip` that rules it out as a peer's endpoint, if any. `ip` must be
/// canonical: an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is judged by the caller
/// as the IPv4 address it is.
pub fn never_a_peer(ip: IpAddr) -> Option<Rejection> {
    match ip {
        IpAddr::V4(v4) => {
            let first = v4.octets()[0];
            if first == 0 {
                Some(Rejection::Unspecified { ip })
            } else if v4.is_loopback() {
                Some(Rejection::Loopback { ip })
            } else if v4.is_link_local() {
                Some(Rejection::LinkLocal { ip })
            } else if v4.is_multicast() {
                Some(Rejection::Multicast { ip })
            } else if v4.is_broadcast() {
                Some(Rejection::Broadcast { ip })
            } else if first >= 240 {
                Some(Rejection::Reserved { ip })
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                Some(Rejection::Unspecified { ip })
            } else if v6.is_loopback() {
                Some(Rejection::Loopback { ip })
            } else if v6.is_unicast_link_local() {
                Some(Rejection::LinkLocal { ip })
            } else if v6.is_multicast() {
                Some(Rejection::Multicast { ip })
            } else {
                None
            }
        }
    }
}

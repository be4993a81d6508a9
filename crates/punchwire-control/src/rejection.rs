//! Why the discovery engine would not set a registry's answer as a peer's endpoint, by
//! kind: the `decision` events and the status (`last_rejection`) carry it with a `kind`
//! tag, so that a client can tell the classes apart without reading the words.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One reason an answer was not used. Addresses are the ones the answer named, IPv4
/// ones already unwrapped from their IPv4-mapped IPv6 form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Rejection {
    /// The answer could not be read as an endpoint at all (an SRV target without an
    /// address, a malformed message, ...).
    UnusableAnswer { why: String },
    /// The record is for a key that is not a peer of this device.
    NotOurPeer { key: String },
    /// The record is for another of this device's peers than the one asked about.
    OtherPeer { asked: String, record: String },
    /// Port 0: nothing can be sent to it.
    PortZero {
        #[cfg_attr(test, ts(type = "string"))]
        addr: SocketAddr,
    },
    /// 0.0.0.0/8 or `::`: "this host", never another one.
    Unspecified {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// 127.0.0.0/8 or `::1`: the tunnel would be sent to this machine.
    Loopback {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// 169.254.0.0/16 or fe80::/10: only meaningful on one link, and without its scope.
    LinkLocal {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// 224.0.0.0/4 or ff00::/8: a group, not a peer.
    Multicast {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// 255.255.255.255.
    Broadcast {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// 240.0.0.0/4 (broadcast aside): reserved, routed nowhere.
    Reserved {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// An address of this machine: the tunnel would be sent to itself.
    OwnAddress {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
    },
    /// Inside the tunnel's own address space (a peer's AllowedIPs, or the subnet of the
    /// WireGuard interface's address): the tunnel would be routed into itself.
    InsideTunnel {
        #[cfg_attr(test, ts(type = "string"))]
        ip: IpAddr,
        #[cfg_attr(test, ts(type = "string"))]
        range: IpNet,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::UnusableAnswer { why } => f.write_str(why),
            Rejection::NotOurPeer { key } => {
                write!(
                    f,
                    "the record is for {key}, which is not a peer of this device"
                )
            }
            Rejection::OtherPeer { asked, record } => {
                write!(f, "asked for {asked} but the record is for {record}")
            }
            Rejection::PortZero { addr } => write!(f, "{addr}: port 0 is not a reachable port"),
            Rejection::Unspecified { ip } => {
                write!(f, "{ip} is an unspecified address (0.0.0.0/8 or ::)")
            }
            Rejection::Loopback { ip } => write!(f, "{ip} is a loopback address"),
            Rejection::LinkLocal { ip } => write!(f, "{ip} is a link-local address"),
            Rejection::Multicast { ip } => write!(f, "{ip} is a multicast address"),
            Rejection::Broadcast { ip } => write!(f, "{ip} is the broadcast address"),
            Rejection::Reserved { ip } => write!(f, "{ip} is in the reserved 240.0.0.0/4"),
            Rejection::OwnAddress { ip } => write!(f, "{ip} is an address of this machine"),
            Rejection::InsideTunnel { ip, range } => {
                write!(f, "{ip} is inside this device's tunnel range {range}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_is_a_kind_with_its_address() {
        let r = Rejection::InsideTunnel {
            ip: "10.99.0.3".parse().unwrap(),
            range: "10.99.0.0/24".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"kind": "inside-tunnel", "ip": "10.99.0.3", "range": "10.99.0.0/24"})
        );
        let port_zero = Rejection::PortZero {
            addr: "198.51.100.2:0".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(port_zero).unwrap(),
            serde_json::json!({"kind": "port-zero", "addr": "198.51.100.2:0"})
        );
        let back: Rejection = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}

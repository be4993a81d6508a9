//! Reading `wg show <iface> dump`: the lab's own view of a device, independent of the
//! product's backends, so that tests check the product against `wg` itself.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use punchwire_wg::PublicKey;

use crate::error::{LabError, Result};
use crate::wireguard::WgImpl;

/// A device as `wg show <iface> dump` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDump {
    /// `None` where the implementation does not say (boringtun).
    pub public_key: Option<PublicKey>,
    pub listen_port: u16,
    pub peers: Vec<PeerStats>,
}

/// One peer line of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<String>,
    /// The raw "latest handshake" field: seconds since the epoch for wireguard-go (0 =
    /// never), seconds *ago* for boringtun (0 = never, or less than a second ago).
    pub latest_handshake_raw: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub persistent_keepalive: Option<u16>,
}

/// Bytes received from and sent to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub rx: u64,
    pub tx: u64,
}

impl Counters {
    /// rx + tx.
    pub fn total(self) -> u64 {
        self.rx + self.tx
    }

    /// How much moved since `earlier`.
    pub fn since(self, earlier: Counters) -> Counters {
        Counters {
            rx: self.rx.saturating_sub(earlier.rx),
            tx: self.tx.saturating_sub(earlier.tx),
        }
    }
}

impl PeerStats {
    pub fn counters(&self) -> Counters {
        Counters {
            rx: self.rx_bytes,
            tx: self.tx_bytes,
        }
    }

    /// When the latest handshake was, as far as the implementation tells. boringtun
    /// reports 0 both for "never" and for "under a second ago", so a `None` from it is
    /// not proof of absence: check traffic instead.
    pub fn last_handshake(&self, wg: WgImpl) -> Option<SystemTime> {
        if self.latest_handshake_raw == 0 {
            return None;
        }
        match wg {
            WgImpl::WireguardGo => {
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(self.latest_handshake_raw))
            }
            WgImpl::Boringtun => {
                SystemTime::now().checked_sub(Duration::from_secs(self.latest_handshake_raw))
            }
        }
    }
}

impl DeviceDump {
    pub fn peer(&self, key: &PublicKey) -> Option<&PeerStats> {
        self.peers.iter().find(|p| &p.public_key == key)
    }

    /// Parses the output of `wg show <iface> dump` (one interface).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: String| LabError::Parse {
            command: "wg show <iface> dump".into(),
            reason,
        };
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let head = lines.next().ok_or_else(|| bad("empty output".into()))?;
        let f: Vec<&str> = head.split('\t').collect();
        if f.len() != 4 {
            return Err(bad(format!(
                "interface line has {} fields: {head:?}",
                f.len()
            )));
        }
        let public_key = match f[1] {
            "(none)" => None,
            k => Some(k.parse().map_err(|e| bad(format!("own key: {e}")))?),
        };
        let listen_port = f[2]
            .parse()
            .map_err(|e| bad(format!("listen port {:?}: {e}", f[2])))?;
        let peers = lines
            .map(|line| parse_peer(line).map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            public_key,
            listen_port,
            peers,
        })
    }
}

fn parse_peer(line: &str) -> std::result::Result<PeerStats, String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 8 {
        return Err(format!("peer line has {} fields: {line:?}", f.len()));
    }
    let num = |i: usize, what: &str| -> std::result::Result<u64, String> {
        f[i].parse().map_err(|e| format!("{what} {:?}: {e}", f[i]))
    };
    Ok(PeerStats {
        public_key: f[0].parse().map_err(|e| format!("peer key: {e}"))?,
        endpoint: match f[2] {
            "(none)" => None,
            e => Some(e.parse().map_err(|err| format!("endpoint {e:?}: {err}"))?),
        },
        allowed_ips: match f[3] {
            "(none)" => Vec::new(),
            a => a.split(',').map(str::to_owned).collect(),
        },
        latest_handshake_raw: num(4, "latest handshake")?,
        rx_bytes: num(5, "rx bytes")?,
        tx_bytes: num(6, "tx bytes")?,
        persistent_keepalive: match f[7] {
            "off" => None,
            k => Some(k.parse().map_err(|e| format!("keepalive {k:?}: {e}"))?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from boringtun 0.7.1: no own key, handshake as "seconds ago".
    const BORINGTUN: &str = "(none)\t(none)\t51820\toff\n\
        H5+CeIsjTPRNkCF6chNXyhkYYUtD9SiJUrDc/NtsuhQ=\t(none)\t10.5.0.2:51820\t10.6.0.2/32\t7\t84\t96\toff\n";

    const WIREGUARD_GO: &str = "oFx3y5Q2uJ3fUx0f9E3Jw3m9bLr4Ykq8s1mN0pQrS3Y=\tFd/w5iqY+J4/Y7dX1qtt/vzh/IN6EWpGW7aZimzWSig=\t51820\toff\n\
        H5+CeIsjTPRNkCF6chNXyhkYYUtD9SiJUrDc/NtsuhQ=\t(none)\t(none)\t10.99.0.2/32,10.99.1.0/24\t0\t0\t0\t5\n";

    #[test]
    fn reads_a_boringtun_dump() {
        let d = DeviceDump::parse(BORINGTUN).unwrap();
        assert_eq!(d.public_key, None);
        assert_eq!(d.listen_port, 51820);
        let p = &d.peers[0];
        assert_eq!(p.endpoint, Some("10.5.0.2:51820".parse().unwrap()));
        assert_eq!(p.counters(), Counters { rx: 84, tx: 96 });
        assert_eq!(p.persistent_keepalive, None);
        let ago = SystemTime::now()
            .duration_since(p.last_handshake(WgImpl::Boringtun).unwrap())
            .unwrap();
        assert!(
            ago > Duration::from_secs(6) && ago < Duration::from_secs(60),
            "{ago:?}"
        );
    }

    #[test]
    fn reads_a_wireguard_go_dump_with_a_peer_never_seen() {
        let d = DeviceDump::parse(WIREGUARD_GO).unwrap();
        assert_eq!(
            d.public_key.unwrap().to_base64(),
            "Fd/w5iqY+J4/Y7dX1qtt/vzh/IN6EWpGW7aZimzWSig="
        );
        let p = &d.peers[0];
        assert_eq!(p.endpoint, None);
        assert_eq!(p.allowed_ips, ["10.99.0.2/32", "10.99.1.0/24"]);
        assert_eq!(p.last_handshake(WgImpl::WireguardGo), None);
        assert_eq!(p.persistent_keepalive, Some(5));
    }

    #[test]
    fn a_truncated_line_is_an_error_that_shows_it() {
        let err = DeviceDump::parse("(none)\t(none)\t51820\toff\nabc\t1\n").unwrap_err();
        assert!(err.to_string().contains("\"abc\\t1\""), "{err}");
    }
}

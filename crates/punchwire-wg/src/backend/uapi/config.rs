//! Reading the answer to `get=1`: `key=value` lines, device keys first, then one block
//! per peer that starts with `public_key=`.
//!
//! Parsing is tolerant of what implementations add (unknown keys are skipped) and strict
//! about the values of the keys it knows, since a garbled value means a broken daemon.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::HEXLOWER_PERMISSIVE;
use ipnet::IpNet;

use crate::device::{Device, Peer};
use crate::key::{PublicKey, KEY_LEN};

/// Below this, `last_handshake_time_sec` cannot be the Unix time of a real handshake
/// (it would predate September 2001). boringtun 0.7.1 sends the seconds *since* the
/// handshake in that field instead, and those are always far below it.
const EARLIEST_HANDSHAKE_TIMESTAMP: u64 = 1_000_000_000;

/// A device as its daemon describes it, including what must stay inside the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UapiDevice {
    pub public_key: Option<PublicKey>,
    pub listen_port: Option<u16>,
    pub fwmark: Option<u32>,
    pub peers: Vec<UapiPeer>,
    pub signature: Signature,
}

/// A peer and its preshared key, which is needed to re-add the peer on boringtun and is
/// never shown to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UapiPeer {
    pub peer: Peer,
    pub preshared_key: Option<PresharedKey>,
}

/// Which optional lines the daemon wrote; implementations differ in them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signature {
    /// `private_key=`: every compliant implementation sends it once a key is set.
    pub private_key: bool,
    /// `own_public_key=`: only boringtun sends this (non-standard) line.
    pub own_public_key: bool,
    /// `protocol_version=` in a peer block: compliant implementations send it per peer.
    pub protocol_version: bool,
}

/// A preshared key. Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PresharedKey([u8; KEY_LEN]);

impl PresharedKey {
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(..)")
    }
}

impl UapiDevice {
    /// The public view: everything but the secrets.
    pub fn to_device(&self, name: &str) -> Device {
        Device {
            name: name.to_owned(),
            public_key: self.public_key,
            listen_port: self.listen_port,
            fwmark: self.fwmark,
            peers: self.peers.iter().map(|p| p.peer.clone()).collect(),
        }
    }

    pub fn peer(&self, key: &PublicKey) -> Option<&UapiPeer> {
        self.peers.iter().find(|p| &p.peer.public_key == key)
    }
}

/// Parses the lines of a `get=1` answer (without the errno line). `now` turns
/// boringtun's handshake ages into wall-clock times.
pub(super) fn parse_get(lines: &[String], now: SystemTime) -> Result<UapiDevice, String> {
    let mut device = UapiDevice {
        public_key: None,
        listen_port: None,
        fwmark: None,
        peers: Vec::new(),
        signature: Signature::default(),
    };
    let mut own_public_key = None;
    let mut derived_public_key = None;
    let mut peer: Option<PeerBuilder> = None;

    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            tracing::debug!(line, "UAPI: skipping a line without '='");
            continue;
        };
        if key == "public_key" {
            if let Some(done) = peer.take() {
                device.peers.push(done.finish(now));
            }
            peer = Some(PeerBuilder::new(PublicKey::from_bytes(
                hex_key(value).ok_or_else(|| bad(line))?,
            )));
            continue;
        }
        match peer.as_mut() {
            None => match key {
                "private_key" => {
                    let secret = hex_key(value)
                        .ok_or_else(|| "private_key is not 64 hex digits".to_owned())?;
                    device.signature.private_key = true;
                    if secret != [0; KEY_LEN] {
                        derived_public_key = Some(public_key_of(secret));
                    }
                }
                "own_public_key" => {
                    device.signature.own_public_key = true;
                    own_public_key = Some(PublicKey::from_bytes(
                        hex_key(value).ok_or_else(|| bad(line))?,
                    ));
                }
                "listen_port" => {
                    device.listen_port = Some(number::<u16>(value, line)?).filter(|&p| p != 0)
                }
                "fwmark" => device.fwmark = Some(number::<u32>(value, line)?).filter(|&m| m != 0),
                _ => tracing::debug!(key, "UAPI: skipping an unknown device key"),
            },
            Some(p) => match key {
                "preshared_key" => {
                    let psk = hex_key(value)
                        .ok_or_else(|| "preshared_key is not 64 hex digits".to_owned())?;
                    p.preshared_key = (psk != [0; KEY_LEN]).then_some(PresharedKey(psk));
                }
                "endpoint" => {
                    p.peer.endpoint = Some(
                        value
                            .parse::<SocketAddr>()
                            .map_err(|e| bad_because(line, e))?,
                    )
                }
                "allowed_ip" => p
                    .peer
                    .allowed_ips
                    .push(value.parse::<IpNet>().map_err(|e| bad_because(line, e))?),
                "last_handshake_time_sec" => p.handshake_sec = number(value, line)?,
                "last_handshake_time_nsec" => p.handshake_nsec = number(value, line)?,
                "rx_bytes" => p.peer.rx_bytes = number(value, line)?,
                "tx_bytes" => p.peer.tx_bytes = number(value, line)?,
                "persistent_keepalive_interval" => {
                    p.peer.persistent_keepalive =
                        Some(number::<u16>(value, line)?).filter(|&k| k != 0)
                }
                "protocol_version" => device.signature.protocol_version = true,
                _ => tracing::debug!(key, "UAPI: skipping an unknown peer key"),
            },
        }
    }
    if let Some(done) = peer.take() {
        device.peers.push(done.finish(now));
    }
    device.public_key = derived_public_key.or(own_public_key);
    Ok(device)
}

/// Converts the handshake fields to a wall-clock time: a Unix timestamp from compliant
/// implementations, an age from boringtun 0.7.1 (see [`EARLIEST_HANDSHAKE_TIMESTAMP`]).
/// `0`/`0` means no handshake yet.
pub(super) fn handshake_time(sec: u64, nsec: u32, now: SystemTime) -> Option<SystemTime> {
    if sec == 0 && nsec == 0 {
        return None;
    }
    let value = Duration::from_secs(sec) + Duration::from_nanos(u64::from(nsec.min(999_999_999)));
    if sec < EARLIEST_HANDSHAKE_TIMESTAMP {
        now.checked_sub(value)
    } else {
        UNIX_EPOCH.checked_add(value)
    }
}

struct PeerBuilder {
    peer: Peer,
    preshared_key: Option<PresharedKey>,
    handshake_sec: u64,
    handshake_nsec: u32,
}

impl PeerBuilder {
    fn new(public_key: PublicKey) -> Self {
        Self {
            peer: Peer::new(public_key),
            preshared_key: None,
            handshake_sec: 0,
            handshake_nsec: 0,
        }
    }

    fn finish(mut self, now: SystemTime) -> UapiPeer {
        self.peer.last_handshake = handshake_time(self.handshake_sec, self.handshake_nsec, now);
        self.peer.has_preshared_key = self.preshared_key.is_some();
        UapiPeer {
            peer: self.peer,
            preshared_key: self.preshared_key,
        }
    }
}

fn public_key_of(secret: [u8; KEY_LEN]) -> PublicKey {
    let secret = x25519_dalek::StaticSecret::from(secret);
    PublicKey::from_bytes(x25519_dalek::PublicKey::from(&secret).to_bytes())
}

fn hex_key(value: &str) -> Option<[u8; KEY_LEN]> {
    HEXLOWER_PERMISSIVE
        .decode(value.trim().as_bytes())
        .ok()?
        .try_into()
        .ok()
}

fn number<T: std::str::FromStr>(value: &str, line: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e| bad_because(line, e))
}

fn bad(line: &str) -> String {
    format!("unreadable line {line:?}")
}

fn bad_because(line: &str, reason: impl fmt::Display) -> String {
    format!("unreadable line {line:?}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_SECS: u64 = 1_750_000_000;
    const PEER_HEX: &str = "6a5b1f4fd5a00a1a4c3c7f6e2b4e89a9f2bfa6b5e7c1b0bb1f2e3c4d5e6f7081";
    // A private key and the public key `wg pubkey` gives for it.
    const PRIVATE_HEX: &str = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
    const PUBLIC_B64: &str = "wVMuGz01CPx+vDVPpnliDzPyhxSVQuaExnt7DYE2Kyk=";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn wireguard_go_answer_reads_fully() {
        let answer = format!(
            "private_key={PRIVATE_HEX}\nlisten_port=51820\nfwmark=0\n\
             public_key={PEER_HEX}\npreshared_key={psk}\nprotocol_version=1\n\
             endpoint=[2001:db8::1]:40000\nlast_handshake_time_sec={ts}\n\
             last_handshake_time_nsec=500000000\ntx_bytes=92\nrx_bytes=180\n\
             persistent_keepalive_interval=25\nallowed_ip=10.99.0.2/32\n\
             allowed_ip=fd00::/64\n",
            psk = "11".repeat(32),
            ts = NOW_SECS - 42,
        );
        let device = parse_get(&lines(&answer), now()).unwrap();
        assert_eq!(device.public_key, Some(PUBLIC_B64.parse().unwrap()));
        assert_eq!(device.listen_port, Some(51820));
        assert_eq!(device.fwmark, None);
        assert!(device.signature.private_key && device.signature.protocol_version);
        let peer = &device.peers[0];
        assert!(peer.peer.has_preshared_key);
        assert_eq!(
            peer.preshared_key.as_ref().unwrap().to_hex(),
            "11".repeat(32)
        );
        assert_eq!(
            peer.peer.endpoint,
            Some("[2001:db8::1]:40000".parse().unwrap())
        );
        assert_eq!(
            peer.peer.allowed_ips,
            vec![
                "10.99.0.2/32".parse().unwrap(),
                "fd00::/64".parse().unwrap()
            ]
        );
        assert_eq!(
            peer.peer.handshake_age(now()),
            Some(Duration::from_millis(41_500))
        );
        assert_eq!((peer.peer.rx_bytes, peer.peer.tx_bytes), (180, 92));
        assert_eq!(peer.peer.persistent_keepalive, Some(25));
    }

    #[test]
    fn boringtun_handshake_seconds_since_become_a_true_age() {
        // boringtun 0.7.1 writes these two lines for a handshake 7.25 s ago.
        let answer = format!(
            "own_public_key={PEER_HEX}\nlisten_port=40001\npublic_key={PEER_HEX}\n\
             last_handshake_time_sec=7\nlast_handshake_time_nsec=250000000\n\
             rx_bytes=0\ntx_bytes=0\n"
        );
        let device = parse_get(&lines(&answer), now()).unwrap();
        let peer = &device.peers[0].peer;
        assert_eq!(
            peer.handshake_age(now()),
            Some(Duration::from_millis(7_250))
        );
        assert_eq!(
            peer.last_handshake,
            Some(now() - Duration::from_millis(7_250))
        );
        assert!(device.signature.own_public_key && !device.signature.private_key);
        assert_eq!(
            device.public_key,
            Some(PublicKey::from_bytes(hex_key(PEER_HEX).unwrap()))
        );
    }

    #[test]
    fn zero_handshake_is_never_and_zero_keys_are_absent() {
        let answer = format!(
            "private_key={zero}\npublic_key={PEER_HEX}\npreshared_key={zero}\n\
             last_handshake_time_sec=0\nlast_handshake_time_nsec=0\n\
             persistent_keepalive_interval=0\n",
            zero = "0".repeat(64)
        );
        let device = parse_get(&lines(&answer), now()).unwrap();
        assert_eq!(device.public_key, None);
        let peer = &device.peers[0];
        assert_eq!(peer.peer.last_handshake, None);
        assert!(!peer.peer.has_preshared_key && peer.preshared_key.is_none());
        assert_eq!(peer.peer.persistent_keepalive, None);
    }

    #[test]
    fn timestamps_and_ages_are_told_apart_at_2001() {
        assert_eq!(
            handshake_time(1_000_000_000, 0, now()),
            Some(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        );
        assert_eq!(
            handshake_time(999_999_999, 0, now()),
            Some(now() - Duration::from_secs(999_999_999))
        );
        assert_eq!(
            handshake_time(0, 1, now()),
            Some(now() - Duration::from_nanos(1))
        );
        assert_eq!(handshake_time(0, 0, now()), None);
    }

    #[test]
    fn unknown_keys_are_skipped_and_bad_values_are_named() {
        let answer = format!(
            "future_device_key=1\nlisten_port=1\npublic_key={PEER_HEX}\nfuture_peer_key=x\n"
        );
        let device = parse_get(&lines(&answer), now()).unwrap();
        assert_eq!(device.peers.len(), 1);

        let err = parse_get(&lines("listen_port=seventy"), now()).unwrap_err();
        assert!(err.contains("listen_port=seventy"), "{err}");
        let err = parse_get(
            &lines(&format!("public_key={PEER_HEX}\nallowed_ip=10.0.0.300/8")),
            now(),
        )
        .unwrap_err();
        assert!(err.contains("10.0.0.300/8"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        let err = parse_get(&lines("private_key=secretsecret"), now()).unwrap_err();
        assert!(!err.contains("secretsecret"), "{err}");
        let answer = format!("public_key={PEER_HEX}\npreshared_key={}\n", "ab".repeat(32));
        let device = parse_get(&lines(&answer), now()).unwrap();
        assert!(!format!("{device:?}").contains(&"ab".repeat(32)));
    }
}

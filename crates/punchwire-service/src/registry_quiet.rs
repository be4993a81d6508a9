//! Whether the registry peer has gone quiet: judged from what every WireGuard backend
//! reports (the latest handshake, the byte counters), with the moment passed in, so
//! that the rule is tested without a clock.

use std::fmt;
use std::time::{Duration, SystemTime};

use punchwire_wg::Peer;

/// A live session re-handshakes every REKEY_AFTER_TIME (120 s) while anything is sent
/// (keepalives are enough); a handshake older than that plus three REKEY_TIMEOUT (5 s)
/// attempts means the rekey failed. wireguard-tools' reresolve-dns.sh uses the same
/// 135 s.
pub const STALE_HANDSHAKE: Duration = Duration::from_secs(135);

/// Sent to the registry but nothing back for this long: WireGuard's own rule for "the
/// path is dead, start a new handshake" (KEEPALIVE_TIMEOUT 10 s + REKEY_TIMEOUT 5 s).
/// It tells a moved registry within seconds rather than after the 135 s above, as the
/// service's SOA polls over the tunnel get an answer every `poll` while the registry
/// is there. Where nothing answers (discovery paused, a `poll` longer than this),
/// the name is merely asked again, and an answer that still includes the endpoint
/// changes nothing.
pub const SILENCE: Duration = Duration::from_secs(15);

/// Why the registry peer counts as quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// No handshake since WireGuard set the peer up.
    NeverHandshake,
    /// The latest handshake is at least [`STALE_HANDSHAKE`] old.
    HandshakeOld(Duration),
    /// Bytes went to it, none came back, for at least [`SILENCE`].
    Silent(Duration),
}

impl fmt::Display for Quiet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quiet::NeverHandshake => f.write_str("no handshake yet"),
            Quiet::HandshakeOld(age) => write!(f, "latest handshake {} s ago", age.as_secs()),
            Quiet::Silent(for_) => write!(
                f,
                "nothing received for {} s although it was sent to",
                for_.as_secs()
            ),
        }
    }
}

/// The peer's counters when something was last received from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    rx: u64,
    tx: u64,
    at: SystemTime,
}

impl Heard {
    /// The first read: counts as heard now, as nothing says otherwise yet.
    pub fn first(peer: &Peer, now: SystemTime) -> Self {
        Self {
            rx: peer.rx_bytes,
            tx: peer.tx_bytes,
            at: now,
        }
    }

    /// After another read: heard now if the received bytes moved. Counters that went
    /// back (a backend that made the peer anew) start over from this read.
    pub fn update(self, peer: &Peer, now: SystemTime) -> Self {
        if peer.rx_bytes != self.rx || peer.tx_bytes < self.tx {
            Self::first(peer, now)
        } else {
            self
        }
    }
}

/// Whether `peer`, last heard as `heard`, is quiet at `now`.
pub fn quiet(peer: &Peer, heard: &Heard, now: SystemTime) -> Option<Quiet> {
    match peer.handshake_age(now) {
        None => Some(Quiet::NeverHandshake),
        Some(age) if age >= STALE_HANDSHAKE => Some(Quiet::HandshakeOld(age)),
        Some(_) => {
            let since = now.duration_since(heard.at).unwrap_or(Duration::ZERO);
            (since >= SILENCE && peer.tx_bytes > heard.tx).then_some(Quiet::Silent(since))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_wg::PublicKey;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn registry(handshake: Option<u64>, rx: u64, tx: u64) -> Peer {
        let mut peer = Peer::new(PublicKey::from_bytes([7; 32]));
        peer.last_handshake = handshake.map(at);
        peer.rx_bytes = rx;
        peer.tx_bytes = tx;
        peer
    }

    #[test]
    fn a_registry_never_reached_is_quiet_at_once() {
        let peer = registry(None, 0, 148);
        let heard = Heard::first(&peer, at(0));
        assert_eq!(quiet(&peer, &heard, at(0)), Some(Quiet::NeverHandshake));
    }

    #[test]
    fn a_handshake_is_stale_from_135_s_on() {
        let peer = registry(Some(0), 1000, 1000);
        let heard = Heard::first(&peer, at(134));
        assert_eq!(quiet(&peer, &heard, at(134)), None);
        assert_eq!(
            quiet(&peer, &heard, at(135)),
            Some(Quiet::HandshakeOld(Duration::from_secs(135)))
        );
    }

    #[test]
    fn sending_without_hearing_back_for_15_s_is_quiet_with_a_fresh_handshake() {
        let before = registry(Some(100), 5000, 4000);
        let heard = Heard::first(&before, at(100));
        // Queries went out, nothing came back.
        let after = registry(Some(100), 5000, 4600);
        let heard = heard.update(&after, at(110));
        assert_eq!(
            quiet(&after, &heard, at(110)),
            None,
            "10 s is not yet silence"
        );
        let heard = heard.update(&after, at(115));
        assert_eq!(
            quiet(&after, &heard, at(115)),
            Some(Quiet::Silent(Duration::from_secs(15)))
        );
    }

    #[test]
    fn a_registry_that_answers_is_never_quiet() {
        let mut heard = Heard::first(&registry(Some(100), 5000, 4000), at(100));
        for step in 1..=20 {
            let peer = registry(Some(100), 5000 + step * 90, 4000 + step * 60);
            heard = heard.update(&peer, at(100 + step * 5));
            assert_eq!(
                quiet(&peer, &heard, at(100 + step * 5)),
                None,
                "step {step}"
            );
        }
    }

    #[test]
    fn nothing_sent_and_nothing_received_is_not_silence() {
        let peer = registry(Some(100), 5000, 4000);
        let heard = Heard::first(&peer, at(100));
        assert_eq!(quiet(&peer, &heard, at(130)), None);
    }

    #[test]
    fn counters_that_start_over_start_the_silence_over() {
        let peer = registry(Some(100), 5000, 4000);
        let heard = Heard::first(&peer, at(100));
        let anew = registry(Some(100), 0, 300);
        let heard = heard.update(&anew, at(120));
        assert_eq!(quiet(&anew, &heard, at(120)), None);
    }
}

//! Which registry to believe when several answer for the same peer.

use std::net::SocketAddr;

use crate::lookup::Lookup;

/// Picks one answer out of those of several registries (given in the user's order).
///
/// A record beats no record, which beats an unusable answer, which beats silence. Among
/// records, the registry listed first wins today. This is the place for a freshness
/// hint: once registries publish how recently they saw each peer (say, a TXT key), order
/// the records by it here and nothing else changes.
pub fn prefer(answers: Vec<(SocketAddr, Lookup)>) -> Option<(SocketAddr, Lookup)> {
    answers.into_iter().min_by_key(|(_, lookup)| rank(lookup))
}

fn rank(lookup: &Lookup) -> u8 {
    match lookup {
        Lookup::Found(_) => 0,
        Lookup::NoRecord => 1,
        Lookup::Rejected(_) => 2,
        Lookup::Unreachable(_) => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::PublishedEndpoint;
    use punchwire_wg::PublicKey;

    fn reg(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 99, 0, n], 53))
    }

    fn found(port: u16) -> Lookup {
        Lookup::Found(PublishedEndpoint {
            key: PublicKey::from_bytes([2; 32]),
            addr: SocketAddr::from(([198, 51, 100, 2], port)),
        })
    }

    #[test]
    fn a_record_beats_silence_and_absence() {
        let chosen = prefer(vec![
            (reg(1), Lookup::Unreachable("timed out".into())),
            (reg(2), Lookup::NoRecord),
            (reg(3), found(1000)),
        ]);
        assert_eq!(chosen, Some((reg(3), found(1000))));
    }

    #[test]
    fn among_records_the_first_registry_wins() {
        let chosen = prefer(vec![(reg(1), found(1000)), (reg(2), found(2000))]);
        assert_eq!(chosen, Some((reg(1), found(1000))));
    }

    #[test]
    fn absence_beats_an_unusable_answer_and_silence() {
        let chosen = prefer(vec![
            (reg(1), Lookup::Unreachable("timed out".into())),
            (reg(2), Lookup::Rejected("bad".into())),
            (reg(3), Lookup::NoRecord),
        ]);
        assert_eq!(chosen, Some((reg(3), Lookup::NoRecord)));
        assert_eq!(prefer(vec![]), None);
    }
}

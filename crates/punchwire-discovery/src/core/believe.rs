//! Which registry's answer to believe for each peer, and what the answers say of each
//! registry's health.

use std::collections::HashMap;
use std::net::SocketAddr;

use punchwire_wg::PublicKey;

use super::{Core, Moment, Reply};
use crate::lookup::Lookup;
use crate::prefer::prefer;

/// The answer believed for each peer, and the registry it came from (none when every
/// registry failed).
pub(super) type Believed = HashMap<PublicKey, (Option<SocketAddr>, Lookup)>;

impl Core {
    /// Keeps for each peer the answer to believe, and notes each registry's health: one
    /// that answered anything is reachable; one whose every lookup failed is not.
    pub(super) fn believe(
        &mut self,
        asked: &[SocketAddr],
        replies: Vec<Reply>,
        now: Moment,
        jitter: f64,
    ) -> (Believed, HashMap<PublicKey, Vec<SocketAddr>>) {
        let mut by_peer: HashMap<PublicKey, Vec<(SocketAddr, Lookup)>> = HashMap::new();
        let mut published: HashMap<(PublicKey, SocketAddr), Vec<SocketAddr>> = HashMap::new();
        for Reply {
            question,
            lookup,
            candidates,
        } in replies
        {
            by_peer
                .entry(question.peer)
                .or_default()
                .push((question.registry, lookup));
            if !candidates.is_empty() {
                published.insert((question.peer, question.registry), candidates);
            }
        }
        for &registry in asked {
            self.note_registry_health(registry, &by_peer, now, jitter);
        }
        let mut candidates = HashMap::new();
        let answers = by_peer
            .into_iter()
            .filter_map(|(key, mut answers)| {
                // Back into the user's order, so that ties go to the registry listed first.
                answers.sort_by_key(|(r, _)| asked.iter().position(|a| a == r));
                let (registry, lookup) = prefer(answers)?;
                // The candidates of the registry whose answer is believed, and no other's.
                if let Some(found) = published.remove(&(key, registry)) {
                    candidates.insert(key, found);
                }
                let registry = (!matches!(lookup, Lookup::Unreachable(_))).then_some(registry);
                Some((key, (registry, lookup)))
            })
            .collect();
        (answers, candidates)
    }

    fn note_registry_health(
        &mut self,
        registry: SocketAddr,
        by_peer: &HashMap<PublicKey, Vec<(SocketAddr, Lookup)>>,
        now: Moment,
        jitter: f64,
    ) {
        let mut lookups = by_peer
            .values()
            .flatten()
            .filter(|(r, _)| *r == registry)
            .map(|(_, l)| l)
            .peekable();
        if lookups.peek().is_none() {
            return;
        }
        let mut failure = None;
        let answered = lookups.any(|l| match l {
            Lookup::Unreachable(why) => {
                failure.get_or_insert_with(|| why.clone());
                false
            }
            _ => true,
        });
        if answered {
            self.registry_answered(registry, now.mono, None);
        } else if let Some(why) = failure {
            self.registry_failed(registry, &why, now.mono, jitter);
        }
    }
}

//! A registry in memory, for tests: answers come from a table that the test shapes, and
//! a registry can be switched off to prove that callers survive it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use punchwire_wg::PublicKey;

use crate::exchange::DnsError;
use crate::lookup::{AnswerSource, Lookup, PublishedEndpoint};

/// A cheaply cloneable handle; all clones share the same table.
#[derive(Clone, Default)]
pub struct MemorySource {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    records: BTreeMap<(SocketAddr, PublicKey), Lookup>,
    serials: BTreeMap<SocketAddr, u32>,
    down: BTreeSet<SocketAddr>,
    lookups: Vec<(SocketAddr, PublicKey)>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `addr` for `key` at `registry`, and moves its serial on.
    pub fn publish(&self, registry: SocketAddr, key: PublicKey, addr: SocketAddr) {
        self.answer(
            registry,
            key,
            Lookup::Found(PublishedEndpoint { key, addr }),
        );
    }

    /// Makes `registry` answer `lookup` for `key` (any answer, even a wrong one), and
    /// moves its serial on.
    pub fn answer(&self, registry: SocketAddr, key: PublicKey, lookup: Lookup) {
        let mut state = self.lock();
        state.records.insert((registry, key), lookup);
        *state.serials.entry(registry).or_default() += 1;
    }

    /// Makes `registry` time out until [`MemorySource::bring_up`].
    pub fn take_down(&self, registry: SocketAddr) {
        self.lock().down.insert(registry);
    }

    pub fn bring_up(&self, registry: SocketAddr) {
        self.lock().down.remove(&registry);
    }

    /// Every lookup asked so far, oldest first.
    pub fn lookups(&self) -> Vec<(SocketAddr, PublicKey)> {
        self.lock().lookups.clone()
    }

    fn unreachable(registry: SocketAddr) -> DnsError {
        DnsError::Timeout {
            server: registry,
            what: "memory registry".into(),
            after: Duration::ZERO,
        }
    }
}

impl AnswerSource for MemorySource {
    fn lookup(&self, registry: SocketAddr, key: PublicKey) -> impl Future<Output = Lookup> + Send {
        let mut state = self.lock();
        state.lookups.push((registry, key));
        let lookup = if state.down.contains(&registry) {
            Lookup::Unreachable(Self::unreachable(registry).to_string())
        } else {
            state
                .records
                .get(&(registry, key))
                .cloned()
                .unwrap_or(Lookup::NoRecord)
        };
        std::future::ready(lookup)
    }

    fn soa_serial(
        &self,
        registry: SocketAddr,
    ) -> impl Future<Output = Result<u32, DnsError>> + Send {
        let state = self.lock();
        let serial = if state.down.contains(&registry) {
            Err(Self::unreachable(registry))
        } else {
            Ok(state.serials.get(&registry).copied().unwrap_or(0))
        };
        std::future::ready(serial)
    }
}

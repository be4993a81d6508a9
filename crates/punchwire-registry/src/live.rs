//! The snapshot being served right now, and whether it is still fresh enough to serve.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::snapshot::Snapshot;
use crate::stats::Counters;
use crate::update::{CandidateStore, DEFAULT_CANDIDATE_LEASE};

/// Shared by the writers (the refresh task, and UPDATEs that change candidates) and every
/// query (readers, lock-free).
#[derive(Debug)]
pub(crate) struct Live {
    snapshot: ArcSwap<Snapshot>,
    /// The peers' candidates. Whoever builds the next snapshot holds it from reading the
    /// current one until the next is stored, so that no writer publishes over another.
    writer: Mutex<CandidateStore>,
    /// When the device was last read successfully, in milliseconds since `epoch`.
    last_read_ms: AtomicU64,
    epoch: Instant,
    stale_after: Duration,
    /// Why the refresh task stopped, once it has: from then on nothing reads the device,
    /// and the snapshot only ages.
    refresh_stopped: OnceLock<String>,
    pub counters: Counters,
}

impl Live {
    pub fn new(snapshot: Snapshot, stale_after: Duration) -> Self {
        let store = CandidateStore::new(snapshot.shared_zone(), DEFAULT_CANDIDATE_LEASE);
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(store),
            last_read_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            stale_after,
            refresh_stopped: OnceLock::new(),
            counters: Counters::default(),
        }
    }

    /// Registered candidates are served for `lease` after their last registration.
    pub fn with_candidate_lease(mut self, lease: Duration) -> Self {
        self.writer
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .set_lease(lease);
        self
    }

    /// The candidates, and with them the right to publish the next snapshot.
    pub fn writer(&self) -> MutexGuard<'_, CandidateStore> {
        // A writer that panicked left the store as it was between two whole updates.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves `snapshot` from now on; the caller holds [`writer`](Self::writer).
    pub fn publish(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The snapshot to answer from, and whether it is fresh enough to answer with. The
    /// age is checked here, per query, so that a stuck refresh task cannot keep a stale
    /// snapshot alive.
    pub fn current(&self) -> (Arc<Snapshot>, bool) {
        let snapshot = self.snapshot.load_full();
        (snapshot, self.is_fresh())
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn is_fresh(&self) -> bool {
        self.since_last_read() <= self.stale_after
    }

    pub fn since_last_read(&self) -> Duration {
        let last = Duration::from_millis(self.last_read_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Records a successful read of the device, with the snapshot it gave if it changed
    /// (built holding [`writer`](Self::writer)).
    pub fn read_ok(&self, changed: Option<Snapshot>) {
        if let Some(snapshot) = changed {
            self.publish(snapshot);
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_read_ms.store(now, Ordering::Release);
        Counters::bump(&self.counters.device_reads);
    }

    /// Records that the refresh task stopped, and why. Only the first reason is kept: the
    /// task stops once.
    pub fn note_refresh_stopped(&self, why: String) {
        let _ = self.refresh_stopped.set(why);
    }

    /// Why the refresh task stopped; `None` while it runs.
    pub fn why_refresh_stopped(&self) -> Option<&str> {
        self.refresh_stopped.get().map(String::as_str)
    }
}

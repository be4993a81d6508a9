//! Which registries to ask now: a registry that failed is left alone for a while that
//! grows with each failure (with jitter, so that many clients do not retry in step), and
//! is asked again, without a restart, once that while is over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The first pause after a failure; it doubles with each further failure.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest pause: a registry that comes back is used again within this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What a registry did, when it is news: the engine turns these into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryChange {
    Reachable,
    Unreachable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Unknown,
    Reachable,
    Unreachable,
}

#[derive(Debug, Clone)]
struct Registry {
    addr: SocketAddr,
    known: Known,
    failures: u32,
    retry_at: Option<Instant>,
}

/// The registries, in the order the user gave them, and how each has been doing.
#[derive(Debug, Clone)]
pub struct Registries {
    all: Vec<Registry>,
}

impl Registries {
    pub fn new(addrs: &[SocketAddr]) -> Self {
        Self {
            all: addrs
                .iter()
                .map(|&addr| Registry {
                    addr,
                    known: Known::Unknown,
                    failures: 0,
                    retry_at: None,
                })
                .collect(),
        }
    }

    /// Registries not backing off at `now`, in the user's order.
    pub fn available(&self, now: Instant) -> Vec<SocketAddr> {
        self.all
            .iter()
            .filter(|r| r.retry_at.is_none_or(|t| t <= now))
            .map(|r| r.addr)
            .collect()
    }

    /// The earliest moment a backing-off registry may be asked again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.all.iter().filter_map(|r| r.retry_at).min()
    }

    /// Records an answer from `addr`; says so if that is news.
    pub fn answered(&mut self, addr: SocketAddr) -> Option<RegistryChange> {
        let r = self.get(addr)?;
        r.failures = 0;
        r.retry_at = None;
        let news = r.known != Known::Reachable;
        r.known = Known::Reachable;
        news.then_some(RegistryChange::Reachable)
    }

    /// Records a failure of `addr` at `now`; `jitter` in `[0, 1)` spreads the retry over
    /// the second half of the pause. Says so if that is news.
    pub fn failed(
        &mut self,
        addr: SocketAddr,
        reason: &str,
        now: Instant,
        jitter: f64,
    ) -> Option<RegistryChange> {
        let r = self.get(addr)?;
        r.failures = r.failures.saturating_add(1);
        r.retry_at = Some(now + backoff(r.failures, jitter));
        let news = r.known != Known::Unreachable;
        r.known = Known::Unreachable;
        news.then(|| RegistryChange::Unreachable(reason.to_owned()))
    }

    fn get(&mut self, addr: SocketAddr) -> Option<&mut Registry> {
        self.all.iter_mut().find(|r| r.addr == addr)
    }
}

/// The pause after the `failures`-th failure in a row: half fixed, half jitter.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let full = doubled.min(BACKOFF_MAX);
    full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 99, 0, n], 53))
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_it() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.99), Duration::from_secs(4).mul_f64(0.995));
        assert_eq!(backoff(100, 0.0), BACKOFF_MAX / 2);
        assert!(backoff(100, 0.999) < BACKOFF_MAX);
    }

    #[test]
    fn a_failed_registry_is_skipped_until_its_pause_is_over() {
        let mut regs = Registries::new(&[addr(1), addr(2)]);
        let t0 = Instant::now();
        assert_eq!(regs.available(t0), vec![addr(1), addr(2)]);
        assert_eq!(
            regs.failed(addr(1), "timed out", t0, 0.0),
            Some(RegistryChange::Unreachable("timed out".into()))
        );
        assert_eq!(regs.available(t0), vec![addr(2)]);
        assert_eq!(regs.next_retry(), Some(t0 + Duration::from_millis(500)));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(regs.available(t1), vec![addr(1), addr(2)]);
        // Only the first failure in a row is news; the pause grows.
        assert_eq!(regs.failed(addr(1), "timed out", t1, 0.0), None);
        assert_eq!(regs.next_retry(), Some(t1 + Duration::from_secs(1)));
        assert_eq!(regs.answered(addr(1)), Some(RegistryChange::Reachable));
        assert_eq!(regs.answered(addr(1)), None);
        assert_eq!(regs.available(t1), vec![addr(1), addr(2)]);
        assert_eq!(regs.next_retry(), None);
    }
}

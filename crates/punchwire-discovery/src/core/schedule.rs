//! When to do what: a full pass when a serial moved, the interval is over or the
//! network changed, a health check when some peer's health changes by itself, and
//! otherwise sleep until the next poll.

use std::time::{Duration, Instant, SystemTime};

use super::{Core, Moment};
use crate::events::Event;

/// How far the wall clock may run ahead of the monotonic one between two polls before
/// that counts as waking from sleep: the monotonic clock stops while the machine
/// sleeps, the wall clock does not.
pub const ASLEEP_AFTER: Duration = Duration::from_secs(5);

/// What is due after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Pass,
    HealthCheck,
    Nothing,
}

impl Core {
    /// What is due at `now`, the serials having `moved` or not. A poll that finds the
    /// machine just woke from sleep counts as a network change.
    pub fn due(&mut self, moved: bool, now: Moment) -> Due {
        if let Some(slept) = self.slept_since_last_poll(now) {
            self.network_changed(format!(
                "woke from sleep, or the clock was set, {} s ahead",
                slept.as_secs()
            ));
        }
        self.last_poll = Some(now);
        if moved || self.next_full.is_none_or(|at| now.mono >= at) {
            Due::Pass
        } else if self.next_check.is_some_and(|at| now.wall >= at) {
            Due::HealthCheck
        } else {
            Due::Nothing
        }
    }

    /// When to poll again after `now`: at the next poll, or sooner if a pass is due.
    pub fn wake_at(&self, now: Instant) -> Instant {
        let poll = now + self.config.poll;
        self.next_full.map_or(poll, |at| at.min(poll))
    }

    /// This machine's network changed (`what`): a pass now, since every mapping may have
    /// moved, and the serials forgotten so that the next poll's answers count.
    pub fn network_changed(&mut self, what: String) {
        self.next_full = None;
        self.serials.clear();
        self.events.push(Event::NetworkChanged {
            iface: self.config.iface.clone(),
            what,
        });
    }

    fn slept_since_last_poll(&self, now: Moment) -> Option<Duration> {
        let last = self.last_poll?;
        let wall = now.wall.duration_since(last.wall).ok()?;
        let mono = now.mono.saturating_duration_since(last.mono);
        wall.checked_sub(mono).filter(|gap| *gap >= ASLEEP_AFTER)
    }

    /// The device could not be read at `now` for a pass: try again at the next poll
    /// rather than spin on a device that is not there, and forget the serials so that
    /// the first pass after it is back is not skipped.
    pub fn device_unreadable(&mut self, now: Instant) {
        self.serials.clear();
        self.next_full = Some(now + self.config.poll);
    }

    /// The device could not be read for a health check: the next pass says so, once;
    /// until then there is nothing to check.
    pub fn health_unreadable(&mut self) {
        self.next_check = None;
    }

    /// When to check health next, if anything will change by itself.
    pub fn next_check(&self) -> Option<SystemTime> {
        self.next_check
    }
}

//! When to do what: a full pass when a serial moved or the interval is over, a health
//! check when some peer's health changes by itself, and otherwise sleep until the next
//! poll.

use std::time::{Instant, SystemTime};

use super::Core;

/// What is due after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Pass,
    HealthCheck,
    Nothing,
}

impl Core {
    /// What is due at `now`, the serials having `moved` or not.
    pub fn due(&self, moved: bool, now: Instant, wall: SystemTime) -> Due {
        if moved || self.next_full.is_none_or(|at| now >= at) {
            Due::Pass
        } else if self.next_check.is_some_and(|at| wall >= at) {
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

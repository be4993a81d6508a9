//! Log lines for events that anyone can cause (a dropped TCP response, a connection over
//! the cap, a failing accept): at most one line per interval, saying how many there were,
//! so that a flood of events cannot become a flood of log.
//!
//! Timer-free: callers pass `now`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a summarised event may be logged.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Counts one kind of event and says when the next line about it is due.
#[derive(Debug)]
pub(crate) struct Summary {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_line: Option<Instant>,
    /// Events since the last line, this one included once counted.
    unsaid: u64,
}

impl Summary {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// Counts one event at `now`. `Some(n)`: log one line now, for the `n` events since the
    /// last line (this one included); `None`: stay quiet, it is counted for the next.
    pub fn note(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.unsaid += 1;
        let due = state
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            return None;
        }
        state.last_line = Some(now);
        Some(std::mem::take(&mut state.unsaid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_said_then_one_line_per_interval_counts_the_rest() {
        let summary = Summary::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(summary.note(start), Some(1));
        for s in 1..60 {
            assert_eq!(summary.note(start + Duration::from_secs(s)), None);
        }
        // 59 quiet ones, and this one.
        assert_eq!(summary.note(start + Duration::from_secs(60)), Some(60));
        assert_eq!(summary.note(start + Duration::from_secs(61)), None);
    }
}

//! The SOA poll: each registry's zone serial changes whenever any record does, so a
//! moved serial means a pass is due now rather than at the end of the interval.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Core, Moment};

/// What a registry said when asked for its serial: the round trip and the serial, or
/// why it did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialReply {
    pub registry: SocketAddr,
    pub answer: Result<(Duration, u32), String>,
}

impl Core {
    /// The registries to ask for their serial at `now`: those not backing off.
    pub fn serial_questions(&self, now: Instant) -> Vec<SocketAddr> {
        self.registries.available(now)
    }

    /// Takes in the serials received by `now`; true when one differs from the last one
    /// seen (or is the first), or a registry came back. `jitter` in `[0, 1)` spreads the
    /// retry of a registry that failed.
    pub fn serials_answered(
        &mut self,
        replies: Vec<SerialReply>,
        now: Moment,
        jitter: f64,
    ) -> bool {
        let mut moved = false;
        for SerialReply { registry, answer } in replies {
            match answer {
                Ok((rtt, serial)) => {
                    moved |= self.serials.insert(registry, serial) != Some(serial);
                    self.registry_answered(registry, now.mono, Some((rtt, serial)));
                }
                Err(why) => {
                    // Forgotten, so that the pass after it comes back is not skipped.
                    self.serials.remove(&registry);
                    self.registry_failed(registry, &why, now.mono, jitter);
                }
            }
        }
        moved
    }
}

//! The background task that reads the device and swaps in a new snapshot when something
//! served changed. Queries never wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use punchwire_wg::Backend;
use tracing::{debug, error, info, warn};

use crate::live::Live;

/// The first serial a registry serves: the current Unix time, so that a restarted
/// registry (which changes its serial at most once per refresh) still moves forward.
pub fn unix_serial() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Serial arithmetic (RFC 1982) wraps; so does this, in 2106.
    secs as u32
}

/// Reads `iface` every `every` until the task is aborted.
pub(crate) async fn run(live: Arc<Live>, backend: Backend, iface: String, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The registry read the device once before starting this task.
    ticker.tick().await;
    let mut failing_since: Option<Instant> = None;
    let mut reported_stale = false;
    loop {
        ticker.tick().await;
        match backend.device(&iface).await {
            Ok(device) => {
                let current = live.snapshot();
                let next = current.next(&device, unix_serial());
                if let Some(next) = &next {
                    if next.serial() != current.serial() {
                        debug!(
                            serial = next.serial(),
                            peers = next.listing().len(),
                            "served records changed"
                        );
                    }
                }
                live.read_ok(next);
                if let Some(since) = failing_since.take() {
                    info!(
                        device = %iface,
                        after = ?since.elapsed(),
                        "the device can be read again; serving fresh records"
                    );
                    reported_stale = false;
                }
            }
            Err(err) => {
                if failing_since.is_none() {
                    warn!(
                        device = %iface,
                        error = %err,
                        "cannot read the device; serving the last snapshot for up to {:?}",
                        live.stale_after()
                    );
                    failing_since = Some(Instant::now());
                } else {
                    debug!(device = %iface, error = %err, "still cannot read the device");
                }
                if !reported_stale && !live.is_fresh() {
                    error!(
                        device = %iface,
                        error = %err,
                        "the device has not been readable for {:?}: answering SERVFAIL until it is",
                        live.since_last_read()
                    );
                    reported_stale = true;
                }
            }
        }
    }
}

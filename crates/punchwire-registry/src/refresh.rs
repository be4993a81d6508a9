//! The background task that reads the device and swaps in a new snapshot when something
//! served changed. Queries never wait for it; if it ever stops, it is said at once.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use punchwire_wg::Backend;
use tokio::task::{AbortHandle, JoinError, JoinHandle};
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

/// At most this share of the time goes to reading the device (1/20 = 5%). Reading
/// tens of thousands of peers costs the WireGuard daemon and this process real CPU, on
/// the same cores that answer queries; a big registry reads less often rather than
/// answering slower.
const READ_SHARE: u32 = 20;

/// The pause between reads: `every`, stretched for a device that is slow to read, but
/// never so long that the snapshot would count as stale (half of stale_after leaves room
/// for one slow or failed read).
pub(crate) fn pause_after(read_took: Duration, every: Duration, stale_after: Duration) -> Duration {
    let ceiling = (stale_after / 2).max(every);
    every.max(read_took * READ_SHARE).min(ceiling)
}

/// The running refresh, watched. Without the watch a panic in it would go unseen: the
/// last snapshot would be served as usual until the stale bound, then SERVFAIL with
/// nothing to say why.
pub(crate) struct Refresh {
    reader: AbortHandle,
    watcher: JoinHandle<()>,
}

impl Refresh {
    /// Starts reading `iface` (see [`run`]) and watching that it goes on.
    pub fn start(
        live: Arc<Live>,
        backend: Backend,
        iface: String,
        every: Duration,
        first_read: Duration,
    ) -> Self {
        let reader = tokio::spawn(run(
            Arc::clone(&live),
            backend,
            iface.clone(),
            every,
            first_read,
        ));
        Self::watch(live, iface, reader)
    }

    /// Watches `reader`, the task reading `iface`: when it stops other than by
    /// [`stop`](Self::stop), `live` is told why and it is logged.
    pub fn watch(live: Arc<Live>, iface: String, reader: JoinHandle<()>) -> Self {
        Self {
            reader: reader.abort_handle(),
            watcher: tokio::spawn(report_stop(live, iface, reader)),
        }
    }

    /// Stops reading the device; that is not reported as a failure.
    pub fn stop(&self) {
        self.watcher.abort();
        self.reader.abort();
    }
}

/// Waits for the task reading `iface` to end, which it does only when it panics (or
/// is stopped, which is not worth a word).
async fn report_stop(live: Arc<Live>, iface: String, reader: JoinHandle<()>) {
    let why = match reader.await {
        Ok(()) => "it returned".to_owned(),
        Err(stopped) if stopped.is_cancelled() => return,
        Err(stopped) => panic_message(stopped),
    };
    error!(
        device = %iface,
        why = %why,
        "the task reading the device stopped: the last snapshot is served until it is {:?} old, then every query gets SERVFAIL",
        live.stale_after()
    );
    live.note_refresh_stopped(why);
}

/// What a panicked task said, as its panic message.
fn panic_message(stopped: JoinError) -> String {
    let Ok(payload) = stopped.try_into_panic() else {
        return "it was cancelled".to_owned();
    };
    let said = payload_text(payload.as_ref()).unwrap_or("a panic without a message");
    format!("it panicked: {said}")
}

/// The text of a panic: `panic!` gives a `&str` or a `String`.
fn payload_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Reads `iface` every `every` (see [`pause_after`]) until the task is aborted.
/// `first_read` is how long the registry's own first read took, before this task.
async fn run(
    live: Arc<Live>,
    backend: Backend,
    iface: String,
    every: Duration,
    first_read: Duration,
) {
    let mut pause = pause_after(first_read, every, live.stale_after());
    let mut said_slow = false;
    let mut failing_since: Option<Instant> = None;
    let mut reported_stale = false;
    loop {
        tokio::time::sleep(pause).await;
        let started = Instant::now();
        let read = backend.device(&iface).await;
        match read {
            Ok(device) => {
                // Held until the next snapshot is stored: an UPDATE publishes too.
                let mut candidates = live.writer();
                let current = live.snapshot();
                let floor = unix_serial();
                let mut next = current.next(&device, floor);
                let present = device.peers.iter().map(|p| &p.public_key);
                if candidates.prune(Instant::now(), present) {
                    let base = next.as_ref().unwrap_or(&current);
                    next = Some(base.with_candidates(candidates.served(), floor));
                }
                let took = started.elapsed();
                let stretched = pause_after(took, every, live.stale_after());
                if stretched > every && !said_slow {
                    info!(
                        device = %iface,
                        peers = device.peers.len(),
                        read = ?took,
                        "reading the device is slow: reading it every {stretched:?} instead of every {every:?}"
                    );
                }
                said_slow = stretched > every;
                pause = stretched;
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
                drop(candidates);
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
                // A device that is gone is looked for at the usual pace.
                pause = every;
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::{Snapshot, SnapshotConfig};
    use crate::zone::ZoneNames;
    use punchwire_control::zone::Zone;
    use punchwire_wg::Device;

    fn live() -> Arc<Live> {
        let config = Arc::new(SnapshotConfig {
            zone: Arc::new(ZoneNames::new(&Zone::parse("example.com.").unwrap())),
            self_record: None,
            allow: Vec::new(),
            nameserver_ips: Vec::new(),
        });
        let device = Device {
            name: "wg0".into(),
            public_key: None,
            listen_port: None,
            fwmark: None,
            peers: Vec::new(),
        };
        Arc::new(Live::new(
            Snapshot::first(config, &device, 1),
            Duration::from_secs(60),
        ))
    }

    #[tokio::test]
    async fn a_refresh_that_panics_is_reported_at_once_with_its_message() {
        let live = live();
        let reader = tokio::spawn(async {
            tokio::task::yield_now().await;
            panic!("the device read went wrong");
        });
        let refresh = Refresh::watch(Arc::clone(&live), "wg0".into(), reader);
        let deadline = Instant::now() + Duration::from_secs(10);
        while live.why_refresh_stopped().is_none() {
            assert!(Instant::now() < deadline, "the stop was never reported");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            live.why_refresh_stopped(),
            Some("it panicked: the device read went wrong")
        );
        refresh.stop();
    }

    #[tokio::test]
    async fn a_refresh_stopped_on_purpose_is_not_reported() {
        let live = live();
        let reader = tokio::spawn(std::future::pending::<()>());
        let refresh = Refresh::watch(Arc::clone(&live), "wg0".into(), reader);
        // The reader alone, as a runtime shutting down would: the watcher sees it end.
        refresh.reader.abort();
        refresh.watcher.await.expect("the watcher ends by itself");
        assert_eq!(live.why_refresh_stopped(), None);
    }

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_quick_read_keeps_the_configured_pace() {
        assert_eq!(
            pause_after(Duration::from_millis(2), SECOND, MINUTE),
            SECOND
        );
        assert_eq!(
            pause_after(Duration::from_millis(50), SECOND, MINUTE),
            SECOND
        );
    }

    #[test]
    fn a_slow_read_is_done_less_often_but_never_goes_stale() {
        // 200 ms to read (tens of thousands of peers): at most 5% of the time.
        assert_eq!(
            pause_after(Duration::from_millis(200), SECOND, MINUTE),
            4 * SECOND
        );
        // However slow, a read happens well within stale_after.
        assert_eq!(pause_after(10 * SECOND, SECOND, MINUTE), 30 * SECOND);
        // A configured pace longer than that ceiling is still honoured.
        assert_eq!(pause_after(10 * SECOND, MINUTE, MINUTE), MINUTE);
    }
}

//! Waiting on a condition with a deadline, never on a fixed sleep.

use std::thread;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds or `timeout` passes; `what` names the condition in
/// the error. Returns how long it took.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) -> Result<Duration> {
    wait_until_ok(timeout, what, || Ok(condition()))
}

/// Like [`wait_until`], for a check that can fail: a failure counts as "not yet", and
/// the last one is quoted in the timeout error; a failure that waiting cannot mend (a
/// daemon that exited) ends the wait at once.
pub fn wait_until_ok(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    wait_for(timeout, what, || condition().map(|ok| ok.then_some(()))).map(|((), took)| took)
}

/// Polls `probe` until it yields a value or `timeout` passes; returns the value and how
/// long it took. Errors count as "not yet", except final ones (see [`LabError::is_final`]).
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<(T, Duration)> {
    let started = Instant::now();
    let mut last_error = None;
    loop {
        match probe() {
            Ok(Some(value)) => return Ok((value, started.elapsed())),
            Ok(None) => {}
            Err(e) if e.is_final() => return Err(e),
            Err(e) => last_error = Some(e.to_string()),
        }
        if started.elapsed() >= timeout {
            return Err(LabError::Timeout {
                what: what.to_owned(),
                waited: timeout,
                last_error,
            });
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut n = 0;
        wait_until(Duration::from_secs(5), "third poll", || {
            n += 1;
            n == 3
        })
        .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_timeout_names_the_condition_and_the_last_error() {
        let err = wait_until_ok(Duration::from_millis(50), "the moon", || {
            Err(LabError::Usage("still night".into()))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("the moon") && msg.contains("still night"),
            "{msg}"
        );
    }

    #[test]
    fn a_daemon_that_exited_ends_the_wait_at_once() {
        let started = Instant::now();
        let err = wait_until_ok(Duration::from_secs(30), "the registry answers", || {
            Err(LabError::DaemonExited {
                daemon: "punchwire registry".into(),
                place: "registry".into(),
                status: "exit status: 1".into(),
                log: "cannot listen on 10.99.0.1:53".into(),
            })
        })
        .unwrap_err();
        assert!(matches!(err, LabError::DaemonExited { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

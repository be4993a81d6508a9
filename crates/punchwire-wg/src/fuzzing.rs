//! Entry points for the fuzz targets in `fuzz/` (outside the workspace), which can only
//! reach what this crate makes public. Not an API: nothing else may call these.

use std::time::{Duration, SystemTime};

use crate::device::Device;

/// Reads `answer`, a daemon's whole answer to `get=1`, as the UAPI backend does: up to
/// the blank line, its final `errno=` line taken off. The moment is fixed (boringtun's
/// handshake ages are turned into times from it), so that a crash replays.
pub fn parse_uapi_get(answer: &str) -> Result<Device, String> {
    let mut lines: Vec<String> = answer
        .lines()
        .map(str::to_owned)
        .take_while(|line| !line.is_empty())
        .collect();
    if lines.last().is_some_and(|last| last.starts_with("errno=")) {
        lines.pop();
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    crate::backend::read_get_answer(&lines, now)
}

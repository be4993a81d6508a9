//! The process's limit on open files: raised to the hard limit at start, and the share of
//! it that TCP clients may hold.
//!
//! A service started by systemd gets a soft limit of 1024 by default. The registry needs
//! descriptors of its own all the time (each read of the device opens a socket), so TCP
//! clients, whose number strangers would like to choose, never get more than half.

use std::io;

/// The open-file limit before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub before: u64,
    pub now: u64,
}

/// Raises this process's soft limit on open files to its hard limit (or to the kernel's
/// `fs.nr_open` when the hard limit is unlimited, which is as high as it can go). Call it
/// early, before anything opens many files.
#[cfg(unix)]
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    let ceiling = if hard == RLIM_INFINITY {
        kernel_max().unwrap_or(soft)
    } else {
        hard
    };
    if ceiling <= soft {
        return Ok(OpenFileLimit {
            before: soft,
            now: soft,
        });
    }
    setrlimit(Resource::RLIMIT_NOFILE, ceiling, hard).map_err(io::Error::from)?;
    Ok(OpenFileLimit {
        before: soft,
        now: ceiling,
    })
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no open-file limit to raise on this system",
    ))
}

/// The soft limit on open files now, if this system has one.
#[cfg(unix)]
pub(crate) fn soft_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    (soft != RLIM_INFINITY).then_some(soft)
}

#[cfg(not(unix))]
pub(crate) fn soft_limit() -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
fn kernel_max() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(all(unix, not(target_os = "linux")))]
fn kernel_max() -> Option<u64> {
    None
}

/// How many TCP connections may be open at once: what was asked for, but never more than
/// half the open-file limit, so that the other half is left to the registry itself (the
/// device reads, its UDP sockets and listeners) and, in `punchwire service`, to discovery
/// and the control socket. At least one, so TCP still works under a tiny limit.
pub(crate) fn tcp_cap(wanted: usize, limit: Option<u64>) -> usize {
    let half = limit.map_or(usize::MAX, |l| usize::try_from(l / 2).unwrap_or(usize::MAX));
    wanted.min(half).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_clients_get_at_most_half_the_open_files() {
        assert_eq!(tcp_cap(512, Some(1024)), 512);
        assert_eq!(tcp_cap(512, Some(600)), 300);
        assert_eq!(tcp_cap(512, Some(65536)), 512);
        assert_eq!(tcp_cap(512, None), 512);
        assert_eq!(tcp_cap(512, Some(1)), 1);
    }

    #[cfg(unix)]
    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let raised = raise_open_file_limit().unwrap();
        assert!(raised.now >= raised.before);
        assert_eq!(soft_limit(), Some(raised.now));
        // Twice is the same as once.
        assert_eq!(raise_open_file_limit().unwrap().now, raised.now);
    }
}

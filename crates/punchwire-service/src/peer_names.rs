//! Human names for peers, read from the comments of the interface's wg-quick file. The
//! kernel and UAPI know only keys; people name their peers in comments, in one of the
//! forms the common WireGuard front ends write:
//!
//! ```text
//! # laptop                  <- a comment line directly above [Peer]
//! [Peer]
//! # Name = laptop           <- or inside the section (wg-gen-web, wireguard-ui, ...)
//! PublicKey = ...
//! ```
//!
//! A name inside the section wins over one above it. Names are for display only: a
//! file that cannot be read just means keys are shown instead.

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use punchwire_wg::PublicKey;

use crate::config::MAX_NAMES_FILE;

/// Where wg-quick keeps `<iface>.conf`.
pub const WG_QUICK_DIR: &str = "/etc/wireguard";

/// The file an interface's names come from when the configuration does not say.
pub fn default_path(iface: &str) -> PathBuf {
    Path::new(WG_QUICK_DIR).join(format!("{iface}.conf"))
}

/// Peer names found in a wg-quick file's text.
pub fn parse(text: &str) -> Names {
    let mut names = HashMap::new();
    let mut above: Option<String> = None;
    let mut in_peer = false;
    let mut section_name: Option<String> = None;
    let mut section_key: Option<PublicKey> = None;
    let mut finish = |key: Option<PublicKey>, name: Option<String>| {
        if let (Some(key), Some(name)) = (key, name) {
            names.insert(key, name);
        }
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            if in_peer {
                finish(section_key.take(), section_name.take());
            }
            in_peer = line.eq_ignore_ascii_case("[peer]");
            section_name = if in_peer { above.take() } else { None };
            above = None;
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start_matches('#').trim();
            match named(comment) {
                Some(name) if in_peer => section_name = Some(name),
                Some(name) => above = Some(name),
                // A plain comment names the next [Peer] only from the line just above it.
                None if !in_peer && !comment.is_empty() => above = Some(comment.to_owned()),
                None => {}
            }
            continue;
        }
        above = None;
        if in_peer {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim().eq_ignore_ascii_case("publickey") {
                    section_key = value.trim().parse().ok();
                }
            }
        }
    }
    if in_peer {
        finish(section_key, section_name);
    }
    names
}

/// `Name = x` or `name: x`, the forms front ends write.
fn named(comment: &str) -> Option<String> {
    let (key, value) = comment.split_once(['=', ':'])?;
    let value = value.trim();
    (key.trim().eq_ignore_ascii_case("name") && !value.is_empty()).then(|| value.to_owned())
}

type Names = HashMap<PublicKey, String>;

/// Names per file, re-read only when the file changes: status is asked often.
#[derive(Default)]
pub struct PeerNames {
    /// Per file: its modification time when read, and the names it gave.
    cache: Mutex<HashMap<PathBuf, (Option<SystemTime>, Names)>>,
}

/// Why a names file was not read.
#[derive(Debug, thiserror::Error)]
pub enum NamesFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a regular file (a FIFO, a device or a directory cannot hold peer names)", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is larger than a wg-quick file can be (over {MAX_NAMES_FILE} bytes)", path.display())]
    TooLarge { path: PathBuf },
}

impl PeerNames {
    /// The names `path` gives; none when it cannot be read, or is not a regular file
    /// of a wg-quick file's size (said once in the log, each time the file changes).
    pub fn get(&self, path: &Path) -> Names {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if let Some((seen, names)) = self.cached().get(path) {
            if *seen == modified {
                return names.clone();
            }
        }
        // Read without the cache's lock: two status requests may both read a changed
        // file, but neither waits on the other's disk.
        let names = match read_names_file(path) {
            Ok(text) => parse(&text),
            Err(NamesFileError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Names::new()
            }
            Err(e) => {
                tracing::warn!("peer names: {e}; peers are shown by key");
                Names::new()
            }
        };
        self.cached()
            .insert(path.to_owned(), (modified, names.clone()));
        names
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Option<SystemTime>, Names)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads `path` if it is a regular file of at most [`MAX_NAMES_FILE`] bytes. Opened
/// without blocking, so that a FIFO put in its place cannot stall the reader, and
/// checked on the open file, so that what is checked is what is read.
pub fn read_names_file(path: &Path) -> Result<String, NamesFileError> {
    let io = |source| NamesFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = open_without_blocking(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(NamesFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mut text = String::new();
    // One byte more than allowed tells a file that grew after the check.
    file.take(MAX_NAMES_FILE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_NAMES_FILE {
        return Err(NamesFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(text)
}

/// Opens `path` for reading; on Unix with O_NONBLOCK, so that a FIFO does not wait for
/// a writer. Windows keeps its pipes out of the file system (`\\.\pipe\`), and
/// opening one as a client does not wait.
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "mvplwow3agnGM8G78+BiJ3tmlPf9gDtbJ2NdxqV44D8=";
    const BOB: &str = "EGy6fmGRUDPeb6/MuTDpOn5S4qkZ3uT4uiGVkqNo8Hw=";
    const CAROL: &str = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";

    fn key(b64: &str) -> PublicKey {
        b64.parse().unwrap()
    }

    #[test]
    fn names_come_from_the_forms_front_ends_write() {
        let text = format!(
            "[Interface]\n# this machine\nPrivateKey = x\nListenPort = 51820\n\n\
             # alice's laptop\n[Peer]\nPublicKey = {ALICE}\nAllowedIPs = 10.99.0.2/32\n\n\
             [Peer]\n# Name = bob\nPublicKey = {BOB}\n\n\
             ### Client carol\n[Peer]\n#name: carol-phone\nPublicKey = {CAROL}\n"
        );
        let names = parse(&text);
        assert_eq!(
            names.get(&key(ALICE)).map(String::as_str),
            Some("alice's laptop")
        );
        assert_eq!(names.get(&key(BOB)).map(String::as_str), Some("bob"));
        assert_eq!(
            names.get(&key(CAROL)).map(String::as_str),
            Some("carol-phone"),
            "a Name inside the section wins over the comment above"
        );
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn a_comment_not_directly_above_a_peer_names_nothing() {
        let text = format!(
            "# the office network\n[Interface]\nPrivateKey = x\n\n\
             # old note\nListenPort = 1\n[Peer]\nPublicKey = {ALICE}\n\n\
             [Peer]\nPublicKey = {BOB}\n# bob, after the key\n"
        );
        assert!(parse(&text).is_empty(), "{:?}", parse(&text));
    }

    // FIFOs are Unix's.
    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_of_bounded_size_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("wg0.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // A FIFO with no writer would block a plain open forever.
        let err = read_names_file(&fifo).unwrap_err();
        assert!(matches!(err, NamesFileError::NotAFile { .. }), "{err}");
        assert!(PeerNames::default().get(&fifo).is_empty());

        let err = read_names_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let huge = dir.path().join("huge.conf");
        let mut text = format!("[Peer]\n# Name = far\nPublicKey = {ALICE}\n");
        text.push_str(&"#\n".repeat(MAX_NAMES_FILE as usize / 2));
        std::fs::write(&huge, text).unwrap();
        let err = read_names_file(&huge).unwrap_err();
        assert!(
            err.to_string().contains("larger than a wg-quick file"),
            "{err}"
        );
        assert!(PeerNames::default().get(&huge).is_empty());
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_missing_one_names_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wg0.conf");
        let names = PeerNames::default();
        assert!(names.get(&path).is_empty());
        std::fs::write(
            &path,
            format!("[Peer]\n# Name = first\nPublicKey = {ALICE}\n"),
        )
        .unwrap();
        assert_eq!(names.get(&path)[&key(ALICE)], "first");
        // A new modification time, as an editor's save gives.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(
            &path,
            format!("[Peer]\n# Name = second\nPublicKey = {ALICE}\n"),
        )
        .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(names.get(&path)[&key(ALICE)], "second");
    }
}

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
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use punchwire_wg::PublicKey;

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

impl PeerNames {
    /// The names `path` gives; none when it cannot be read.
    pub fn get(&self, path: &Path) -> Names {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, names)) = cache.get(path) {
            if *seen == modified {
                return names.clone();
            }
        }
        let names = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!("peer names: cannot read {}: {e}", path.display());
                }
                HashMap::new()
            }
        };
        cache.insert(path.to_owned(), (modified, names.clone()));
        names
    }
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

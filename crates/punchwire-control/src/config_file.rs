//! Writing the configuration file for `set-config` (and the tray's own settings): all or
//! nothing, so that a crash or a full disk mid-write leaves the old file, never half of
//! a new one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the file as it was before the first `set-config` is kept. Rewriting from the
/// parsed configuration drops the user's comments; this keeps them recoverable.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Replaces `path` with `text`, keeping the file as it was at [`backup_path`] the first
/// time. Later saves leave that backup alone: the first one is the file a person wrote,
/// comments and all, and every later one would only be a file we wrote ourselves.
pub fn replace(path: &Path, text: &str) -> io::Result<()> {
    let backup = backup_path(path);
    if path.exists() && !backup.exists() {
        fs::copy(path, backup)?;
    }
    write_atomically(path, text.as_bytes())
}

/// What a configuration file's bytes are, in short: `get-config` hands it out and
/// `set-config` must bring it back unchanged, so that a save based on an older read (by
/// another client, or before a hand edit) is refused instead of undoing that change.
/// FNV-1a, 64 bits: the bytes need telling apart, not protecting.
pub fn revision(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Writes `path` whole or not at all: a temporary file beside it, flushed to disk,
/// renamed over it. The new file keeps the old one's permissions (it may be readable by
/// a group).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let old_permissions = fs::metadata(path).ok().map(|m| m.permissions());
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".new-{}", std::process::id()));
    let temp = dir.join(temp_name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        if let Some(permissions) = &old_permissions {
            file.set_permissions(permissions.clone())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// The rename is durable only once the directory is.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; its renames are journaled by NTFS.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_file_is_replaced_whole_and_the_old_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "# mine\nold = 1\n").unwrap();
        // The file's mode is kept (Unix; Windows files have no mode).
        #[cfg(unix)]
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

        replace(&path, "new = 2\n").unwrap();

        assert_eq!(fs::read_to_string(&path).unwrap(), "new = 2\n");
        #[cfg(unix)]
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            fs::read_to_string(backup_path(&path)).unwrap(),
            "# mine\nold = 1\n"
        );
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "no temporary file is left: {left:?}");
    }

    #[test]
    fn the_hand_written_file_stays_in_the_backup_through_later_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "# mine, with a comment\nold = 1\n").unwrap();
        replace(&path, "second = 2\n").unwrap();
        replace(&path, "third = 3\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "third = 3\n");
        assert_eq!(
            fs::read_to_string(backup_path(&path)).unwrap(),
            "# mine, with a comment\nold = 1\n"
        );
    }

    #[test]
    fn a_revision_tells_different_bytes_apart_and_is_the_same_for_the_same() {
        assert_eq!(revision(b"a = 1\n"), revision(b"a = 1\n"));
        assert_ne!(revision(b"a = 1\n"), revision(b"a = 2\n"));
        assert_eq!(revision(b""), "cbf29ce484222325");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: nothing can replace it.
        let path = dir.path().join("config.toml");
        fs::create_dir(&path).unwrap();
        assert!(replace(&path, "new = 2\n").is_err());
        assert!(path.is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! Which adapters WireGuard for Windows owns: its tunnels' configuration files.

use std::path::{Path, PathBuf};

/// Where WireGuard for Windows keeps its tunnels: `%ProgramFiles%\WireGuard\Data\
/// Configurations\<tunnel>.conf.dpapi` (or `.conf`), one adapter per tunnel, named alike.
pub(super) fn official_dir() -> PathBuf {
    let program_files =
        std::env::var_os("ProgramFiles").unwrap_or_else(|| r"C:\Program Files".into());
    Path::new(&program_files).join(r"WireGuard\Data\Configurations")
}

/// Tunnel names from the configuration files in `dir`; none when it cannot be read.
pub(super) fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let name = file
                .strip_suffix(".conf.dpapi")
                .or_else(|| file.strip_suffix(".conf"))?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnels_are_named_by_their_configuration_files() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["office.conf.dpapi", "home.conf", "notes.txt", ".conf"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let mut found = names(dir.path());
        found.sort();
        assert_eq!(found, ["home", "office"]);
        assert!(names(&dir.path().join("missing")).is_empty());
    }
}

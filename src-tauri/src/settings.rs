//! The app's own preferences (not the service's): a small JSON file in the app's config
//! directory, e.g. ~/.config/org.punchwire.tray/settings.json.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    pub notifications: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            notifications: true,
        }
    }
}

/// The settings in memory and where they are kept.
pub struct SettingsStore {
    path: PathBuf,
    notifications: AtomicBool,
}

impl SettingsStore {
    /// Reads `path`; a missing file means the defaults, a broken one is reported and the
    /// defaults used (a preference file must never keep the tray from starting).
    pub fn open(path: PathBuf) -> Self {
        let settings = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; using the default settings", path.display());
                AppSettings::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AppSettings::default(),
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; using the default settings",
                    path.display()
                );
                AppSettings::default()
            }
        };
        Self {
            path,
            notifications: AtomicBool::new(settings.notifications),
        }
    }

    pub fn get(&self) -> AppSettings {
        AppSettings {
            notifications: self.notifications.load(Ordering::Relaxed),
        }
    }

    pub fn set(&self, settings: AppSettings) -> Result<(), AppError> {
        write_atomically(
            &self.path,
            &serde_json::to_vec_pretty(&settings).expect("plain data"),
        )
        .map_err(|e| {
            AppError::new(
                ErrorKind::Local,
                format!(
                    "cannot save the app's settings to {}: {e}",
                    self.path.display()
                ),
            )
        })?;
        self.notifications
            .store(settings.notifications, Ordering::Relaxed);
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // The app's config directory does not exist until the first save.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    punchwire_control::config_file::write_atomically(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_on_until_turned_off_and_stay_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/settings.json");
        let store = SettingsStore::open(path.clone());
        assert!(store.get().notifications);
        store
            .set(AppSettings {
                notifications: false,
            })
            .unwrap();
        assert!(!store.get().notifications);
        assert!(
            !SettingsStore::open(path).get().notifications,
            "kept across restarts"
        );
    }

    #[test]
    fn a_broken_file_falls_back_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(SettingsStore::open(path).get().notifications);
    }
}

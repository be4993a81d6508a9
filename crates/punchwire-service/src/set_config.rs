//! `set-config`: a configuration sent by a client, checked, written to the file and
//! applied — or, when anything is wrong, nothing changed at all.

use std::path::PathBuf;

use punchwire_control::config_file;
use serde_json::{json, Value};

use crate::config::{Config, ConfigError};
use crate::control::protocol::{ErrorBody, ErrorCode};
use crate::service::Service;
use crate::tunnel_check::check_registries_in_tunnel;

impl Service {
    /// Checks `config` (JSON in the file's keys), writes it to the configuration file
    /// and applies it, provided the file is still at `revision` (the one the client
    /// read), and gives the file's new revision. A bad configuration, a stale revision,
    /// or one that cannot be written, changes nothing: what runs always matches the file.
    pub async fn set_config(
        &self,
        config: Value,
        revision: &str,
    ) -> Result<String, SetConfigError> {
        let new = Config::from_json(&self.config_path, config)?;
        // Before the lock: reading devices may take up to the backend's deadline.
        check_registries_in_tunnel(&new, &self.shared.backend, &self.config_path).await?;
        // Held from the revision check across the write and the apply, so that two
        // clients' saves cannot cross.
        let mut state = self.state.lock().await;
        if revision != state.revision {
            return Err(SetConfigError::Stale);
        }
        let on_disk = std::fs::read(&self.config_path).map_err(|source| SetConfigError::Read {
            path: self.config_path.clone(),
            source,
        })?;
        if config_file::revision(&on_disk) != state.revision {
            return Err(SetConfigError::EditedOnDisk {
                path: self.config_path.clone(),
            });
        }
        if new.control.socket != state.config.control.socket {
            return Err(SetConfigError::Control {
                key: "control.socket",
            });
        }
        if new.control.group != state.config.control.group {
            return Err(SetConfigError::Control {
                key: "control.group",
            });
        }
        let text = format!(
            "# Written by the punchwire service (set-config from the control socket).\n\
             # The file as it was before the first such change is kept as {}.\n\n{}",
            config_file::backup_path(&self.config_path).display(),
            new.to_toml()
        );
        config_file::replace(&self.config_path, &text).map_err(|source| SetConfigError::Write {
            path: self.config_path.clone(),
            source,
        })?;
        let written = config_file::revision(text.as_bytes());
        state.revision = written.clone();
        self.apply(&mut state, new).await;
        drop(state);
        tracing::info!(
            "configuration set from the control socket and written to {}",
            self.config_path.display()
        );
        self.emit(json!({"type": "reloaded"}));
        Ok(written)
    }
}

/// Why `set-config` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SetConfigError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("the settings were saved by someone else since you read them: read them again, then make your change")]
    Stale,
    #[error("{} was edited since the service read it: run `punchwire reload` to take the edit up, then read the settings again", path.display())]
    EditedOnDisk { path: PathBuf },
    #[error("{key}: cannot be changed through the control socket, which it describes: edit the configuration file and restart the service")]
    Control { key: &'static str },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SetConfigError> for ErrorBody {
    fn from(e: SetConfigError) -> Self {
        match e {
            SetConfigError::Invalid(e) => ErrorBody {
                code: ErrorCode::InvalidConfig,
                message: e.detail(),
                key: e.key().map(str::to_owned),
            },
            SetConfigError::Control { key } => ErrorBody {
                code: ErrorCode::InvalidConfig,
                message: e.to_string(),
                key: Some(key.to_owned()),
            },
            SetConfigError::Stale | SetConfigError::EditedOnDisk { .. } => {
                ErrorBody::new(ErrorCode::Conflict, e.to_string())
            }
            SetConfigError::Read { .. } | SetConfigError::Write { .. } => {
                ErrorBody::new(ErrorCode::Failed, e.to_string())
            }
        }
    }
}

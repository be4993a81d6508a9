//! What the window is told when something fails: a kind it can switch on, the message a
//! user reads, and for configuration errors the dotted key the service named.

use punchwire_control::client::ClientError;
use punchwire_control::protocol::ErrorCode;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// No control socket: the service is not running.
    NotRunning,
    /// The socket exists but this user may not use it.
    PermissionDenied,
    /// Anything else between us and the service (closed, I/O).
    Unreachable,
    /// The service understood and said no.
    Refused,
    /// The service does not know the command (it is older than this app).
    Unsupported,
    /// `set-config` found a problem; `key` says where.
    InvalidConfig,
    /// `set-config` was based on settings that changed since: read them again.
    Conflict,
    /// The service said something this app does not understand.
    Protocol,
    /// The app's own files (its settings).
    Local,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            key: None,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::NotRunning(_) => ErrorKind::NotRunning,
            ClientError::PermissionDenied(_) => ErrorKind::PermissionDenied,
            ClientError::Io { .. } | ClientError::Closed => ErrorKind::Unreachable,
            ClientError::Protocol(_) => ErrorKind::Protocol,
            ClientError::Refused { code, .. } => match code {
                ErrorCode::PermissionDenied => ErrorKind::PermissionDenied,
                ErrorCode::InvalidConfig => ErrorKind::InvalidConfig,
                ErrorCode::Conflict => ErrorKind::Conflict,
                _ => ErrorKind::Refused,
            },
        };
        let key = match &e {
            ClientError::Refused { key, .. } => key.clone(),
            _ => None,
        };
        Self {
            kind,
            message: e.to_string(),
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_stale_save_is_a_conflict() {
        let e = AppError::from(ClientError::Refused {
            code: ErrorCode::Conflict,
            message: "the settings were saved by someone else since you read them".into(),
            key: None,
        });
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(e.message.contains("saved by someone else"), "{e}");
    }

    #[test]
    fn client_errors_keep_their_advice_and_get_a_kind() {
        let e = AppError::from(ClientError::NotRunning(PathBuf::from("/run/x.sock")));
        assert_eq!(e.kind, ErrorKind::NotRunning);
        assert!(e.message.contains("sudo systemctl start punchwire"), "{e}");
        let e = AppError::from(ClientError::PermissionDenied(PathBuf::from("/run/x.sock")));
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("punchwire group"), "{e}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "permission-denied");
        assert!(json.get("key").is_none());
    }

    #[test]
    fn a_config_error_keeps_the_key_it_names() {
        let e = AppError::from(ClientError::Refused {
            code: ErrorCode::InvalidConfig,
            message: "interface[0].zone: must not be empty".into(),
            key: Some("interface[0].zone".into()),
        });
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert_eq!(e.key.as_deref(), Some("interface[0].zone"));
        assert_eq!(e.message, "interface[0].zone: must not be empty");
        let e = AppError::from(ClientError::Refused {
            code: ErrorCode::Failed,
            message: "no configured interface named \"wg9\"".into(),
            key: None,
        });
        assert_eq!(e.kind, ErrorKind::Refused);
        assert_eq!(e.key, None);
    }
}

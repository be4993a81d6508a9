//! What can go wrong while building, driving or tearing down a lab.

use std::io;
use std::time::Duration;

/// A lab failure. Every variant names the command or file involved, and the namespace
/// it ran in, so that a failing test says what broke without a rerun.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("could not start `{command}` in {place}: {source}")]
    Spawn {
        command: String,
        place: String,
        source: io::Error,
    },
    #[error("`{command}` in {place} failed ({status}): {stderr}")]
    Failed {
        command: String,
        place: String,
        status: String,
        stderr: String,
        stdout: String,
    },
    #[error("`{command}` in {place} did not finish within {timeout:?} and was killed")]
    CommandTimeout {
        command: String,
        place: String,
        timeout: Duration,
    },
    #[error("{what} did not happen within {waited:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Timeout {
        what: String,
        waited: Duration,
        last_error: Option<String>,
    },
    #[error("{daemon} in {place} exited ({status}) before it was ready; its log:\n{log}")]
    DaemonExited {
        daemon: String,
        place: String,
        status: String,
        log: String,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("unexpected output of `{command}`: {reason}")]
    Parse { command: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

impl LabError {
    /// Whether waiting longer cannot help: a daemon that exited stays exited.
    pub fn is_final(&self) -> bool {
        matches!(self, LabError::DaemonExited { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;

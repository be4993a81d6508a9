//! One-shot requests to the service's control socket, one connection each: the socket is
//! local and cheap, and a fresh connection never carries a stale subscription.

use std::path::PathBuf;

use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::defaults::DEFAULT_SOCKET;
use punchwire_control::protocol::{Command, ErrorCode, Hello};
use serde_json::Value;

use crate::error::{AppError, ErrorKind};

/// The control socket: `PUNCHWIRE_SOCKET`, else the service's default.
pub fn socket_path() -> PathBuf {
    std::env::var_os("PUNCHWIRE_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

pub async fn request(command: Command) -> Result<Value, AppError> {
    let mut client = ControlClient::connect(&socket_path()).await?;
    Ok(client.request(command).await?)
}

/// Like [`request`], for the commands behind the settings form, which a service older
/// than this app may not have: it first asks the service (`hello`) whether it knows the
/// command, and says what to do instead when it does not.
pub async fn settings_request(command: Command) -> Result<Value, AppError> {
    let mut client = ControlClient::connect(&socket_path()).await?;
    knows(client.hello().await, command.name())?;
    Ok(client.request(command).await?)
}

/// Whether the service that answered `hello` so can carry out `cmd`. One that does not
/// understand `hello` (a bad request to it) predates it, and the settings commands too.
fn knows(hello: Result<Hello, ClientError>, cmd: &str) -> Result<(), AppError> {
    let known = match hello {
        Ok(hello) => hello.knows(cmd),
        Err(ClientError::Refused {
            code: ErrorCode::BadRequest,
            ..
        }) => false,
        Err(e) => return Err(e.into()),
    };
    if known {
        return Ok(());
    }
    Err(AppError::new(
        ErrorKind::Unsupported,
        format!(
            "this Punchwire service does not support `{cmd}` yet, so settings cannot be edited from the app: \
             edit the service's configuration file (usually /etc/punchwire/config.toml) and run `sudo punchwire reload`"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_missing_from_hello_means_the_service_is_older_than_the_app() {
        let older = Hello {
            protocol: 1,
            service: "0.0.9".into(),
            commands: vec!["hello".into(), "status".into()],
        };
        let e = knows(Ok(older), "get-config").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`get-config`"), "{e}");
        assert!(e.message.contains("punchwire reload"), "{e}");
    }

    #[test]
    fn a_service_without_hello_is_older_than_the_app() {
        let refused = ClientError::Refused {
            code: ErrorCode::BadRequest,
            message: "whatever the service says".into(),
            key: None,
        };
        let e = knows(Err(refused), "set-config").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn a_service_that_knows_the_command_gets_it() {
        assert_eq!(
            knows(Ok(Hello::from_service("0.1.0")), "get-config"),
            Ok(())
        );
        let e = knows(Err(ClientError::Closed), "get-config").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable);
    }
}

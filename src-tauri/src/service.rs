//! One-shot requests to the service's control socket, one connection each: the socket is
//! local and cheap, and a fresh connection never carries a stale subscription.

use std::path::PathBuf;

use punchwire_control::defaults::DEFAULT_SOCKET;
use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::protocol::{Command, VERSION};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

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

/// Sends a command and reads the answer as plain JSON: the configuration the window
/// edits travels through untouched, and an older service's "unknown command" can be
/// told apart (see `answer_to_result`).
pub async fn raw_request(cmd: &str, fields: Value) -> Result<Value, AppError> {
    let path = socket_path();
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|e| connect_error(path.clone(), e))?;
    let (read, mut write) = stream.into_split();
    let mut request = json!({"v": VERSION, "id": 1, "cmd": cmd});
    if let (Some(obj), Value::Object(extra)) = (request.as_object_mut(), fields) {
        obj.extend(extra);
    }
    let mut line = request.to_string();
    line.push('\n');
    write.write_all(line.as_bytes()).await.map_err(|e| {
        AppError::from(ClientError::Io {
            path: path.clone(),
            source: e,
        })
    })?;
    let mut lines = BufReader::new(read).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| {
                AppError::from(ClientError::Io {
                    path: path.clone(),
                    source: e,
                })
            })?
            .ok_or_else(|| AppError::from(ClientError::Closed))?;
        let answer: Value = serde_json::from_str(&line).map_err(|e| {
            AppError::new(
                ErrorKind::Protocol,
                format!("the service answered something that is not JSON ({e}): {line}"),
            )
        })?;
        if answer.get("event").is_some() {
            continue;
        }
        return answer_to_result(cmd, answer);
    }
}

fn connect_error(path: PathBuf, e: std::io::Error) -> AppError {
    AppError::from(match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(path)
        }
        std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path),
        _ => ClientError::Io { path, source: e },
    })
}

fn answer_to_result(cmd: &str, answer: Value) -> Result<Value, AppError> {
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    let error = answer.get("error").cloned().unwrap_or(Value::Null);
    let code = error.get("code").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the service refused without saying why")
        .to_owned();
    let key = error.get("key").and_then(Value::as_str).map(str::to_owned);
    let kind = match code {
        "invalid-config" => ErrorKind::InvalidConfig,
        "permission-denied" => ErrorKind::PermissionDenied,
        "bad-request" if message.contains("unknown variant") => {
            return Err(AppError::new(
                ErrorKind::Unsupported,
                format!(
                    "this Punchwire service does not support `{cmd}` yet, so settings cannot be edited from the app: \
                     edit the service's configuration file (usually /etc/punchwire/config.toml) and run `sudo punchwire reload`"
                ),
            ))
        }
        _ => ErrorKind::Refused,
    };
    Err(AppError { kind, message, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_command_means_the_service_is_older_than_the_app() {
        let answer = json!({"v":1,"id":1,"ok":false,"error":{"code":"bad-request",
            "message":"bad request: unknown variant `get-config`, expected one of `status`"}});
        let e = answer_to_result("get-config", answer).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("punchwire reload"), "{e}");
    }

    #[test]
    fn a_config_error_keeps_the_key_it_names() {
        let answer = json!({"v":1,"id":1,"ok":false,"error":{"code":"invalid-config",
            "key":"interface[0].zone","message":"interface[0].zone: must not be empty"}});
        let e = answer_to_result("set-config", answer).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert_eq!(e.key.as_deref(), Some("interface[0].zone"));
        assert_eq!(e.message, "interface[0].zone: must not be empty");
    }

    #[test]
    fn success_gives_the_result() {
        let answer = json!({"v":1,"id":1,"ok":true,"result":{"path":"/etc/punchwire/config.toml"}});
        assert_eq!(
            answer_to_result("get-config", answer).unwrap()["path"],
            "/etc/punchwire/config.toml"
        );
    }
}

//! The control protocol: JSON lines, one request or response or event per line.
//!
//! ```text
//! → {"v":1,"id":1,"cmd":"status"}
//! ← {"v":1,"id":1,"ok":true,"result":{...}}
//! → {"v":1,"id":2,"cmd":"pause"}
//! ← {"v":1,"id":2,"ok":false,"error":{"code":"permission-denied","message":"..."}}
//! → {"v":1,"id":3,"cmd":"subscribe"}
//! ← {"v":1,"id":3,"ok":true,"result":null}
//! ← {"v":1,"event":{"type":"endpoint-changed",...}}
//! ```
//!
//! Fields are only ever added within a version; a client that sees a `v` it does not
//! know should say so rather than guess. README.md documents every command.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const VERSION: u32 = 1;

/// No legitimate request comes near this; a line longer than it is refused and the
/// connection closed, so that no client can make the service buffer without bound.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub id: u64,
    #[serde(flatten)]
    pub command: Command,
}

/// Everything a client can ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    /// The whole state: interfaces, peers, registries, registry mode.
    Status,
    /// Follow the event stream on this connection.
    Subscribe,
    /// Stop changing endpoints (on one interface, or all).
    Pause {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
    },
    Resume {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
    },
    /// Re-read the configuration file; keeps the running one if the file is bad.
    Reload,
    RegistryEnable,
    RegistryDisable,
    /// The running configuration, the file it came from, and that file's revision.
    GetConfig,
    /// Check `config` (the whole configuration, in the file's keys), write it to the
    /// file and apply it like `reload`; a bad one changes nothing.
    SetConfig {
        config: Value,
        /// The `revision` of the `get-config` this change was based on: when the file
        /// has changed since, the change is refused with `conflict`.
        revision: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    /// The request's id; 0 when the request was too broken to have one.
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// For `invalid-config`: the dotted key at fault (`interface[0].zone`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not a known command, or a version we do not speak.
    BadRequest,
    /// The line exceeded [`MAX_LINE`]; the connection is closed after this.
    TooLarge,
    PermissionDenied,
    /// The command was understood but could not be carried out (e.g. bad config).
    Failed,
    /// A subscriber fell behind and missed events; it should re-read `status`.
    Lagged,
    /// `set-config` was given a configuration that does not pass the checks.
    InvalidConfig,
    /// `set-config` was based on a revision of the file that is no longer current:
    /// someone else saved, or the file was edited, since. Nothing was written; read the
    /// configuration again.
    Conflict,
}

/// A pushed event on a subscribed connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFrame {
    pub v: u32,
    pub event: Value,
}

impl Response {
    pub fn ok(id: u64, result: Value) -> Self {
        Self {
            v: VERSION,
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::refused(id, ErrorBody::new(code, message))
    }

    pub fn refused(id: u64, error: ErrorBody) -> Self {
        Self {
            v: VERSION,
            id,
            ok: false,
            result: None,
            error: Some(error),
        }
    }
}

/// Parses one request line, answering what is wrong with it when it is not one.
pub fn parse_request(line: &str) -> Result<Request, Response> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| Response::error(0, ErrorCode::BadRequest, format!("not JSON: {e}")))?;
    let id = value.get("id").and_then(Value::as_u64).unwrap_or(0);
    match value.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(Response::error(
                id,
                ErrorCode::BadRequest,
                format!("protocol version {v} is not spoken here (this service speaks {VERSION})"),
            ))
        }
        None => {
            return Err(Response::error(
                id,
                ErrorCode::BadRequest,
                "missing \"v\" (the protocol version, 1)",
            ))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Response::error(id, ErrorCode::BadRequest, format!("bad request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_the_documented_shape() {
        let req = Request {
            v: 1,
            id: 7,
            command: Command::Pause {
                interface: Some("wg0".into()),
            },
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"v":1,"id":7,"cmd":"pause","interface":"wg0"}"#);
        assert_eq!(parse_request(&line).unwrap(), req);
        assert_eq!(
            parse_request(r#"{"v":1,"id":1,"cmd":"registry-enable"}"#)
                .unwrap()
                .command,
            Command::RegistryEnable
        );
    }

    #[test]
    fn broken_requests_get_an_answer_that_says_why() {
        let cases = [
            ("{not json", 0, "not JSON"),
            (r#"{"id":3,"cmd":"status"}"#, 3, "missing \"v\""),
            (r#"{"v":9,"id":4,"cmd":"status"}"#, 4, "version 9"),
            (r#"{"v":1,"id":5,"cmd":"explode"}"#, 5, "unknown variant"),
            (r#"{"v":1,"cmd":"status"}"#, 0, "missing field `id`"),
        ];
        for (line, id, says) in cases {
            let response = parse_request(line).unwrap_err();
            assert_eq!(response.id, id, "{line}");
            let error = response.error.unwrap();
            assert_eq!(error.code, ErrorCode::BadRequest);
            assert!(error.message.contains(says), "{line}: {}", error.message);
        }
    }

    #[test]
    fn config_errors_name_their_key() {
        let request = parse_request(
            r#"{"v":1,"id":5,"cmd":"set-config","config":{"a":1},"revision":"00ff"}"#,
        );
        assert!(matches!(
            request.unwrap().command,
            Command::SetConfig { config, revision } if config["a"] == 1 && revision == "00ff"
        ));
        let stale = Response::error(6, ErrorCode::Conflict, "changed since");
        assert!(serde_json::to_string(&stale)
            .unwrap()
            .contains(r#""code":"conflict""#));
        let mut body = ErrorBody::new(ErrorCode::InvalidConfig, "interface[0].zone: bad");
        body.key = Some("interface[0].zone".into());
        assert_eq!(
            serde_json::to_string(&Response::refused(5, body)).unwrap(),
            r#"{"v":1,"id":5,"ok":false,"error":{"code":"invalid-config","message":"interface[0].zone: bad","key":"interface[0].zone"}}"#
        );
    }
}

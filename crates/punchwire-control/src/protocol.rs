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
//! → {"v":1,"id":4,"cmd":"hello"}
//! ← {"v":1,"id":4,"ok":true,"result":{"protocol":1,"service":"0.1.0","commands":["status",...]}}
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

/// How many events `recent-events` gives back at most.
pub const RECENT_EVENTS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Request {
    pub v: u32,
    pub id: u64,
    #[serde(flatten)]
    pub command: Command,
}

/// Everything a client can ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    /// The whole state: interfaces, peers, registries, registry mode.
    Status,
    /// Who answers: the protocol and service versions and the commands it knows
    /// ([`Hello`]), so that a client asks instead of guessing from error text.
    Hello,
    /// Follow the event stream on this connection.
    Subscribe,
    /// The latest events (at most [`RECENT_EVENTS`]), oldest first, as
    /// `{"events":[...]}`: what a window shows when it opens. Every event carries `at`,
    /// milliseconds since the Unix epoch.
    RecentEvents,
    /// Stop changing endpoints (on one interface, or all).
    Pause {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        interface: Option<String>,
    },
    Resume {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
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
        #[cfg_attr(test, ts(type = "unknown"))]
        config: Value,
        /// The `revision` of the `get-config` this change was based on: when the file
        /// has changed since, the change is refused with `conflict`.
        revision: String,
    },
}

impl Command {
    /// The command's name on the wire (`cmd`), e.g. `get-config`.
    pub fn name(&self) -> &'static str {
        let value = serde_json::to_value(self).expect("commands are plain data");
        let tag = value["cmd"].as_str().unwrap_or_default();
        Self::names()
            .iter()
            .find(|&&n| n == tag)
            .expect("every command serializes with one of its own names")
    }

    /// Every command's name on the wire, in declaration order, read from the enum's own
    /// serde derive so that the list `hello` reports cannot drift from what is parsed.
    pub fn names() -> &'static [&'static str] {
        variant_names::of::<Command>()
    }
}

/// The answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Hello {
    /// The protocol version spoken, [`VERSION`].
    pub protocol: u32,
    /// The service's own version, e.g. "0.1.0".
    pub service: String,
    /// The `cmd` names this service understands.
    pub commands: Vec<String>,
}

impl Hello {
    /// What a service of version `service` built from this crate says.
    pub fn from_service(service: impl Into<String>) -> Self {
        Self {
            protocol: VERSION,
            service: service.into(),
            commands: Command::names().iter().map(|&n| n.to_owned()).collect(),
        }
    }

    /// Whether the service understands `cmd` (a name as in [`Command::names`]).
    pub fn knows(&self, cmd: &str) -> bool {
        self.commands.iter().any(|c| c == cmd)
    }
}

/// Reads an enum's variant names, as serde spells them, out of its `Deserialize` derive.
///
/// The derive keeps the names in a private list that it only ever hands to
/// [`serde::de::Error::unknown_variant`]; asking it to parse a tag that is no variant,
/// through an error type that keeps that list, gets them without a copy to maintain.
mod variant_names {
    use std::fmt;

    use serde::de::value::MapDeserializer;
    use serde::Deserialize;

    /// Holds the variant list when the failure was an unknown variant.
    #[derive(Debug)]
    struct Expected(Option<&'static [&'static str]>);

    impl fmt::Display for Expected {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("looking for the variant list")
        }
    }

    impl std::error::Error for Expected {}

    impl serde::de::Error for Expected {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Self(None)
        }

        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Self(Some(expected))
        }
    }

    /// The variant names of an internally tagged enum whose tag is `cmd`.
    pub fn of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
        // No command is named by an empty string.
        let tag = std::iter::once(("cmd", ""));
        match T::deserialize(MapDeserializer::<_, Expected>::new(tag)) {
            Err(Expected(Some(names))) => names,
            _ => panic!("an empty tag must be an unknown variant"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Response {
    pub v: u32,
    /// The request's id; 0 when the request was too broken to have one.
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(type = "unknown", optional))]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// For `invalid-config`: the dotted key at fault (`interface[0].zone`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
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
#[cfg_attr(test, derive(ts_rs::TS))]
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
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EventFrame {
    pub v: u32,
    #[cfg_attr(test, ts(type = "unknown"))]
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
    fn hello_lists_every_command_as_it_is_spelled_on_the_wire() {
        let hello = Hello::from_service("9.9.9");
        assert_eq!(hello.protocol, VERSION);
        assert_eq!(
            hello.commands,
            [
                "status",
                "hello",
                "subscribe",
                "recent-events",
                "pause",
                "resume",
                "reload",
                "registry-enable",
                "registry-disable",
                "get-config",
                "set-config"
            ]
        );
        // Each listed name is one the parser takes as that command, not an unknown one.
        for name in &hello.commands {
            let line = format!(r#"{{"v":1,"id":1,"cmd":"{name}","config":{{}},"revision":"0"}}"#);
            let parsed = parse_request(&line).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let back = serde_json::to_value(&parsed).unwrap();
            assert_eq!(back["cmd"], name.as_str());
        }
        assert_eq!(Command::GetConfig.name(), "get-config");
        assert_eq!(Command::Pause { interface: None }.name(), "pause");
        assert!(hello.knows("get-config"));
        assert!(!hello.knows("explode"));
        assert_eq!(
            parse_request(r#"{"v":1,"id":2,"cmd":"hello"}"#)
                .unwrap()
                .command,
            Command::Hello
        );
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

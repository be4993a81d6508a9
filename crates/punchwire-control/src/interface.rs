//! A WireGuard interface's name, e.g. `wg0`: checked once, where it is given.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// A name a WireGuard interface can have on every platform we run on: 1 to 15 bytes,
/// without '/' (the UAPI socket is a file named after it), ':' or whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InterfaceName(String);

/// Why a name cannot be an interface's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceNameError {
    #[error("{0:?} must be 1 to {MAX_INTERFACE_NAME} characters")]
    Length(String),
    #[error("{0:?} contains '/', ':' or whitespace")]
    Character(String),
}

impl InterfaceName {
    pub fn parse(name: &str) -> Result<Self, InterfaceNameError> {
        if name.is_empty() || name.len() > MAX_INTERFACE_NAME {
            return Err(InterfaceNameError::Length(name.to_owned()));
        }
        if name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
            return Err(InterfaceNameError::Character(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InterfaceName {
    type Err = InterfaceNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for InterfaceName {
    type Error = InterfaceNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<InterfaceName> for String {
    fn from(name: InterfaceName) -> Self {
        name.0
    }
}

impl AsRef<str> for InterfaceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_an_interface_can_have() {
        assert_eq!(InterfaceName::parse("wg0").unwrap().as_str(), "wg0");
        assert!(InterfaceName::parse(&"w".repeat(15)).is_ok());
        for (bad, says) in [
            ("", "1 to 15"),
            ("a-very-long-interface-name", "1 to 15"),
            ("wg/0", "'/'"),
            ("wg 0", "whitespace"),
            ("wg:0", "':'"),
        ] {
            let err = InterfaceName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}

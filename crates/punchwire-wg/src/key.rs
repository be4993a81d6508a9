//! WireGuard public keys in the two spellings Punchwire meets: base64, as `wg` prints
//! them, and the DNS label form of the wgsd layout (RFC 4648 base32 with padding).

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32, BASE64};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a Curve25519 public key in bytes.
pub const KEY_LEN: usize = 32;

/// Length of the base32 DNS label of a key: 32 bytes → 52 symbols + 4 `=` of padding.
pub const LABEL_LEN: usize = 56;

/// A WireGuard (Curve25519) public key.
///
/// Parsed once at the edge; everything inside Punchwire handles keys as this type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

/// Why a string is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{input:?} is not a WireGuard key: expected 44 characters of base64, got {len}")]
    Base64Length { input: String, len: usize },
    #[error("{input:?} is not a WireGuard key: invalid base64 ({reason})")]
    Base64 { input: String, reason: String },
    #[error("{input:?} is not a WireGuard key label: expected 56 characters of base32, got {len}")]
    LabelLength { input: String, len: usize },
    #[error("{input:?} is not a WireGuard key label: invalid base32 ({reason})")]
    Label { input: String, reason: String },
}

impl PublicKey {
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses the base64 form that `wg` prints and takes.
    pub fn from_base64(input: &str) -> Result<Self, KeyError> {
        let input = input.trim();
        if input.len() != 44 {
            return Err(KeyError::Base64Length {
                input: input.to_owned(),
                len: input.len(),
            });
        }
        let bytes = BASE64
            .decode(input.as_bytes())
            .map_err(|e| KeyError::Base64 {
                input: input.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self(bytes.try_into().map_err(|_| KeyError::Base64 {
            input: input.to_owned(),
            reason: "does not decode to 32 bytes".into(),
        })?))
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.0)
    }

    /// Parses a DNS label (base32 with padding). DNS names are case-insensitive
    /// (RFC 4343), so either case is accepted.
    pub fn from_dns_label(label: &str) -> Result<Self, KeyError> {
        if label.len() != LABEL_LEN {
            return Err(KeyError::LabelLength {
                input: label.to_owned(),
                len: label.len(),
            });
        }
        let upper = label.to_ascii_uppercase();
        let bytes = BASE32
            .decode(upper.as_bytes())
            .map_err(|e| KeyError::Label {
                input: label.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self(bytes.try_into().map_err(|_| KeyError::Label {
            input: label.to_owned(),
            reason: "does not decode to 32 bytes".into(),
        })?))
    }

    /// Same as [`PublicKey::from_dns_label`] for a label straight off the wire.
    pub fn from_dns_label_bytes(label: &[u8]) -> Result<Self, KeyError> {
        match std::str::from_utf8(label) {
            Ok(s) => Self::from_dns_label(s),
            Err(_) => Err(KeyError::Label {
                input: String::from_utf8_lossy(label).into_owned(),
                reason: "not ASCII".into(),
            }),
        }
    }

    /// The DNS label, lower case as Punchwire writes it (wgsd writes upper case; both
    /// match, names being case-insensitive).
    pub fn to_dns_label(&self) -> String {
        BASE32.encode(&self.0).to_ascii_lowercase()
    }

    /// The first characters of the base64 form, enough for a human to tell peers apart.
    pub fn short(&self) -> String {
        self.to_base64()[..8].to_owned()
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The two keys of the wgsd article ("WireGuard endpoint discovery and NAT traversal
    // using DNS-SD"), as wg prints them and as they appear in its dig output.
    const ARTICLE: [(&str, &str); 2] = [
        (
            "mvplwow3agnGM8G78+BiJ3tmlPf9gDtbJ2NdxqV44D8=",
            "TL5GLQUMG5VATRRTYG57HYDCE55WNFHX7WADWWZHMNO4NJLY4A7Q====",
        ),
        (
            "xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=",
            "YUTRLED535IGKL7BDLERL6M4VJXSXM3UQQPL4NMSN27MT56AD4HA====",
        ),
    ];

    #[test]
    fn article_keys_round_trip_between_base64_and_label() {
        for (b64, label) in ARTICLE {
            let key: PublicKey = b64.parse().unwrap();
            assert_eq!(key.to_dns_label(), label.to_ascii_lowercase());
            assert_eq!(PublicKey::from_dns_label(label).unwrap(), key);
            assert_eq!(key.to_base64(), b64);
        }
    }

    #[test]
    fn labels_match_case_insensitively() {
        let (b64, label) = ARTICLE[0];
        let mixed: String = label
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(PublicKey::from_dns_label(&mixed).unwrap().to_base64(), b64);
    }

    #[test]
    fn bad_input_names_the_input_and_the_problem() {
        let err = PublicKey::from_base64("abc").unwrap_err().to_string();
        assert!(err.contains("\"abc\"") && err.contains("44"), "{err}");
        let err = PublicKey::from_base64(&"!".repeat(44))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid base64"), "{err}");
        let err = PublicKey::from_dns_label("tl5g").unwrap_err().to_string();
        assert!(err.contains("56"), "{err}");
        let err = PublicKey::from_dns_label(&"1".repeat(56))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid base32"), "{err}");
    }

    #[test]
    fn serde_uses_the_base64_form() {
        let key: PublicKey = ARTICLE[0].0.parse().unwrap();
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", ARTICLE[0].0));
        let back: PublicKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, key);
        assert!(serde_json::from_str::<PublicKey>("\"nope\"").is_err());
    }
}

//! Which userspace WireGuard serves a UAPI socket, because boringtun 0.7.1 needs a
//! different way to change a peer than every compliant implementation.

use std::fmt;
use std::os::unix::net::UnixStream;

use super::config::Signature;

/// The userspace implementation behind a socket, as far as Punchwire treats them
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Implementation {
    /// wireguard-go and anything else that follows the cross-platform UAPI: changes
    /// to an existing peer are applied in place.
    Compliant,
    /// boringtun (0.7.1 measured): modifying an existing peer panics its event loop,
    /// so a peer is changed by removing it and adding it back.
    Boringtun,
}

impl Implementation {
    /// Decides from the serving process's name when it is one we know (the surest
    /// sign), else from the lines the daemon wrote in answer to `get=1`: boringtun
    /// also comes embedded in programs with other names.
    pub(super) fn detect(process_name: Option<&str>, signature: &Signature) -> Self {
        process_name
            .and_then(Self::from_process_name)
            .unwrap_or_else(|| Self::from_signature(signature))
    }

    /// The implementation a process name gives away, if it does.
    pub(super) fn from_process_name(name: &str) -> Option<Self> {
        if name.starts_with("boringtun") {
            Some(Self::Boringtun)
        } else if name.starts_with("wireguard-go") {
            Some(Self::Compliant)
        } else {
            None
        }
    }

    fn from_signature(signature: &Signature) -> Self {
        if signature.own_public_key || !(signature.private_key || signature.protocol_version) {
            Self::Boringtun
        } else {
            Self::Compliant
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Compliant => "compliant",
            Self::Boringtun => "boringtun",
        })
    }
}

/// The name of the process serving the other end of `stream`, read from
/// `/proc/<pid>/comm` with the pid from `SO_PEERCRED`. `None` where that is not
/// available (another pid namespace, not Linux).
/// The process at the other end of a UAPI socket, as far as the OS tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ServingProcess {
    pub(super) pid: Option<i32>,
    pub(super) name: Option<String>,
}

#[cfg(target_os = "linux")]
pub(super) fn serving_process(stream: &UnixStream) -> ServingProcess {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let pid = getsockopt(stream, PeerCredentials)
        .ok()
        .map(|credentials| credentials.pid())
        .filter(|&pid| pid > 0);
    let name = pid
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .map(|comm| comm.trim_end().to_owned());
    ServingProcess { pid, name }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn serving_process(_stream: &UnixStream) -> ServingProcess {
    ServingProcess::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_name_wins_over_signature() {
        let compliant = Signature {
            private_key: true,
            own_public_key: false,
            protocol_version: true,
        };
        assert_eq!(
            Implementation::detect(Some("boringtun-cli"), &compliant),
            Implementation::Boringtun
        );
        assert_eq!(
            Implementation::detect(Some("wireguard-go"), &Signature::default()),
            Implementation::Compliant
        );
    }

    #[test]
    fn unknown_process_names_fall_back_to_the_signature() {
        let boringtun = Signature {
            own_public_key: true,
            ..Signature::default()
        };
        assert_eq!(
            Implementation::detect(Some("warp-svc"), &boringtun),
            Implementation::Boringtun
        );
    }

    #[test]
    fn signature_tells_them_apart_without_a_name() {
        let boringtun = Signature {
            private_key: false,
            own_public_key: true,
            protocol_version: false,
        };
        let wireguard_go = Signature {
            private_key: true,
            own_public_key: false,
            protocol_version: true,
        };
        assert_eq!(
            Implementation::detect(None, &boringtun),
            Implementation::Boringtun
        );
        assert_eq!(
            Implementation::detect(None, &wireguard_go),
            Implementation::Compliant
        );
    }
}

//! Sending a registration to one registry and reading its verdict.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};

use crate::exchange::{self, DnsError};

/// Why a registry did not take a registration.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The registry answered with an error: REFUSED or NOTIMP from a registry that
    /// takes no candidates (wgsd, an older Punchwire), NOTAUTH for a zone it does not
    /// serve, and so on.
    #[error("{server} did not take the candidates: {rcode}{hint}", hint = hint(*rcode))]
    Refused {
        server: SocketAddr,
        rcode: ResponseCode,
    },
}

impl RegisterError {
    /// Whether the registry said no (asking again soon would only hear it again), as
    /// opposed to not answering at all, which the next try may well fix.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RegisterError::Refused { .. })
    }
}

fn hint(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NotImp | ResponseCode::Refused => {
            " (a registry without candidates, such as wgsd or an older Punchwire, says so)"
        }
        _ => "",
    }
}

/// Sends `update` to `server` and waits at most `timeout` for its answer.
pub async fn register(
    server: SocketAddr,
    update: &Message,
    timeout: Duration,
) -> Result<(), RegisterError> {
    let answer = exchange::send(server, update, "the candidates' UPDATE", timeout).await?;
    match answer.metadata.response_code {
        ResponseCode::NoError => Ok(()),
        rcode => Err(RegisterError::Refused { server, rcode }),
    }
}

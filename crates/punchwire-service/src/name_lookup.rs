//! Asking the system's resolver (`/etc/resolv.conf` on Unix, the registry's settings on
//! Windows) for a name's addresses, with hickory.

use std::net::IpAddr;

use hickory_resolver::net::NetError;
use hickory_resolver::TokioResolver;

/// Why a name gave no address.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("cannot read the system's resolver configuration")]
    Config {
        #[source]
        source: NetError,
    },
    #[error("cannot resolve {host}")]
    Lookup {
        host: String,
        #[source]
        source: NetError,
    },
}

/// The addresses `host` has now, in the order the answer gave them.
///
/// A resolver is built for each question: it reads the system configuration anew (a
/// laptop that changes networks gets a new `resolv.conf`) and has no cache from an
/// earlier answer, which would hide the very change this is asked for. Questions come
/// at most every 30 s per registry, so building one costs nothing that matters.
pub async fn addresses(host: &str) -> Result<Vec<IpAddr>, LookupError> {
    let resolver = TokioResolver::builder_tokio()
        .and_then(|builder| builder.build())
        .map_err(|source| LookupError::Config { source })?;
    let found = resolver
        .lookup_ip(host)
        .await
        .map_err(|source| LookupError::Lookup {
            host: host.to_owned(),
            source,
        })?;
    Ok(found.iter().collect())
}

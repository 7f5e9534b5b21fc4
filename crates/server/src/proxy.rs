//! The PROXY protocol on proxied listeners (`listen.proxy_from`,
//! `listen.proxied`): before the greeting, a connection from a listed load
//! balancer must start with a valid v1 or v2 header naming the real client,
//! which then takes the peer's place for everything (relay decision, AUTH
//! throttling, logs, `Received:`). A connection from any other address is
//! refused on such a listener.
//!
//! Why so strict: the header is a claim about someone else's address. From
//! an unlisted peer it would let anyone pose as an allowed relay client, and
//! a listed peer that skipped it would make every client look like the load
//! balancer (often inside `relay.allow`): both would open the relay.

use std::net::SocketAddr;
use std::time::Duration;

use portcullis_config::Listen;
use portcullis_smtp::proxy::{self, Parsed};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::info;

/// A load balancer sends the header at once; a peer silent for this long is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection was refused before the greeting.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The peer is not in `listen.proxy_from`.
    #[error("connection from {0} refused: this listener accepts only the load balancers in listen.proxy_from")]
    NotAProxy(SocketAddr),
    /// The header was missing, malformed, cut off or late.
    #[error("bad PROXY header from {peer}: {reason}")]
    BadHeader { peer: SocketAddr, reason: String },
}

/// How a connection's client was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// A listener that is not proxied: the peer is the client.
    Direct(SocketAddr),
    /// A PROXY header was read: the client it names (the balancer itself
    /// for `UNKNOWN`/`LOCAL`).
    Proxied(SocketAddr),
}

impl Client {
    /// The address that counts for every decision.
    pub(crate) fn addr(self) -> SocketAddr {
        match self {
            Client::Direct(a) | Client::Proxied(a) => a,
        }
    }
}

/// The real client of a connection accepted on a listener: `peer` itself on
/// a listener that is not proxied, else the address named by the header.
pub(crate) async fn real_client(
    listen: &Listen,
    tcp: &mut TcpStream,
    peer: SocketAddr,
) -> Result<Client, Refused> {
    let local = tcp.local_addr().map_err(|e| Refused::BadHeader {
        peer,
        reason: e.to_string(),
    })?;
    if !listen.is_proxied(local) {
        return Ok(Client::Direct(peer));
    }
    if !listen.proxy_allowed(peer.ip()) {
        return Err(Refused::NotAProxy(peer));
    }
    let header = match tokio::time::timeout(HEADER_TIMEOUT, read_header(tcp)).await {
        Ok(Ok(h)) => h,
        Ok(Err(reason)) => return Err(Refused::BadHeader { peer, reason }),
        Err(_) => {
            return Err(Refused::BadHeader {
                peer,
                reason: format!("nothing complete within {}s", HEADER_TIMEOUT.as_secs()),
            })
        }
    };
    match header.addresses {
        Some(a) => {
            info!(client = %a.source, proxy = %peer, version = header.version, "PROXY header accepted");
            Ok(Client::Proxied(a.source))
        }
        // LOCAL / UNKNOWN: the load balancer speaks for itself (health checks).
        None => {
            info!(proxy = %peer, version = header.version, "PROXY header without a client address: the proxy's own connection");
            Ok(Client::Proxied(peer))
        }
    }
}

/// Reads exactly the header's bytes: the parser says how many more it
/// needs, so nothing of the SMTP conversation behind it is consumed.
async fn read_header(tcp: &mut TcpStream) -> Result<proxy::ProxyHeader, String> {
    let mut buf: Vec<u8> = Vec::with_capacity(proxy::V1_MAX_LEN);
    loop {
        match proxy::parse(&buf).map_err(|e| e.to_string())? {
            Parsed::Complete { header, .. } => return Ok(header),
            Parsed::Incomplete { at_least } => {
                let start = buf.len();
                buf.resize(at_least, 0);
                tcp.read_exact(&mut buf[start..])
                    .await
                    .map_err(|e| format!("connection ended inside the header ({e})"))?;
            }
        }
    }
}

//! Opening a session to the mail store's LMTP server (`delivery.lmtp`,
//! RFC 2033): connect over TCP or a Unix socket, read the greeting, LHLO.
//! The transaction itself is the SMTP client's, in LMTP mode
//! ([`super::deliver`]), as Postfix's lmtp(8) is its smtp(8).
//!
//! No STARTTLS and no AUTH: the mail store is a trusted peer on loopback,
//! a Unix socket or the site's own network. Everything that goes wrong
//! before a transaction (no connection, a timeout, a refusing greeting or
//! LHLO) is temporary for every recipient: local mail is never bounced
//! because the store is down or misconfigured.

use portcullis_queue::route::LmtpHop;
use portcullis_queue::{Failure, Route};
use portcullis_smtp::client::{lhlo, Capabilities};
use tokio::net::{TcpStream, UnixStream};
use tracing::info;

use super::conn::{Conn, ConnError};
use super::resolve::Resolver;
use super::session::{Session, COMMAND_TIMEOUT, CONNECT_TIMEOUT, GREETING_TIMEOUT};

/// Opens an LMTP session to `hop`, trying each of its addresses in turn.
pub(super) async fn open(
    hop: &LmtpHop,
    resolver: &Resolver,
    hostname: &str,
) -> Result<Session, Failure> {
    let candidates = match hop {
        LmtpHop::Unix(path) => {
            let remote = format!("unix:{}", path.display());
            let conn = match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path)).await
            {
                Err(_) => Err(temporary(format!("connect to {remote}: timed out"))),
                Ok(Err(e)) => Err(temporary(format!("connect to {remote}: {e}"))),
                Ok(Ok(s)) => Ok(Conn::unix(s, remote)),
            }?;
            return greet(conn, hostname).await;
        }
        LmtpHop::Tcp(_) => resolver.candidates(&Route::Lmtp(hop.clone()), &[]).await?,
    };
    let mut last = temporary(format!("LMTP server {hop} has no address"));
    for candidate in &candidates {
        let remote = candidate.remote();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(candidate.addr)).await;
        let conn = match tcp {
            Err(_) => Err(temporary(format!("connect to {remote}: timed out"))),
            Ok(Err(e)) => Err(temporary(format!("connect to {remote}: {e}"))),
            Ok(Ok(t)) => Ok(Conn::new(t, remote.clone())),
        };
        match conn {
            Ok(conn) => match greet(conn, hostname).await {
                Ok(session) => return Ok(session),
                Err(f) => last = f,
            },
            Err(f) => last = f,
        }
        info!(host = %remote, "cannot deliver to the LMTP server: {last}");
    }
    Err(last)
}

/// Reads the greeting and says LHLO (RFC 2033 §4.1: there is no HELO
/// fallback in LMTP).
async fn greet(mut conn: Conn, hostname: &str) -> Result<Session, Failure> {
    let remote = conn.remote.clone();
    let io = |e: ConnError, during: &str| temporary(format!("{during} with {remote}: {e}"));
    let greeting = conn
        .read_reply(GREETING_TIMEOUT, "the greeting")
        .await
        .map_err(|e| io(e, "greeting"))?;
    if greeting.code != 220 {
        return Err(deferred(Failure::from_reply(
            &remote,
            &greeting,
            "initial greeting",
        )));
    }
    let line = lhlo(hostname).map_err(|e| temporary(e.to_string()))?;
    let reply = conn
        .command(&line, COMMAND_TIMEOUT, "the reply to LHLO")
        .await
        .map_err(|e| io(e, "LHLO"))?;
    if reply.code != 250 {
        return Err(deferred(Failure::from_reply(&remote, &reply, "LHLO")));
    }
    Ok(Session {
        conn,
        caps: Capabilities::from_ehlo(&reply),
        transactions: 0,
        opened: tokio::time::Instant::now(),
        lmtp: true,
    })
}

fn temporary(detail: String) -> Failure {
    Failure::local((4, 4, 1), detail)
}

/// A refusal before any transaction is the store's trouble, not the
/// recipients': try again later.
fn deferred(mut f: Failure) -> Failure {
    f.status.0 = 4;
    f
}

//! Opening a delivery session to a route: connect to each candidate address
//! in turn, read the greeting, EHLO (HELO if refused), STARTTLS as
//! `tls.outbound` and the route ask, AUTH towards the smarthost.

use std::path::Path;
use std::time::Duration;

use portcullis_config::TlsOutbound;
use portcullis_queue::loops::OwnListeners;
use portcullis_queue::{Failure, Route};
use portcullis_smtp::client::{
    ehlo, helo, starttls, AuthClient, AuthMechanism, AuthStep, Capabilities,
};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::conn::{Conn, ConnError};
use super::mta_sts;
use super::resolve::{Candidate, Resolver};
use super::tls::{server_name, TlsClients};
use crate::runtime::Runtime;

/// Connecting: not in RFC 5321; Postfix's smtp_connect_timeout.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 5321 §4.5.3.2.1: initial 220 message, 5 minutes.
pub(super) const GREETING_TIMEOUT: Duration = Duration::from_secs(300);
/// EHLO, STARTTLS, AUTH, RSET: like MAIL (RFC 5321 §4.5.3.2.2), 5 minutes.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// An open, ready session: greeted, EHLO done, TLS and AUTH as required.
pub(super) struct Session {
    /// The connection.
    pub conn: Conn,
    /// What the server offers (after STARTTLS, the second EHLO's answer).
    pub caps: Capabilities,
    /// Transactions done on it.
    pub transactions: u32,
    /// When it was opened.
    pub opened: tokio::time::Instant,
    /// Spoken as LMTP (RFC 2033): one reply per recipient after the data.
    pub lmtp: bool,
}

/// How a session attempt to one address failed.
enum OpenError {
    /// The TLS handshake failed where plaintext would be allowed: retry
    /// the same address without STARTTLS (Postfix does the same for `may`).
    TlsFallback(Failure),
    /// Try the next address.
    Failed(Failure),
}

/// What the session needs from the configuration.
pub(super) struct Settings<'a> {
    /// EHLO name.
    pub hostname: &'a str,
    /// `tls.outbound`.
    pub tls_policy: TlsOutbound,
    /// Smarthost credentials: (user, password file).
    pub credentials: Option<(&'a str, &'a Path)>,
    /// Our own listeners: a next hop among them is a mail loop.
    pub own: OwnListeners,
    /// The recipient domain, for the loop's bounce text.
    pub domain: String,
    /// `queue.mta_sts_port`: where MTA-STS policies are fetched.
    pub mta_sts_port: u16,
}

impl<'a> Settings<'a> {
    /// The settings for `route` under `config`.
    pub(super) fn new(rt: &'a Runtime, route: &Route, domain: &str) -> Settings<'a> {
        let config = &rt.config;
        let relay = &rt.site.site.relay;
        let credentials = match (route, &relay.smarthost_user, &relay.smarthost_password_file) {
            (Route::Smarthost(_), Some(user), Some(file)) => Some((user.as_str(), file.as_path())),
            _ => None,
        };
        let l = &config.listen;
        Settings {
            hostname: &config.hostname,
            tls_policy: config.tls.outbound,
            credentials,
            own: OwnListeners {
                listen: l
                    .smtp
                    .iter()
                    .chain(&l.submission)
                    .chain(&l.submissions)
                    .copied()
                    .collect(),
                interfaces: crate::runtime::interface_addresses().into_iter().collect(),
            },
            domain: domain.to_string(),
            mta_sts_port: config.queue.mta_sts_port,
        }
    }
}

/// Opens a session for `route`, trying its addresses in order. The error is
/// the last address's failure (or the route's own, e.g. a null MX).
pub(super) async fn open(
    route: &Route,
    resolver: &Resolver,
    tls: &TlsClients,
    settings: &Settings<'_>,
) -> Result<Session, Failure> {
    let mut candidates = resolver
        .candidates(route, &[settings.hostname.to_string()])
        .await?;
    // RFC 5321 §5.1: never send to ourselves. Candidates come best first,
    // so a host from our own listener on is no better than us: drop them.
    if let Some(first_self) = candidates
        .iter()
        .position(|c| settings.own.is_self(c.addr.ip(), c.addr.port()))
    {
        let me = candidates[first_self].addr;
        candidates.truncate(first_self);
        if candidates.is_empty() {
            warn!(next_hop = %me, "mail for {} loops back to myself", settings.domain);
            return Err(Failure::local(
                (5, 4, 6),
                format!(
                    "mail for {} loops back to myself ({me} is this server)",
                    settings.domain
                ),
            ));
        }
    }
    // RFC 8461: only MX delivery consults the destination's MTA-STS policy.
    let sts = match route {
        Route::Mx { domain, .. } => {
            mta_sts::policy_for(domain, resolver, &tls.verified, settings.mta_sts_port).await
        }
        _ => None,
    };
    if let Some(sts) = &sts {
        candidates = sts.filter(candidates)?;
    }
    let enforce = sts.as_ref().is_some_and(|s| s.enforce());
    // Certificates are verified towards the smarthost (it gets the
    // password and all our mail), everywhere under "require", and to the
    // MX hosts of an enforced MTA-STS policy (RFC 8461 §4.2).
    let verify = matches!(route, Route::Smarthost(_))
        || settings.tls_policy == TlsOutbound::Require
        || enforce;
    // Plaintext is refused under "require", under an enforced MTA-STS
    // policy, and whenever a password would cross the wire.
    let must_tls =
        settings.tls_policy == TlsOutbound::Require || settings.credentials.is_some() || enforce;
    let mut last = Failure::local((4, 4, 1), "no address to connect to");
    for candidate in &candidates {
        match open_one(candidate, tls, settings, verify, must_tls, true).await {
            Ok(s) => return Ok(s),
            Err(OpenError::TlsFallback(f)) => {
                warn!(host = %candidate.remote(), "{}; retrying without TLS", f.detail);
                match open_one(candidate, tls, settings, verify, must_tls, false).await {
                    Ok(s) => return Ok(s),
                    Err(OpenError::TlsFallback(f) | OpenError::Failed(f)) => last = f,
                }
            }
            Err(OpenError::Failed(f)) => {
                info!(host = %candidate.remote(), "cannot deliver through this host: {f}");
                last = f;
            }
        }
    }
    if let Some(sts) = sts.as_ref().filter(|s| s.enforce()) {
        last.detail = sts.say(&last.detail);
    }
    Err(last)
}

async fn open_one(
    candidate: &Candidate,
    tls: &TlsClients,
    settings: &Settings<'_>,
    verify: bool,
    must_tls: bool,
    try_tls: bool,
) -> Result<Session, OpenError> {
    let remote = candidate.remote();
    let failed =
        |status: (u8, u16, u16), what: String| OpenError::Failed(Failure::local(status, what));
    let io = |e: ConnError, during: &str| failed((4, 4, 2), format!("{during} with {remote}: {e}"));

    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(candidate.addr)).await
    {
        Err(_) => {
            return Err(failed(
                (4, 4, 1),
                format!("connect to {}: timed out", candidate.addr),
            ))
        }
        Ok(Err(e)) => {
            return Err(failed(
                (4, 4, 1),
                format!("connect to {}: {e}", candidate.addr),
            ))
        }
        Ok(Ok(t)) => t,
    };
    let mut conn = Conn::new(tcp, remote.clone());
    let greeting = conn
        .read_reply(GREETING_TIMEOUT, "the greeting")
        .await
        .map_err(|e| io(e, "greeting"))?;
    if greeting.code != 220 {
        // RFC 5321 §3.1: a 554 (or any non-220) greeting: go elsewhere.
        return Err(OpenError::Failed(Failure::from_reply(
            &remote,
            &greeting,
            "initial greeting",
        )));
    }
    let mut caps = say_hello(&mut conn, settings.hostname).await?;

    if caps.starttls && try_tls {
        let reply = conn
            .command(&starttls(), COMMAND_TIMEOUT, "the reply to STARTTLS")
            .await
            .map_err(|e| io(e, "STARTTLS"))?;
        if reply.code == 220 {
            let config = if verify {
                tls.verified.clone()
            } else {
                tls.unverified.clone()
            };
            let name = server_name(&candidate.name).map_err(|e| failed((4, 7, 5), e))?;
            conn = match conn.start_tls(config, name, COMMAND_TIMEOUT).await {
                Ok(c) => c,
                Err(e @ ConnError::Tls(_)) if !verify && !must_tls => {
                    return Err(OpenError::TlsFallback(Failure::local(
                        (4, 7, 5),
                        format!("TLS with {remote} failed: {e}"),
                    )))
                }
                Err(e) => return Err(failed((4, 7, 5), format!("TLS with {remote} failed: {e}"))),
            };
            debug!(host = %remote, verified = verify, "TLS established");
            // RFC 3207 §4.2: forget what was learnt before TLS; ask again.
            caps = say_hello(&mut conn, settings.hostname).await?;
        } else if must_tls {
            return Err(OpenError::Failed(Failure::from_reply(
                &remote, &reply, "STARTTLS",
            )));
        }
    }
    if must_tls && !conn.tls {
        return Err(failed(
            (4, 7, 5),
            format!("TLS is required but {remote} does not offer STARTTLS"),
        ));
    }

    if let Some((user, password_file)) = settings.credentials {
        authenticate(&mut conn, &caps, user, password_file).await?;
    }
    Ok(Session {
        conn,
        caps,
        transactions: 0,
        opened: tokio::time::Instant::now(),
        lmtp: false,
    })
}

/// EHLO, or HELO when EHLO is refused with 5xx (RFC 5321 §3.2).
async fn say_hello(conn: &mut Conn, hostname: &str) -> Result<Capabilities, OpenError> {
    let remote = conn.remote.clone();
    let io = |e: ConnError| {
        OpenError::Failed(Failure::local(
            (4, 4, 2),
            format!("EHLO with {remote}: {e}"),
        ))
    };
    let line =
        ehlo(hostname).map_err(|e| OpenError::Failed(Failure::local((4, 3, 5), e.to_string())))?;
    let reply = conn
        .command(&line, COMMAND_TIMEOUT, "the reply to EHLO")
        .await
        .map_err(io)?;
    if reply.code == 250 {
        return Ok(Capabilities::from_ehlo(&reply));
    }
    if reply.code / 100 == 5 && reply.code != 554 {
        let line = helo(hostname)
            .map_err(|e| OpenError::Failed(Failure::local((4, 3, 5), e.to_string())))?;
        let reply = conn
            .command(&line, COMMAND_TIMEOUT, "the reply to HELO")
            .await
            .map_err(io)?;
        if reply.code == 250 {
            return Ok(Capabilities::default());
        }
        return Err(OpenError::Failed(Failure::from_reply(
            &conn.remote,
            &reply,
            "HELO",
        )));
    }
    Err(OpenError::Failed(Failure::from_reply(
        &conn.remote,
        &reply,
        "EHLO",
    )))
}

/// AUTH PLAIN or LOGIN (RFC 4954), only ever over TLS (checked by the
/// caller). A refusal is temporary: a wrong password is an admin's mistake
/// to fix, not a reason to bounce the mail.
async fn authenticate(
    conn: &mut Conn,
    caps: &Capabilities,
    user: &str,
    password_file: &Path,
) -> Result<(), OpenError> {
    let remote = conn.remote.clone();
    let failed = |what: String| OpenError::Failed(Failure::local((4, 7, 0), what));
    if !conn.tls {
        return Err(failed(format!(
            "refusing to send the smarthost password to {remote} without TLS"
        )));
    }
    let password = read_password(password_file).map_err(failed)?;
    let mechanism = AuthMechanism::choose(&caps.auth).ok_or_else(|| {
        failed(format!(
            "{remote} offers no AUTH mechanism Portcullis can use (PLAIN, LOGIN); it offers [{}]",
            caps.auth.join(" ")
        ))
    })?;
    let mut client = AuthClient::new(mechanism, user, &password);
    let mut bytes = client.start();
    // Bounded: a server that keeps sending 334 gets "*" and then gives up.
    for _ in 0..4 {
        let reply = conn
            .command(&bytes, COMMAND_TIMEOUT, "the reply to AUTH")
            .await
            .map_err(|e| failed(format!("AUTH with {remote}: {e}")))?;
        match client.on_reply(&reply) {
            AuthStep::Done => {
                info!(host = %remote, user, mechanism = mechanism.name(), "authenticated to the smarthost");
                return Ok(());
            }
            AuthStep::Send(next) => bytes = next,
            AuthStep::Failed(reply) => {
                let mut f = Failure::from_reply(&remote, &reply, "AUTH");
                f.status.0 = 4;
                return Err(OpenError::Failed(f));
            }
        }
    }
    Err(failed(format!("AUTH with {remote} did not finish")))
}

/// The password: the file's first line, without its line end.
fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read relay.smarthost_password_file {}: {e}",
            path.display()
        )
    })?;
    let line = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    if line.is_empty() {
        return Err(format!(
            "relay.smarthost_password_file {} is empty",
            path.display()
        ));
    }
    Ok(line)
}

//! One client connection: a thin tokio driver around the sans-IO
//! [`Session`]. It moves bytes, enforces the session's deadlines, and answers
//! the session's questions (recipient rulings, storage) with the runtime the
//! connection started with.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use portcullis_directory::recipient::{self, Decision};
use portcullis_relay::ReverseDns;
use portcullis_smtp::session::{
    Action, AuthAnswer, AuthRequest, Event, Message, RecipientCheck, Secret, Session,
    SessionConfig, Timeouts,
};
use portcullis_smtp::Reply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tracing::{error, info, info_span, warn, Instrument};

use super::auth_guard::{self, AuthGuard};
use super::incoming::Incoming;
use super::limits::{self, SessionWatch};
use super::metrics;
use super::rulings::{self, Rulings};
use super::runtime::Runtime;
use super::stats::Stats;
use super::store::{self, Job};
use super::{Role, Shared};
use portcullis_relay::range::canonical;

/// SPF, DKIM and DMARC of a message from outside (docs/deliverability.md):
/// the `Authentication-Results:` header to add and the forged ones to drop,
/// or the refusal `inbound.dmarc_reject` asks for.
async fn check_inbound(
    shared: &Shared,
    rt: &Runtime,
    msg: &Message,
    ip: IpAddr,
    body: &super::incoming::Body,
) -> Result<store::InboundResult, Reply> {
    // Memory stays bounded: the whole message is held only with a turn.
    let turn = if body.len() > super::inbound::MAX_VERIFIED {
        Err("message too large to verify")
    } else {
        tokio::time::timeout(rt.dns.deadline(), shared.verifying.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or("too many messages being verified at once")
    };
    let verified = turn.is_ok();
    let mut message = Vec::new();
    if verified {
        message.reserve(usize::try_from(body.len()).unwrap_or(0));
        if let Err(e) = body.feed(&mut |chunk| message.extend_from_slice(chunk)) {
            warn!("inbound checks skipped: cannot read the message: {e}");
            return Ok(store::InboundResult::default());
        }
    }
    let mail_from = msg.mail_from.to_string();
    let input = super::inbound::Inputs {
        hostname: &rt.config.hostname,
        client: ip,
        helo: &msg.helo,
        mail_from: &mail_from,
        message: turn
            .as_ref()
            .map(|_| message.as_slice())
            .map_err(|why| *why),
        dmarc_reject: rt.config.inbound.dmarc_reject,
    };
    let verdict = super::inbound::check(&rt.dns.authenticator(), &input, rt.dns.deadline()).await;
    if let Some(reply) = verdict.refuse {
        return Err(reply);
    }
    Ok(store::InboundResult {
        header: verdict.header,
        strip: super::inbound::strip_forged(body.head(), &rt.config.hostname),
    })
}

/// A sender whose mail is ours to vouch for: an authenticated session or
/// a client `relay.allow` admits (docs/deliverability.md). Its mail is
/// DKIM-signed and not checked as mail from outside.
fn trusted(rt: &Runtime, msg: &Message, ip: IpAddr, rdns: &ReverseDns) -> bool {
    msg.auth_user.is_some()
        || matches!(
            rt.policy.list.lookup(ip, rdns),
            portcullis_relay::ListMatch::Allow { .. }
        )
}

/// Writing a reply must not take longer than this (a client that stops reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// The TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The per-session read buffer: its first size, and the most it grows to.
const READ_BUF_MIN: usize = 2 * 1024;
const READ_BUF_MAX: usize = 32 * 1024;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// The connection's byte stream, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Session settings from the runtime and the listener's role.
fn session_config(
    rt: &Runtime,
    role: Role,
    tls_active: bool,
    auth_secret: &Secret,
) -> SessionConfig {
    let c = &rt.config;
    SessionConfig {
        hostname: c.hostname.clone(),
        max_message_size: c.limits.message_size,
        max_recipients: c.limits.recipients,
        max_errors: c.limits.errors,
        max_commands_before_mail: c.limits.commands_before_mail,
        bare_lf: c.smtp.bare_lf,
        timeouts: Timeouts {
            command: Duration::from_secs(c.limits.command_timeout),
            data_block: Duration::from_secs(c.limits.data_timeout),
        },
        starttls: rt.tls.is_some() && !tls_active,
        tls_active,
        require_auth: role != Role::Smtp,
        auth_mechanisms: c.auth.mechanisms.clone(),
        plaintext_requires_tls: c.auth.plaintext_requires_tls,
        random_seed: Secret::random(),
        auth_secret: auth_secret.clone(),
    }
}

/// Serves one connection to the end.
pub async fn handle(
    shared: Arc<Shared>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    role: Role,
    shutdown: watch::Receiver<bool>,
) {
    // On a proxied listener the real client comes from the PROXY header and
    // takes the peer's place for every decision and log line below.
    let at_accept = shared.current.get();
    let peer = match super::proxy::real_client(&at_accept.config.listen, &mut tcp, peer).await {
        Ok(client) => {
            if let super::proxy::Client::Proxied(_) = client {
                shared.stats.proxy.add("result=\"accepted\"");
            }
            client.addr()
        }
        Err(refused) => {
            shared.stats.proxy.add("result=\"refused\"");
            info!("{refused}");
            return;
        }
    };
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let ip = canonical(peer.ip());
    let span = info_span!("session", id, client = %ip);
    Stats::bump(&shared.stats.connections);
    shared
        .stats
        .connections_by_role
        .add(&format!("listener=\"{}\"", role.name()));
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    run(&shared, tcp, ip, peer, role, shutdown)
        .instrument(span)
        .await;
    shared.stats.sessions.fetch_sub(1, Ordering::Relaxed);
}

async fn run(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    ip: IpAddr,
    peer: SocketAddr,
    role: Role,
    mut shutdown: watch::Receiver<bool>,
) {
    // The runtime this session keeps to its end, whatever reloads happen.
    let rt = shared.current.get();
    info!(port = peer.port(), role = role.name(), "connect");
    let _ = tcp.set_nodelay(true);
    // A banned address is refused before it costs anything more: no reverse
    // DNS, no greeting. Implicit TLS gets the 421 after the handshake, where
    // the client can read it.
    // Never lock out the operator: an address exempt by its own entry
    // (no DNS needed) is not refused even when its IPv6 /64 was banned, or
    // when the ban predates its never_ban entry.
    let exempt = portcullis_limits::auth_throttle::exemption(
        ip,
        &ReverseDns::NotChecked,
        &rt.policy.list,
        &rt.never_ban,
    )
    .is_some();
    let banned = auth_guard::banned(&shared.auth_throttle, ip).filter(|_| !exempt);
    if let (Some(ban), false) = (&banned, role == Role::Submissions) {
        let mut tcp = tcp;
        limits::count(&shared.stats, "auth.ban_after");
        auth_guard::refuse(&mut tcp, ban).await;
        return;
    }
    // Abuse limits (issue 7 §4): over one, the client gets 421 4.7.0 before
    // it costs a DNS lookup or a greeting. The permit frees its place on drop.
    let _permit = match limits::admit(&rt, ip, &shared.stats) {
        Ok(permit) => permit,
        Err(reply) => {
            if role != Role::Submissions {
                limits::refuse(tcp, &reply).await;
            }
            return;
        }
    };
    let rdns = if rt.policy.list.needs_reverse_dns(ip) || rt.never_ban.needs_reverse_dns(ip) {
        rt.dns.verified_names(ip).await
    } else {
        ReverseDns::NotChecked
    };
    let client_name = match &rdns {
        ReverseDns::Verified(names) => names.first().cloned(),
        _ => None,
    };
    // Early talkers: a plaintext client must wait for the greeting (on
    // implicit TLS the client speaks first by design).
    let tcp = match role {
        Role::Submissions => tcp,
        _ => match limits::greet_check(tcp, &rt.config, &shared.stats).await {
            Some(tcp) => tcp,
            None => return,
        },
    };
    let mut stream = match role {
        Role::Submissions => match &rt.tls {
            Some(tls) => match handshake(tls.clone(), tcp).await {
                Ok(s) => {
                    shared.stats.tls_handshakes.add("result=\"ok\"");
                    s
                }
                Err(e) => {
                    shared.stats.tls_handshakes.add("result=\"failed\"");
                    info!("TLS handshake failed: {e}");
                    return;
                }
            },
            None => {
                warn!("no TLS certificate: closing implicit-TLS connection");
                return;
            }
        },
        _ => Stream::Plain(tcp),
    };
    if let Some(ban) = &banned {
        limits::count(&shared.stats, "auth.ban_after");
        auth_guard::refuse(&mut stream, ban).await;
        return;
    }
    let guard = AuthGuard::new(&rt, ip, &rdns);
    let tls_active = matches!(stream, Stream::Tls(_));
    let mut session = Session::new(
        session_config(&rt, role, tls_active, &shared.auth_secret),
        Instant::now(),
    );
    let watch = SessionWatch::new(&rt.config);
    // The content of the message being received (memory, then a scratch file).
    let mut incoming = Incoming::new(shared.spool.clone());
    // Where each accepted recipient goes, ruled at RCPT, stored against at DATA.
    let mut rulings = Rulings::default();
    // Start small: thousands of idle sessions must stay cheap. A read that
    // fills the buffer means a bulk sender (DATA): grow it for fewer syscalls.
    let mut buf = vec![0u8; READ_BUF_MIN];
    let mut shutting_down = *shutdown.borrow();
    if shutting_down {
        session.begin_shutdown();
    }
    loop {
        match session.next_action(Instant::now()) {
            Action::Send(mut bytes) => {
                // The brute-force defence acts on the replies AUTH produced:
                // a failure's reply may wait, or be followed by a 421.
                let after = observe(&mut session, shared, &guard);
                if !after.delay.is_zero() {
                    tokio::time::sleep(after.delay).await;
                }
                if after.close {
                    let refusal = auth_guard::refusal();
                    metrics::count_rejection(
                        &shared.stats.rejections,
                        refusal.code,
                        refusal.enhanced,
                    );
                    refusal.write_to(&mut bytes);
                }
                let write = async {
                    stream.write_all(&bytes).await?;
                    stream.flush().await
                };
                match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                    Ok(Ok(())) => {}
                    _ => {
                        info!("client stopped reading");
                        break;
                    }
                }
                if after.close {
                    break;
                }
            }
            Action::CheckRecipient(check) => {
                let ruling = rule_on(shared, &rt, &check, (ip, &rdns), &mut rulings);
                session.recipient_decision(ruling);
            }
            Action::MessageData(bytes) => incoming.append(bytes).await,
            Action::DiscardMessage => incoming.discard(),
            Action::StoreMessage(msg) => {
                let body = match incoming.take() {
                    Ok(body) => body,
                    Err(e) => {
                        warn!("message not stored: {e}");
                        shared.stats.messages_rejected.add("reason=\"local_error\"");
                        session.message_stored(Err(local_error()));
                        continue;
                    }
                };
                // RFC 5321 §6.3: too many hops is a mail loop; refuse before anything is kept.
                if portcullis_queue::loops::too_many_hops(body.head(), rt.config.limits.max_hops) {
                    info!(from = %msg.mail_from, "message refused: more than limits.max_hops ({}) Received headers: a mail loop", rt.config.limits.max_hops);
                    shared.stats.messages_rejected.add("reason=\"loop\"");
                    session.message_stored(Err(Reply::new(
                        554,
                        (5, 4, 6),
                        "Too many hops: mail loop detected",
                    )));
                    continue;
                }
                let trusted = trusted(&rt, &msg, ip, &rdns);
                let inbound = if !trusted && rt.config.inbound.checks {
                    match check_inbound(shared, &rt, &msg, ip, &body).await {
                        Ok(found) => Some(found),
                        Err(reply) => {
                            info!(from = %msg.mail_from, "message refused: {}", reply.lines.join(" "));
                            shared.stats.messages_rejected.add("reason=\"dmarc\"");
                            session.message_stored(Err(reply));
                            continue;
                        }
                    }
                } else {
                    None
                };
                let Some(plan) = rulings.plan(&msg) else {
                    error!(from = %msg.mail_from, "message not stored: a recipient has no ruling from RCPT");
                    shared.stats.messages_rejected.add("reason=\"local_error\"");
                    session.message_stored(Err(local_error()));
                    continue;
                };
                let relayed = !plan.remote.is_empty();
                let dkim = trusted.then(|| rt.dkim.clone());
                let job = Job {
                    config: rt.config.clone(),
                    spool: shared.spool.clone(),
                    plan,
                    msg,
                    body,
                    client_ip: ip,
                    client_name: client_name.clone(),
                    dkim,
                    inbound,
                };
                let span = tracing::Span::current();
                let result =
                    match tokio::task::spawn_blocking(move || span.in_scope(|| store::store(job)))
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => {
                            warn!("storage task failed: {e}");
                            Err(local_error())
                        }
                    };
                if let Ok(id) = &result {
                    if relayed {
                        shared.outbound.kick(id);
                    }
                    Stats::bump(&shared.stats.messages_accepted);
                } else {
                    shared.stats.messages_rejected.add("reason=\"local_error\"");
                }
                session.message_stored(result);
            }
            Action::Authenticate(request) => {
                let answer = authenticate(shared, request).await;
                session.auth_answer(answer);
                // Counted now, before any pipelined guess behind this one is
                // read: the delay holds them back, and a ban stops them
                // unverified. (Outcomes decided while reading, such as a
                // SCRAM proof, are counted at the next Send above.)
                let after = observe(&mut session, shared, &guard);
                if !after.delay.is_zero() {
                    tokio::time::sleep(after.delay).await;
                }
                if after.close {
                    session.close_with(auth_guard::refusal());
                }
            }
            Action::StartTls => {
                let Some(tls) = rt.tls.clone() else { break };
                let Stream::Plain(tcp) = stream else { break };
                match handshake(tls, tcp).await {
                    Ok(s) => {
                        shared.stats.tls_handshakes.add("result=\"ok\"");
                        info!("TLS established");
                        stream = s;
                        session.tls_established();
                    }
                    Err(e) => {
                        shared.stats.tls_handshakes.add("result=\"failed\"");
                        // Only this connection is affected.
                        info!("TLS handshake failed: {e}");
                        return;
                    }
                }
            }
            Action::NeedInput => {
                // limits.session_time: however busy the client keeps it
                // (a read that is always ready never times out), the session ends.
                if watch.expired(Instant::now()) {
                    info!("session time limit reached");
                    limits::count(&shared.stats, "session_time");
                    let reply = SessionWatch::expired_reply(&rt.config).to_bytes();
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&reply)).await;
                    break;
                }
                let deadline =
                    tokio::time::Instant::from_std(session.deadline().min(watch.deadline()));
                tokio::select! {
                    read = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match read {
                        // The session deadline: checked again at the next NeedInput.
                        Err(_) if watch.expired(Instant::now()) => {}
                        Err(_) => {
                            info!("timeout");
                            session.on_timeout(Instant::now());
                        }
                        Ok(Ok(0)) | Ok(Err(_)) => session.peer_closed(),
                        Ok(Ok(n)) => {
                            session.feed(&buf[..n], Instant::now());
                            if n == buf.len() && buf.len() < READ_BUF_MAX {
                                buf.resize(buf.len() * 4, 0);
                            }
                        }
                    },
                    _ = shutdown.changed(), if !shutting_down => {
                        shutting_down = true;
                        session.begin_shutdown();
                    }
                }
            }
            Action::Close => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
    info!(
        helo = session.helo().unwrap_or(""),
        tls = session.is_tls(),
        auth = session.auth_user().unwrap_or(""),
        "disconnect"
    );
}

/// Takes what the session reported since the last look: counts it, logs
/// the limit that ended the session, and lets the brute-force defence rule
/// on the AUTH verdicts (delay the reply, or follow it with a 421).
fn observe(session: &mut Session, shared: &Shared, guard: &AuthGuard) -> auth_guard::After {
    let events = session.take_events();
    for event in &events {
        metrics::observe(&shared.stats, event);
        if let Event::LimitReached(limit) = event {
            info!(limit = limit.key(), "session limit reached");
            limits::count(&shared.stats, limit.key());
        }
    }
    guard.account(&shared.auth_throttle, Event::auth_outcomes(&events))
}

/// `451 4.3.0`: the message could not be kept (full disk, I/O error).
fn local_error() -> Reply {
    Reply::new(451, (4, 3, 0), "Local error in processing, try again later")
}

/// Rules on one recipient with this session's runtime, logging the deciding rule.
/// Where an accepted recipient goes is kept in `rulings` for its transaction.
fn rule_on(
    shared: &Shared,
    rt: &Runtime,
    check: &RecipientCheck,
    (ip, rdns): (IpAddr, &ReverseDns),
    rulings: &mut Rulings,
) -> Result<(), Reply> {
    let users = shared.users.get();
    let ctx = rt.recipients(&users);
    let decision = recipient::decide(&ctx, &check.mailbox, ip, rdns, check.auth_user.as_deref());
    if let Some(destinations) = rulings::destinations(&ctx, &check.mailbox, &decision) {
        rulings.record(check, destinations);
    }
    let rule = decision.rule();
    if let Decision::Remote(d) = &decision {
        // The rule's kind (`allow`, `auth`, `except`, `denied`…), not the
        // entry: one series per kind keeps the label set small.
        shared.stats.relay_decisions.add(&format!(
            "result=\"{}\",rule=\"{}\"",
            d.result(),
            d.rule_kind()
        ));
    }
    match &decision {
        Decision::Remote(d) if d.reply().is_none() => {
            Stats::bump(&shared.stats.relay_grants);
            info!(from = %check.mail_from, rcpt = %check.mailbox, relay = %rule, "relay granted");
        }
        Decision::Remote(_) => {
            Stats::bump(&shared.stats.relay_denials);
            info!(from = %check.mail_from, rcpt = %check.mailbox, relay = %rule, "relay denied");
        }
        _ => {
            info!(from = %check.mail_from, rcpt = %check.mailbox, rule = %rule, accepted = decision.accepted(), "recipient")
        }
    }
    match decision.reply() {
        None => Ok(()),
        Some(reply) => Err(reply),
    }
}

/// Looks up what the session needs to check a login. Argon2 runs through
/// the password gate (a bounded number at a time; `454 4.7.0` when it is
/// full); an unknown user costs the same hash as a wrong password, so
/// timing does not reveal which names exist.
async fn authenticate(shared: &Shared, request: AuthRequest) -> AuthAnswer {
    let users = shared.users.get();
    match request {
        AuthRequest::Password { user, password, .. } => {
            let verified = shared
                .password_gate
                .run(move || match users.get(&user) {
                    Some(creds) => creds.verify_password(password.as_bytes()),
                    None => {
                        portcullis_directory::users::burn_password_check(password.as_bytes());
                        false
                    }
                })
                .await;
            match verified {
                Ok(v) => AuthAnswer::Verified(v),
                Err(busy) => {
                    info!(reason = ?busy, "password check not run: too many at once; 454");
                    limits::count(&shared.stats, "password_checks_waiting");
                    AuthAnswer::Unavailable
                }
            }
        }
        AuthRequest::CramMd5 { user, challenge } => {
            AuthAnswer::CramMd5Digest(users.get(&user).map(|c| c.cram_md5_digest(&challenge)))
        }
        AuthRequest::ScramKeys { user } => {
            AuthAnswer::ScramKeys(users.get(&user).map(|c| c.scram_keys().clone()))
        }
    }
}

async fn handshake(tls: Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<Stream> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

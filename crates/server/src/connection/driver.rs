//! The driver loop: asks the sans-IO [`Session`] what to do next and does
//! it, one method per action. It moves bytes, enforces the deadlines, and
//! answers with the runtime the connection started with.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_relay::ReverseDns;
use portcullis_smtp::session::{
    Action, AuthRequest, Event, RecipientCheck, Secret, Session, SessionConfig, Timeouts,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::info;

use super::admission::Admitted;
use super::front::{front, Known};
use super::read_buffer::ReadBuffer;
use super::recipients::{authenticate, rule_on};
use super::stream::{handshake, Stream};
use crate::auth_guard::{self, AuthGuard};
use crate::incoming::Incoming;
use crate::limits::{self, Permit, SessionWatch};
use crate::metrics;
use crate::rulings::Rulings;
use crate::runtime::Runtime;
use crate::{Role, Shared};

/// Writing a reply must not take longer than this (a client that stops reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the loop does after an action.
enum Flow {
    Next,
    /// Close: shut the stream down and log the disconnect.
    End,
    /// The stream is gone (a failed STARTTLS handshake): nothing to close.
    Abort,
}

/// One admitted connection's session and everything it works with.
pub(super) struct Driver<'a> {
    pub(super) shared: &'a Arc<Shared>,
    /// The runtime this session keeps to its end, whatever reloads happen.
    pub(super) rt: Arc<Runtime>,
    pub(super) ip: IpAddr,
    pub(super) rdns: ReverseDns,
    /// The first verified reverse-DNS name, for the Received: header.
    pub(super) client_name: Option<String>,
    pub(super) session: Session,
    /// The content of the message being received (memory, then a scratch file).
    pub(super) incoming: Incoming,
    /// Where each accepted recipient goes, ruled at RCPT, stored against at DATA.
    pub(super) rulings: Rulings,
    stream: Option<Stream>,
    guard: AuthGuard,
    watch: SessionWatch,
    buf: ReadBuffer,
    shutdown: watch::Receiver<bool>,
    shutting_down: bool,
    _permit: Permit,
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        shared: &'a Arc<Shared>,
        rt: Arc<Runtime>,
        ip: IpAddr,
        role: Role,
        admitted: Admitted,
        shutdown: watch::Receiver<bool>,
    ) -> Driver<'a> {
        let Admitted {
            stream,
            rdns,
            _permit,
        } = admitted;
        let client_name = match &rdns {
            ReverseDns::Verified(names) => names.first().cloned(),
            _ => None,
        };
        let tls_active = matches!(stream, Stream::Tls(_));
        let mut session = Session::new(
            session_config(&rt, role, tls_active, &shared.auth_secret),
            Instant::now(),
        );
        let shutting_down = *shutdown.borrow();
        if shutting_down {
            session.begin_shutdown();
        }
        Driver {
            shared,
            guard: AuthGuard::new(&rt, ip, &rdns),
            watch: SessionWatch::new(&rt.config),
            incoming: Incoming::new(shared.spool.clone()),
            rulings: Rulings::default(),
            buf: ReadBuffer::new(),
            stream: Some(stream),
            rt,
            ip,
            rdns,
            client_name,
            session,
            shutdown,
            shutting_down,
            _permit,
        }
    }

    /// Runs the session to its end. Takes `&mut self`, not `self`: the
    /// caller boxes the driver, so its state is stored once on the heap
    /// (an async fn keeps a by-value argument twice in its future).
    pub(super) async fn run(&mut self) {
        loop {
            let flow = match self.session.next_action(Instant::now()) {
                Action::Send(bytes) => self.send(bytes).await,
                Action::CheckRecipient(check) => self.check_recipient(&check),
                Action::MessageData(bytes) => {
                    self.message_data(bytes).await;
                    Flow::Next
                }
                Action::DiscardMessage => {
                    self.incoming.discard().await;
                    Flow::Next
                }
                // Boxed: an idle session's task holds only the largest
                // future it is waiting on, so the rare big ones (storing a
                // message, a login, a handshake) live on the heap while
                // they run instead of in every session's task for its life.
                Action::StoreMessage(msg) => {
                    Box::pin(self.store_message(msg)).await;
                    Flow::Next
                }
                Action::Authenticate(request) => Box::pin(self.authenticate(request)).await,
                Action::StartTls => Box::pin(self.start_tls()).await,
                Action::NeedInput => self.need_input().await,
                Action::Close => Flow::End,
            };
            match flow {
                Flow::Next => {}
                Flow::End => break,
                Flow::Abort => return,
            }
        }
        if let Some(stream) = self.stream.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
        }
        info!(
            helo = self.session.helo().unwrap_or(""),
            tls = self.session.is_tls(),
            auth = self.session.auth_user().unwrap_or(""),
            "disconnect"
        );
    }

    fn stream(&mut self) -> &mut Stream {
        // Invariant: only `start_tls` takes the stream, and it puts one back
        // or ends the session with `Flow::Abort`.
        self.stream
            .as_mut()
            .expect("the stream is in place between actions")
    }

    /// Writes replies. The brute-force defence acts on the replies AUTH
    /// produced: a failure's reply may wait, or be followed by a 421.
    async fn send(&mut self, mut bytes: Vec<u8>) -> Flow {
        let after = self.observe();
        if !after.delay.is_zero() {
            tokio::time::sleep(after.delay).await;
        }
        if after.close {
            let refusal = auth_guard::refusal();
            metrics::count_rejection(
                &self.shared.stats.rejections,
                refusal.code,
                refusal.enhanced,
            );
            refusal.write_to(&mut bytes);
        }
        let stream = self.stream();
        let write = async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) if !after.close => Flow::Next,
            Ok(Ok(())) => Flow::End,
            _ => {
                info!("client stopped reading");
                Flow::End
            }
        }
    }

    /// Appends content to the message being received; a large one's file
    /// starts with its trace headers where they are known already.
    async fn message_data(&mut self, bytes: Vec<u8>) {
        let known = Known {
            session: &self.session,
            rulings: &self.rulings,
            rt: &self.rt,
            ip: self.ip,
            rdns: &self.rdns,
            client_name: self.client_name.as_deref(),
        };
        self.incoming
            .append(bytes, |head| front(&known, head))
            .await;
    }

    fn check_recipient(&mut self, check: &RecipientCheck) -> Flow {
        let ruling = rule_on(
            self.shared,
            &self.rt,
            check,
            (self.ip, &self.rdns),
            &mut self.rulings,
        );
        self.session.recipient_decision(ruling);
        Flow::Next
    }

    async fn authenticate(&mut self, request: AuthRequest) -> Flow {
        let answer = authenticate(self.shared, request).await;
        self.session.auth_answer(answer);
        // Counted now, before any pipelined guess behind this one is read:
        // the delay holds them back, and a ban stops them unverified.
        // (Outcomes decided while reading, such as a SCRAM proof, are
        // counted at the next Send.)
        let after = self.observe();
        if !after.delay.is_zero() {
            tokio::time::sleep(after.delay).await;
        }
        if after.close {
            self.session.close_with(auth_guard::refusal());
        }
        Flow::Next
    }

    async fn start_tls(&mut self) -> Flow {
        let Some(tls) = self.rt.tls.clone() else {
            return Flow::End;
        };
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Flow::End;
        };
        match handshake(tls, tcp).await {
            Ok(s) => {
                self.shared.stats.tls_handshakes.add("result=\"ok\"");
                info!("TLS established");
                self.stream = Some(s);
                self.session.tls_established();
                Flow::Next
            }
            Err(e) => {
                self.shared.stats.tls_handshakes.add("result=\"failed\"");
                // Only this connection is affected.
                info!("TLS handshake failed: {e}");
                Flow::Abort
            }
        }
    }

    /// Reads what the client sends next, until the session's deadline.
    async fn need_input(&mut self) -> Flow {
        // limits.session_time: however busy the client keeps it (a read
        // that is always ready never times out), the session ends.
        if self.watch.expired(Instant::now()) {
            info!("session time limit reached");
            limits::count(&self.shared.stats, "session_time");
            let reply = SessionWatch::expired_reply(&self.rt.config).to_bytes();
            let _ = tokio::time::timeout(WRITE_TIMEOUT, self.stream().write_all(&reply)).await;
            return Flow::End;
        }
        let deadline =
            tokio::time::Instant::from_std(self.session.deadline().min(self.watch.deadline()));
        let stream = self
            .stream
            .as_mut()
            .expect("the stream is in place between actions");
        tokio::select! {
            read = tokio::time::timeout_at(deadline, self.buf.read(stream)) => match read {
                // The session deadline: checked again at the next NeedInput.
                Err(_) if self.watch.expired(Instant::now()) => {}
                Err(_) => {
                    info!("timeout");
                    self.session.on_timeout(Instant::now());
                }
                Ok(Ok(0)) | Ok(Err(_)) => self.session.peer_closed(),
                Ok(Ok(n)) => self.session.feed(self.buf.take(n), Instant::now()),
            },
            _ = self.shutdown.changed(), if !self.shutting_down => {
                self.shutting_down = true;
                self.session.begin_shutdown();
            }
        }
        Flow::Next
    }

    /// Takes what the session reported since the last look: counts it, logs
    /// the limit that ended the session, and lets the brute-force defence rule
    /// on the AUTH verdicts (delay the reply, or follow it with a 421).
    fn observe(&mut self) -> auth_guard::After {
        let shared = self.shared;
        let events = self.session.take_events();
        for event in &events {
            metrics::observe(&shared.stats, event);
            if let Event::LimitReached(limit) = event {
                info!(limit = limit.key(), "session limit reached");
                limits::count(&shared.stats, limit.key());
            }
        }
        self.guard
            .account(&shared.auth_throttle, Event::auth_outcomes(&events))
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

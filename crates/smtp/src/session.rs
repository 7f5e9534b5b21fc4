//! The SMTP server session as a sans-IO state machine.
//!
//! The session is fed bytes and `now`, and answers with [`Action`]s: send
//! these replies, decide this recipient, verify these credentials (AUTH,
//! `session/auth.rs` over [`crate::sasl`]), store this message, start TLS,
//! read more, close. It never touches a socket or a clock, so every protocol
//! rule is a plain test (see `session/tests.rs` and `session/auth_tests.rs`).
//!
//! The driver loop, in shape:
//! ```text
//! let mut s = Session::new(cfg, now);
//! loop {
//!     match s.next_action(now) {
//!         Action::Send(bytes) => write bytes,
//!         Action::CheckRecipient(r) => s.recipient_decision(policy(r)),
//!         Action::MessageData(bytes) => spool_file.append(bytes),
//!         Action::DiscardMessage => spool_file.discard(),
//!         Action::StoreMessage(m) => s.message_stored(store(m, spool_file).await),
//!         Action::StartTls => { handshake; s.tls_established() }
//!         Action::Authenticate(req) => s.auth_answer(user_db.answer(req)),
//!         Action::NeedInput => match read until s.deadline() {
//!             Ok(0) => s.peer_closed(), Ok(n) => s.feed(&buf[..n], now), Err(timeout) => s.on_timeout(now) }
//!         Action::Close => break,
//!     }
//! }
//! ```
//!
//! The driver reads only when asked ([`Action::NeedInput`]), and the session
//! asks only once every complete line it holds has been handled, so its
//! buffer never holds more than one unfinished line plus one read. Message
//! content is not kept either: what each read brought is handed over at once
//! ([`Action::MessageData`]) for the driver to write to its spool.

mod auth;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod bdat_tests;
mod chunk;
mod commands;
mod data;
mod framing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use crate::address::{Mailbox, ReversePath};
use crate::command::{is_bdat, parse_command, Command, MailParams};
use crate::reply::Reply;
use crate::sasl::{Exchange, Mechanism, Nonces};

pub use crate::sasl::{AuthAnswer, AuthRequest, ScramKeys, Secret};

pub use auth::AuthOutcome;

use chunk::ChunkReader;
use data::DataReader;
use framing::{Frame, LineBuffer};

/// What to do with a bare LF (docs/reference.md §6, `smtp.bare_lf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BareLf {
    /// Store a bare LF in data as CRLF; accept a command ending in bare LF.
    #[default]
    Normalize,
    /// Reject a message containing a bare LF (`550 5.6.11`) and a command line ending in one (`500 5.5.2`).
    Reject,
}

/// Timeouts of RFC 5321 §4.5.3.2, configurable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the next command (RFC: 5 minutes).
    pub command: Duration,
    /// Waiting for the next chunk of data inside DATA (RFC: 3 minutes).
    pub data_block: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
        }
    }
}

/// Per-session settings, fixed when the session starts.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our name, for the greeting and EHLO reply.
    pub hostname: String,
    /// `limits.message_size` in bytes, advertised with SIZE.
    pub max_message_size: u64,
    /// `limits.recipients` per message.
    pub max_recipients: usize,
    /// Errors (4xx/5xx replies to commands) before `421 4.7.0` and close.
    pub max_errors: u32,
    /// `limits.commands_before_mail`: commands outside a mail transaction
    /// before `421 4.7.0` and close (see [`Session::commands_outside_transaction`]).
    pub max_commands_before_mail: u32,
    /// `smtp.bare_lf`: what a bare LF in a command line or in DATA means.
    pub bare_lf: BareLf,
    /// How long the client may stay silent.
    pub timeouts: Timeouts,
    /// STARTTLS may be offered (a certificate is loaded and TLS is not yet active).
    pub starttls: bool,
    /// The connection is already TLS (implicit TLS, port 465).
    pub tls_active: bool,
    /// Submission roles: MAIL/RCPT/DATA get `530 5.7.0` until AUTH succeeds.
    pub require_auth: bool,
    /// `auth.mechanisms`: the SASL mechanisms to offer, in advertising order
    /// (`SCRAM-SHA-256`, `CRAM-MD5`, `PLAIN`, `LOGIN`; case-insensitive;
    /// other names are ignored). Empty: no AUTH at all (`502 5.5.1`).
    pub auth_mechanisms: Vec<String>,
    /// `auth.plaintext_requires_tls`: PLAIN and LOGIN are neither advertised
    /// nor accepted (`538 5.7.11`) until the connection is under TLS.
    pub plaintext_requires_tls: bool,
    /// Fresh random bytes for this session, from which its CRAM-MD5
    /// challenges and SCRAM server nonces are drawn. The driver must give
    /// every session new ones from the OS RNG ([`Secret::random`], which the
    /// default does); a fixed value makes a test deterministic.
    pub random_seed: Secret,
    /// A server-wide secret, the same for every session: SCRAM keys for
    /// unknown users are derived from it, so the same unknown name always
    /// gets the same salt, as a real user does. The default is
    /// [`Secret::per_process`].
    pub auth_secret: Secret,
}

impl Default for SessionConfig {
    /// The docs/reference.md §2 defaults for a port-25 session on `localhost` without TLS:
    /// 25 MiB messages, 100 recipients, 20 errors (Postfix's hard error
    /// limit), 50 commands before MAIL, all four SASL mechanisms with PLAIN and LOGIN only under TLS,
    /// a fresh random seed and the per-process auth secret.
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".to_string(),
            max_message_size: 26_214_400,
            max_recipients: 100,
            max_errors: 20,
            max_commands_before_mail: 50,
            bare_lf: BareLf::default(),
            timeouts: Timeouts::default(),
            starttls: false,
            tls_active: false,
            require_auth: false,
            auth_mechanisms: Mechanism::ALL
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            plaintext_requires_tls: true,
            random_seed: Secret::random(),
            auth_secret: Secret::per_process(),
        }
    }
}

/// One accepted message, ready to be stored: its envelope. The content
/// came before it as [`Action::MessageData`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The EHLO/HELO argument.
    pub helo: String,
    /// True after EHLO (ESMTP), false after HELO.
    pub esmtp: bool,
    /// True when the session is under TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
    /// The MAIL FROM path.
    pub mail_from: ReversePath,
    /// The MAIL FROM parameters.
    pub params: MailParams,
    /// Accepted recipients, in order, without duplicates.
    pub recipients: Vec<Mailbox>,
    /// Octets of content: the sum of the [`Action::MessageData`] lengths.
    pub size: u64,
}

/// A recipient the driver must rule on before the session replies to RCPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientCheck {
    /// The RCPT TO mailbox.
    pub mailbox: Mailbox,
    /// The transaction's MAIL FROM (for logs: it never decides relay, docs/reference.md §3).
    pub mail_from: ReversePath,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
}

/// A session limit that ended the session (for the driver's logs and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReached {
    /// `limits.commands_before_mail`.
    CommandsBeforeMail,
}

impl LimitReached {
    /// The configuration key of the limit.
    pub fn key(self) -> &'static str {
        match self {
            LimitReached::CommandsBeforeMail => "commands_before_mail",
        }
    }
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (one or more complete replies) to the client.
    Send(Vec<u8>),
    /// Decide this recipient, then call [`Session::recipient_decision`].
    CheckRecipient(RecipientCheck),
    /// The next octets of the message being received: dot-unstuffed, every
    /// line ending in CRLF (without the terminating `.CRLF`). Append them to
    /// the message's spool file; the first one starts a new message.
    MessageData(Vec<u8>),
    /// The message whose content came so far is refused or abandoned (its
    /// refusal is among the replies): throw that content away.
    DiscardMessage,
    /// The content that came so far is a complete message: store it durably
    /// with this envelope, then call [`Session::message_stored`].
    StoreMessage(Message),
    /// Perform the TLS handshake now, then call [`Session::tls_established`].
    StartTls,
    /// Look up or verify credentials for an AUTH exchange (RFC 4954), then
    /// call [`Session::auth_answer`] with the [`AuthAnswer`] variant that
    /// matches the request: `Password` → `Verified`, `CramMd5` →
    /// `CramMd5Digest`, `ScramKeys` → `ScramKeys` (any request may get
    /// `Unavailable`). Nothing is read until it is answered.
    Authenticate(AuthRequest),
    /// Read more input (until [`Session::deadline`]) and [`Session::feed`] it.
    NeedInput,
    /// Close the connection (everything to send has been returned already).
    Close,
}

/// The session state machine.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    input: LineBuffer,
    /// Replies not yet handed to the driver: RFC 2920 §3 lets the server
    /// batch them while more pipelined commands are waiting.
    out: Vec<u8>,
    /// Actions already decided, returned before anything else.
    queued: VecDeque<Action>,
    reading: Reading,
    waiting: Waiting,
    helo: Option<Helo>,
    tls: bool,
    /// The SASL user (lower-cased) once AUTH (RFC 4954) has succeeded; it
    /// opens the submission gate and travels in `RecipientCheck` and `Message`.
    auth_user: Option<String>,
    /// Challenges and nonces for AUTH exchanges.
    nonces: Nonces,
    /// The user name of the exchange in progress, once the client named one.
    auth_attempt_user: Option<String>,
    /// How AUTH exchanges ended, until the driver takes them
    /// ([`Session::take_auth_outcomes`]). Bounded: every failure counts as
    /// an error (`max_errors` closes the session) and only one success is
    /// possible per session.
    auth_outcomes: Vec<AuthOutcome>,
    /// Tests only: the next CRAM-MD5 challenge or SCRAM server nonce, to
    /// replay the RFCs' published exchanges.
    #[cfg(test)]
    challenge_override: Option<String>,
    transaction: Option<Transaction>,
    errors: u32,
    /// Commands handled outside a mail transaction since the session began
    /// or the last MAIL that opened one.
    commands_outside: u32,
    /// The limit that ended the session, until the driver takes it.
    limit_reached: Option<LimitReached>,
    /// Content was handed over ([`Action::MessageData`]) for a message not
    /// yet stored or discarded.
    data_emitted: bool,
    /// 452 4.5.3 replies in the current transaction (see `commands::rcpt`).
    recipient_overshoot: u32,
    /// Since when the session waits for the client.
    last_activity: Instant,
    shutting_down: bool,
    closed: bool,
}

/// The EHLO/HELO the client introduced itself with.
#[derive(Clone, Debug)]
struct Helo {
    name: String,
    esmtp: bool,
}

/// A mail transaction (RFC 5321 §3.3), from MAIL to the end of DATA.
#[derive(Debug)]
struct Transaction {
    helo: Helo,
    mail_from: ReversePath,
    params: MailParams,
    recipients: Vec<Mailbox>,
    /// The content received so far by BDAT (RFC 3030), once the first
    /// chunk came; DATA and further RCPTs are then out of sequence.
    chunks: Option<Box<ChunkReader>>,
}

/// What the incoming bytes are.
#[derive(Debug)]
enum Reading {
    Commands,
    /// After `354`: message content for this transaction.
    Data(DataReader, Transaction),
    /// Inside an AUTH exchange: each line is a SASL response (RFC 4954 §4).
    Auth(Box<Exchange>),
    /// After a `BDAT` command: the octets of its chunk, taken as they are.
    Chunk(Chunk),
}

/// The chunk of a `BDAT` command still to be read (RFC 3030 §2).
#[derive(Debug)]
struct Chunk {
    /// Its declared size.
    size: u64,
    /// Octets still to come.
    remaining: u64,
    /// `BDAT n LAST`: the message ends with this chunk.
    last: bool,
    /// The reply refusing the command, sent once its octets are read: a
    /// refused BDAT's chunk is read all the same, so that none of it can
    /// run as commands.
    refused: Option<Reply>,
}

/// A request to the driver that must be answered before anything else
/// happens: while one is pending, no input is read or processed.
#[derive(Debug)]
enum Waiting {
    Nothing,
    Recipient(RecipientCheck),
    /// `Some` until the `StoreMessage` action has been returned.
    Storage(Option<Message>),
    Tls,
    /// The driver looks up or verifies credentials.
    Auth(AuthRequest),
}

impl Session {
    /// A new session; its first action sends the `220` greeting.
    pub fn new(cfg: SessionConfig, now: Instant) -> Session {
        let mut s = Session {
            tls: cfg.tls_active,
            nonces: Nonces::new(cfg.random_seed.clone()),
            #[cfg(test)]
            challenge_override: None,
            cfg,
            input: LineBuffer::default(),
            out: Vec::new(),
            queued: VecDeque::new(),
            reading: Reading::Commands,
            waiting: Waiting::Nothing,
            helo: None,
            auth_user: None,
            auth_attempt_user: None,
            auth_outcomes: Vec::new(),
            transaction: None,
            errors: 0,
            commands_outside: 0,
            limit_reached: None,
            data_emitted: false,
            recipient_overshoot: 0,
            last_activity: now,
            shutting_down: false,
            closed: false,
        };
        // RFC 5321 §4.2: greeting and EHLO/HELO replies carry no enhanced
        // status code (RFC 2034 §3).
        let greeting = Reply::plain(220, format!("{} ESMTP Portcullis", s.cfg.hostname));
        s.send(greeting);
        s
    }

    /// Commands counted against `limits.commands_before_mail`: those handled
    /// outside a mail transaction since the start or the last MAIL that
    /// opened one. Recipients, data, and whatever else comes inside a
    /// transaction never count; nor do STARTTLS (a handshake, not a probe)
    /// and the lines of an AUTH exchange (one AUTH command counts once).
    pub fn commands_outside_transaction(&self) -> u32 {
        self.commands_outside
    }

    /// The limit that ended the session, once (then `None`).
    pub fn take_limit_reached(&mut self) -> Option<LimitReached> {
        self.limit_reached.take()
    }

    /// The EHLO/HELO name the client gave, if any (forgotten after STARTTLS).
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_ref().map(|h| h.name.as_str())
    }

    /// True when the connection is under TLS (implicit or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The authenticated user (lower-cased), once AUTH has succeeded
    /// (forgotten after STARTTLS).
    pub fn auth_user(&self) -> Option<&str> {
        self.auth_user.as_deref()
    }

    /// Hands over bytes read from the client. Call it only after
    /// [`Action::NeedInput`]: that is what keeps the buffer bounded.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.last_activity = now;
        if self.closed {
            return;
        }
        self.input.push(bytes);
    }

    /// The next thing to do. Returns `NeedInput` when the session waits for
    /// the client; never returns anything else while a decision is pending.
    ///
    /// Asked again before the pending decision was answered, it repeats a
    /// `CheckRecipient`, `Authenticate` or `StartTls`; a `StoreMessage`
    /// cannot be repeated (the message was handed over), so the session
    /// closes instead, having acknowledged nothing.
    pub fn next_action(&mut self, now: Instant) -> Action {
        loop {
            if let Some(action) = self.queued.pop_front() {
                return action;
            }
            if self.closed {
                return Action::Close;
            }
            match &mut self.waiting {
                Waiting::Nothing => {}
                Waiting::Recipient(check) => return Action::CheckRecipient(check.clone()),
                Waiting::Tls => return Action::StartTls,
                Waiting::Auth(request) => return Action::Authenticate(request.clone()),
                Waiting::Storage(message) => match message.take() {
                    Some(m) => return Action::StoreMessage(m),
                    None => {
                        self.close();
                        continue;
                    }
                },
            }
            if self.step() {
                continue;
            }
            // The DATA or BDAT that held shutdown back has been answered:
            // waiting for the client's next command could take the whole
            // command timeout.
            if self.shutting_down && self.is_idle() {
                self.shut_down_now();
                continue;
            }
            if !self.out.is_empty() {
                return Action::Send(mem::take(&mut self.out));
            }
            self.last_activity = now;
            return Action::NeedInput;
        }
    }

    /// The instant by which the client must have sent more; past it, call `on_timeout`.
    pub fn deadline(&self) -> Instant {
        // RFC 5321 §4.5.3.2: one timeout between commands, another between
        // blocks of data.
        let timeout = match self.reading {
            Reading::Commands | Reading::Auth(_) => self.cfg.timeouts.command,
            Reading::Data(..) | Reading::Chunk(_) => self.cfg.timeouts.data_block,
        };
        self.last_activity + timeout
    }

    /// The deadline passed: queues `421 4.4.2` and then `Close`.
    pub fn on_timeout(&mut self, now: Instant) {
        self.last_activity = now;
        if self.closed {
            return;
        }
        // RFC 5321 §4.5.3.2: the server may close a silent session; an
        // unfinished DATA is dropped, nothing was acknowledged.
        let text = format!("{} Error: timeout exceeded", self.cfg.hostname);
        self.send(Reply::new(421, (4, 4, 2), text));
        self.close();
    }

    /// The client closed its side (EOF).
    pub fn peer_closed(&mut self) {
        // An unfinished DATA is dropped: only `<CRLF>.<CRLF>` ends a message.
        self.out.clear();
        self.close();
    }

    /// The driver's ruling on the pending [`Action::CheckRecipient`]:
    /// `Ok(())` accepts it (`250 2.1.5`), `Err(reply)` sends that reply.
    pub fn recipient_decision(&mut self, decision: Result<(), Reply>) {
        let check = match mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Recipient(check) => check,
            // No recipient was asked about: a stray call changes nothing.
            other => {
                self.waiting = other;
                return;
            }
        };
        match decision {
            Ok(()) => {
                if let Some(t) = &mut self.transaction {
                    // A duplicate is acknowledged but delivered once.
                    if !t.recipients.contains(&check.mailbox) {
                        t.recipients.push(check.mailbox);
                    }
                }
                self.send(Reply::new(250, (2, 1, 5), "Ok"));
            }
            Err(reply) => self.reply(reply),
        }
    }

    /// The outcome of the pending [`Action::StoreMessage`]: the queue id
    /// (`250 2.0.0 Ok: queued as ID`) or the error reply (`451 4.3.0` …).
    pub fn message_stored(&mut self, result: Result<String, Reply>) {
        if !matches!(self.waiting, Waiting::Storage(_)) {
            return;
        }
        self.waiting = Waiting::Nothing;
        match result {
            Ok(id) => self.send(Reply::new(250, (2, 0, 0), format!("Ok: queued as {id}"))),
            // A local failure is ours, not the client's: not counted as an error.
            Err(reply) => self.send(reply),
        }
    }

    /// The driver's answer to the pending [`Action::Authenticate`]. The
    /// session then sends the next `334` challenge, `235 2.7.0` or the
    /// failure (`535 5.7.8`, `454 4.7.0` for `Unavailable` or an answer of
    /// the wrong kind). A call with no request pending changes nothing.
    pub fn auth_answer(&mut self, answer: AuthAnswer) {
        self.auth_answered(answer);
    }

    /// How the AUTH exchanges since the last call ended (successes and
    /// rejected credentials; cancelled or malformed exchanges test no
    /// password and are not reported), oldest first. The driver takes them
    /// before each `Send`: the replies they produced are in it, so it can
    /// count failures and delay or follow that reply (brute-force defence).
    pub fn take_auth_outcomes(&mut self) -> Vec<AuthOutcome> {
        mem::take(&mut self.auth_outcomes)
    }

    /// Ends the session on the driver's decision (the brute-force defence's
    /// `421 4.7.0`): `reply` goes after the replies already pending, then
    /// `Close`. Nothing more is read or handled, so pipelined commands
    /// behind the last one handled never run.
    pub fn close_with(&mut self, reply: Reply) {
        if self.closed {
            return;
        }
        self.send(reply);
        self.close();
    }

    /// The TLS handshake after [`Action::StartTls`] succeeded: the session
    /// forgets EHLO and starts over, as RFC 3207 §4.2 requires.
    pub fn tls_established(&mut self) {
        if !matches!(self.waiting, Waiting::Tls) {
            return;
        }
        self.waiting = Waiting::Nothing;
        self.tls = true;
        // RFC 3207 §4.2: forget everything learnt before TLS (EHLO, AUTH,
        // transaction); the client must EHLO again. No new greeting.
        self.helo = None;
        self.auth_user = None;
        self.transaction = None;
        self.discard_data();
        // CVE-2011-0411: whatever arrived in plaintext must never run as a
        // command under TLS.
        self.input.clear();
    }

    /// Server shutdown: a session waiting for a command gets `421 4.3.2`
    /// now, even inside a MAIL transaction (nothing of it was acknowledged,
    /// so the client simply retries later); one receiving DATA or waiting for
    /// its message to be stored finishes that first, then gets the 421.
    /// Waiting for an idle client's next command could hold shutdown for the
    /// whole command timeout.
    pub fn begin_shutdown(&mut self) {
        if self.closed {
            return;
        }
        self.shutting_down = true;
        if self.is_idle() {
            self.shut_down_now();
        }
    }

    /// Between commands: not in DATA, no decision or storage pending.
    fn is_idle(&self) -> bool {
        matches!(self.reading, Reading::Commands) && matches!(self.waiting, Waiting::Nothing)
    }

    fn shut_down_now(&mut self) {
        self.send(Reply::new(421, (4, 3, 2), "Service shutting down"));
        self.close();
    }

    /// Handles what the buffered input allows; false when nothing could be.
    fn step(&mut self) -> bool {
        match &mut self.reading {
            Reading::Data(reader, _) => {
                let mut progressed = false;
                let mut ended = false;
                while let Some(frame) = self.input.next_frame() {
                    progressed = true;
                    if reader.frame(frame) {
                        ended = true;
                        break;
                    }
                }
                if ended {
                    self.end_of_data();
                    return true;
                }
                let out = reader.take_output();
                self.emit_data(out);
                progressed
            }
            Reading::Chunk(chunk) => {
                let bytes = self.input.take_raw(chunk.remaining);
                chunk.remaining -= bytes.len() as u64;
                let mut out = Vec::new();
                if chunk.refused.is_none() {
                    if let Some(reader) = self.transaction.as_mut().and_then(|t| t.chunks.as_mut())
                    {
                        reader.push(bytes);
                        out = reader.take_output();
                    }
                }
                let progressed = !bytes.is_empty();
                let done = chunk.remaining == 0;
                self.emit_data(out);
                if !done {
                    return progressed;
                }
                self.end_of_chunk();
                true
            }
            Reading::Auth(_) => {
                match self.input.next_frame() {
                    None => return false,
                    // Not reached: an over-long line ends the exchange at
                    // `TooLong`, and its end is then read as a command line.
                    Some(Frame::TooLongEnd { .. }) => {}
                    // RFC 4954 §4 frames responses like commands: a line
                    // over the limit aborts the exchange.
                    Some(Frame::TooLong) => self.auth_line_too_long(),
                    Some(Frame::Line(raw)) => {
                        let raw = raw.to_vec();
                        self.auth_line(&raw);
                    }
                }
                true
            }
            Reading::Commands => {
                let line = match self.input.next_frame() {
                    None => return false,
                    Some(Frame::TooLongEnd { .. }) => return true,
                    Some(Frame::TooLong) => None,
                    Some(Frame::Line(raw)) => Some(raw.to_vec()),
                };
                if self.shutting_down && self.is_idle() {
                    self.shut_down_now();
                    return true;
                }
                match line {
                    // RFC 5321 §4.5.3.1.4: answered as soon as the line is
                    // known to be too long; the framing drops it to its LF.
                    None => {
                        if self.transaction.is_some() || self.spend_command() {
                            self.reply(Reply::new(500, (5, 5, 2), "Line too long"));
                        }
                    }
                    Some(raw) => self.command_line(&raw),
                }
                true
            }
        }
    }

    /// One command line, LF included.
    fn command_line(&mut self, raw: &[u8]) {
        let crlf = raw.ends_with(b"\r\n");
        // RFC 5321 §2.3.8: lines end in CRLF. Postfix accepts a bare LF on
        // a command line; `smtp.bare_lf = "reject"` does not.
        if !crlf && self.cfg.bare_lf == BareLf::Reject {
            self.reply(Reply::new(500, (5, 5, 2), "Bare LF not allowed in command"));
            return;
        }
        // A CR left inside the line is a bare CR: the parser refuses it, so
        // `DA\rTA` never runs as DATA.
        let line = &raw[..raw.len() - if crlf { 2 } else { 1 }];
        // RFC 6531 §3.4: UTF-8 addresses only in a transaction opened with SMTPUTF8.
        let utf8 = self.transaction.as_ref().is_some_and(|t| t.params.smtputf8);
        let parsed = parse_command(line, utf8);
        let outside = self.transaction.is_none();
        let is_mail = matches!(parsed, Ok(Command::Mail(..)));
        let free = matches!(parsed, Ok(Command::StartTls));
        // MAIL is never cut here: it opens the transaction a real client
        // is working toward (and counts below only if it fails).
        if outside && !is_mail && !free && !self.spend_command() {
            return;
        }
        match parsed {
            Ok(command) => {
                self.command(command);
                if outside && is_mail {
                    if self.transaction.is_some() {
                        self.commands_outside = 0;
                    } else {
                        self.commands_outside = self.commands_outside.saturating_add(1);
                    }
                }
            }
            Err(reply) if is_bdat(line) => {
                // Where the chunk ends is unknown: its octets would be read
                // as commands (RFC 3030 §2; Postfix also hangs up here).
                self.send(reply);
                self.send(Reply::new(
                    421,
                    (4, 7, 0),
                    "Cannot find the end of the BDAT chunk, closing connection",
                ));
                self.close();
            }
            Err(reply) => self.reply(reply),
        }
    }

    /// Counts one command outside a transaction; past
    /// `limits.commands_before_mail` the session ends with `421 4.7.0`
    /// instead of running it (false). The replies already queued (a
    /// stored message's `250` among them) go out before the 421.
    fn spend_command(&mut self) -> bool {
        // Why: harvesting addresses with VRFY or keeping a slot busy with
        // NOOPs never reaches MAIL; a real client needs a handful.
        if self.commands_outside >= self.cfg.max_commands_before_mail {
            self.limit_reached = Some(LimitReached::CommandsBeforeMail);
            self.send(Reply::new(
                421,
                (4, 7, 0),
                "Too many commands without a mail transaction, closing connection",
            ));
            self.close();
            return false;
        }
        self.commands_outside += 1;
        true
    }

    /// The data ended with `<CRLF>.<CRLF>`: store the message or refuse it.
    fn end_of_data(&mut self) {
        let Reading::Data(mut reader, t) = mem::replace(&mut self.reading, Reading::Commands)
        else {
            return;
        };
        self.recipient_overshoot = 0;
        let out = reader.take_output();
        self.emit_data(out);
        match reader.finish() {
            Ok(size) => self.store(t, size),
            Err(reply) => {
                self.discard_data();
                self.reply(reply)
            }
        }
    }

    /// The octets of a BDAT chunk are all read: acknowledge the chunk,
    /// store the message after the last one, or send the refusal.
    fn end_of_chunk(&mut self) {
        let Reading::Chunk(chunk) = mem::replace(&mut self.reading, Reading::Commands) else {
            return;
        };
        if let Some(reply) = chunk.refused {
            return self.reply(reply);
        }
        let Some(t) = self.transaction.as_mut() else {
            return;
        };
        let faulty = t.chunks.as_ref().is_some_and(|r| r.has_fault());
        if !chunk.last && !faulty {
            let text = format!("Ok: {} octets received", chunk.size);
            return self.send(Reply::new(250, (2, 0, 0), text));
        }
        // The last chunk, or a message already refused: RFC 3030 §2 ends
        // the transaction either way (a client told 5xx sends no more chunks).
        let Some(mut t) = self.transaction.take() else {
            return;
        };
        self.recipient_overshoot = 0;
        let Some(reader) = t.chunks.take() else {
            return;
        };
        let (rest, outcome) = reader.finish();
        self.emit_data(rest);
        match outcome {
            Ok(size) => self.store(t, size),
            Err(reply) => {
                self.discard_data();
                self.reply(reply)
            }
        }
    }

    /// Hands message content to the driver, in order with the other actions.
    fn emit_data(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.data_emitted = true;
            self.queued.push_back(Action::MessageData(bytes));
        }
    }

    /// The message in progress will not be stored: the driver drops what it
    /// was handed of it.
    fn discard_data(&mut self) {
        if mem::take(&mut self.data_emitted) {
            self.queued.push_back(Action::DiscardMessage);
        }
    }

    /// A complete message: ask the driver to store it.
    fn store(&mut self, t: Transaction, size: u64) {
        self.data_emitted = false;
        let message = Message {
            helo: t.helo.name,
            esmtp: t.helo.esmtp,
            tls: self.tls,
            auth_user: self.auth_user.clone(),
            mail_from: t.mail_from,
            params: t.params,
            recipients: t.recipients,
            size,
        };
        self.waiting = Waiting::Storage(Some(message));
    }

    /// Queues a reply that is not an error to count (or is counted elsewhere).
    fn send(&mut self, reply: Reply) {
        reply.write_to(&mut self.out);
    }

    /// Queues the reply to a client command; a 4xx/5xx counts as an error,
    /// and too many end the session.
    fn reply(&mut self, reply: Reply) {
        let negative = reply.code >= 400;
        self.send(reply);
        if negative {
            self.count_error();
        }
    }

    fn count_error(&mut self) {
        self.errors += 1;
        // Why: a client that only collects errors (address harvesting,
        // brute force, a confused robot) gets disconnected.
        if self.errors >= self.cfg.max_errors {
            // The reply names the knob, so an admin whose own scan (nmap's
            // relay test) was cut short knows what to raise.
            self.send(Reply::new(
                421,
                (4, 7, 0),
                format!(
                    "Too many errors (limits.errors = {}), closing connection",
                    self.cfg.max_errors
                ),
            ));
            self.close();
        }
    }

    /// Hands over the pending replies, then `Close`; nothing more is read.
    fn close(&mut self) {
        if self.closed {
            return;
        }
        if !self.out.is_empty() {
            self.queued
                .push_back(Action::Send(mem::take(&mut self.out)));
        }
        // An unfinished message is dropped: only its real end makes one.
        self.discard_data();
        self.queued.push_back(Action::Close);
        self.closed = true;
        self.input.clear();
        self.reading = Reading::Commands;
        self.transaction = None;
        self.waiting = Waiting::Nothing;
    }

    /// Hands over the pending replies before a pause (STARTTLS).
    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.queued
                .push_back(Action::Send(mem::take(&mut self.out)));
        }
    }
}

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

mod actions;
mod auth;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod bdat_tests;
mod chunk;
mod commands;
mod config;
mod data;
mod events;
mod framing;
mod message;
mod replies;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::mem;
use std::time::Instant;

use crate::address::{Mailbox, ReversePath};
use crate::command::{is_bdat, parse_command, Command, MailParams};
use crate::reply::Reply;
use crate::sasl::{Exchange, Nonces};

pub use crate::sasl::{AuthAnswer, AuthRequest, ScramKeys, Secret};

pub use actions::{Action, Message, RecipientCheck};
pub use auth::AuthOutcome;
pub use config::{BareLf, SessionConfig, Timeouts};
pub use events::{Event, LimitReached};

use chunk::ChunkReader;
use data::DataReader;
use framing::{Frame, LineBuffer};

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
    /// What happened since the driver last took them
    /// ([`Session::take_events`]). Bounded like the replies they describe:
    /// the driver takes them with every `Send`.
    events: Vec<Event>,
    /// Tests only: the next CRAM-MD5 challenge or SCRAM server nonce, to
    /// replay the RFCs' published exchanges.
    #[cfg(test)]
    challenge_override: Option<String>,
    transaction: Option<Box<Transaction>>,
    /// Mail transactions opened so far.
    transactions: u64,
    errors: u32,
    /// Commands handled outside a mail transaction since the session began
    /// or the last MAIL that opened one.
    commands_outside: u32,
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
    /// Which transaction of the session this is (1, 2, ...): rulings the
    /// driver made at RCPT are kept against it.
    number: u64,
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
    Data(DataReader, Box<Transaction>),
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
/// happens: while one is pending, no input is read or processed. Its
/// payloads (like a transaction's) are boxed: an idle session, of which a
/// server holds thousands, then carries a pointer instead of their bytes.
#[derive(Debug)]
enum Waiting {
    Nothing,
    Recipient(Box<RecipientCheck>),
    /// `Some` until the `StoreMessage` action has been returned.
    Storage(Option<Box<Message>>),
    Tls,
    /// The driver looks up or verifies credentials.
    Auth(Box<AuthRequest>),
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
            events: Vec::new(),
            transactions: 0,
            transaction: None,
            errors: 0,
            commands_outside: 0,
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

    /// What happened since the last call, oldest first: every reply queued
    /// (code and enhanced status), AUTH verdicts, the limit that ended the
    /// session. The driver takes them before each `Send`: the replies they
    /// describe are in it, so it can count them and delay or follow that
    /// reply (brute-force defence) without reading reply text.
    pub fn take_events(&mut self) -> Vec<Event> {
        mem::take(&mut self.events)
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
                Waiting::Recipient(check) => return Action::CheckRecipient((**check).clone()),
                Waiting::Tls => return Action::StartTls,
                Waiting::Auth(request) => return Action::Authenticate((**request).clone()),
                Waiting::Storage(message) => match message.take() {
                    Some(m) => return Action::StoreMessage(*m),
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
            self.events
                .push(Event::LimitReached(LimitReached::CommandsBeforeMail));
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
}

//! The SMTP server session as a sans-IO state machine.
//!
//! The session is fed bytes and `now`, and answers with [`Action`]s: send
//! these replies, decide this recipient, store this message, start TLS, read
//! more, close. It never touches a socket or a clock, so every protocol rule
//! is a plain test (see `session/tests.rs`).
//!
//! The driver loop, in shape:
//! ```text
//! let mut s = Session::new(cfg, now);
//! loop {
//!     match s.next_action(now) {
//!         Action::Send(bytes) => write bytes,
//!         Action::CheckRecipient(r) => s.recipient_decision(policy(r)),
//!         Action::StoreMessage(m) => s.message_stored(store(m).await),
//!         Action::StartTls => { handshake; s.tls_established() }
//!         Action::NeedInput => match read until s.deadline() {
//!             Ok(0) => s.peer_closed(), Ok(n) => s.feed(&buf[..n], now), Err(timeout) => s.on_timeout(now) }
//!         Action::Close => break,
//!     }
//! }
//! ```
//!
//! The driver reads only when asked ([`Action::NeedInput`]), and the session
//! asks only once every complete line it holds has been handled, so its
//! buffer never holds more than one unfinished line plus one read.

mod commands;
mod data;
mod framing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use crate::address::{Mailbox, ReversePath};
use crate::command::{parse_command, MailParams};
use crate::reply::Reply;

use data::DataReader;
use framing::{Frame, LineBuffer};

/// What to do with a bare LF (SPEC §6, `smtp.bare_lf`).
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
}

impl Default for SessionConfig {
    /// The SPEC §2 defaults for a port-25 session on `localhost` without TLS:
    /// 25 MiB messages, 100 recipients, 20 errors (Postfix's hard error limit).
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".to_string(),
            max_message_size: 26_214_400,
            max_recipients: 100,
            max_errors: 20,
            bare_lf: BareLf::default(),
            timeouts: Timeouts::default(),
            starttls: false,
            tls_active: false,
            require_auth: false,
        }
    }
}

/// One accepted message, ready to be stored.
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
    /// The content, dot-unstuffed, every line ending in CRLF, without the
    /// terminating `.CRLF`.
    pub body: Vec<u8>,
}

/// A recipient the driver must rule on before the session replies to RCPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientCheck {
    /// The RCPT TO mailbox.
    pub mailbox: Mailbox,
    /// The transaction's MAIL FROM (for logs: it never decides relay, SPEC §3).
    pub mail_from: ReversePath,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (one or more complete replies) to the client.
    Send(Vec<u8>),
    /// Decide this recipient, then call [`Session::recipient_decision`].
    CheckRecipient(RecipientCheck),
    /// Store this message durably, then call [`Session::message_stored`].
    StoreMessage(Message),
    /// Perform the TLS handshake now, then call [`Session::tls_established`].
    StartTls,
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
    /// The SASL user once AUTH (RFC 4954) has succeeded. No mechanism is
    /// offered yet, so it stays `None`; everything that depends on it
    /// (530 on submission, `RecipientCheck`, `Message`) already reads it.
    auth_user: Option<String>,
    transaction: Option<Transaction>,
    errors: u32,
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
}

/// What the incoming bytes are.
#[derive(Debug)]
enum Reading {
    Commands,
    /// After `354`: message content for this transaction.
    Data(DataReader, Transaction),
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
}

impl Session {
    /// A new session; its first action sends the `220` greeting.
    pub fn new(cfg: SessionConfig, now: Instant) -> Session {
        let mut s = Session {
            tls: cfg.tls_active,
            cfg,
            input: LineBuffer::default(),
            out: Vec::new(),
            queued: VecDeque::new(),
            reading: Reading::Commands,
            waiting: Waiting::Nothing,
            helo: None,
            auth_user: None,
            transaction: None,
            errors: 0,
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

    /// The EHLO/HELO name the client gave, if any (forgotten after STARTTLS).
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_ref().map(|h| h.name.as_str())
    }

    /// True when the connection is under TLS (implicit or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        self.tls
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
    /// `CheckRecipient` or `StartTls`; a `StoreMessage` cannot be repeated
    /// (the message was handed over), so the session closes instead, having
    /// acknowledged nothing.
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
            Reading::Commands => self.cfg.timeouts.command,
            Reading::Data(..) => self.cfg.timeouts.data_block,
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
        // CVE-2011-0411: whatever arrived in plaintext must never run as a
        // command under TLS.
        self.input.clear();
    }

    /// Server shutdown: an idle session gets `421 4.3.2` now; one in a
    /// transaction finishes it and then gets the 421.
    pub fn begin_shutdown(&mut self) {
        if self.closed {
            return;
        }
        self.shutting_down = true;
        if self.is_idle() {
            self.shut_down_now();
        }
    }

    /// No transaction, not in DATA, no decision pending.
    fn is_idle(&self) -> bool {
        self.transaction.is_none()
            && matches!(self.reading, Reading::Commands)
            && matches!(self.waiting, Waiting::Nothing)
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
                while let Some(frame) = self.input.next_frame() {
                    progressed = true;
                    if reader.frame(frame) {
                        self.end_of_data();
                        return true;
                    }
                }
                progressed
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
                    None => self.reply(Reply::new(500, (5, 5, 2), "Line too long")),
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
        match parse_command(line, utf8) {
            Ok(command) => self.command(command),
            Err(reply) => self.reply(reply),
        }
    }

    /// The data ended with `<CRLF>.<CRLF>`: store the message or refuse it.
    fn end_of_data(&mut self) {
        let Reading::Data(reader, t) = mem::replace(&mut self.reading, Reading::Commands) else {
            return;
        };
        self.recipient_overshoot = 0;
        match reader.finish() {
            Ok(body) => {
                let message = Message {
                    helo: t.helo.name,
                    esmtp: t.helo.esmtp,
                    tls: self.tls,
                    auth_user: self.auth_user.clone(),
                    mail_from: t.mail_from,
                    params: t.params,
                    recipients: t.recipients,
                    body,
                };
                self.waiting = Waiting::Storage(Some(message));
            }
            Err(reply) => self.reply(reply),
        }
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
            self.send(Reply::new(
                421,
                (4, 7, 0),
                "Too many errors, closing connection",
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

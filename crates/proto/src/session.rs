//! The SMTP server session as a sans-IO state machine.
//!
//! SKELETON: the public API below is the contract the tokio driver is written
//! against; the bodies are filled in by the session work.
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
//!             Ok(0) => s.peer_closed(), Ok(n) => s.feed(&buf[..n]), Err(timeout) => s.on_timeout(now) }
//!         Action::Close => break,
//!     }
//! }
//! ```

use std::time::{Duration, Instant};

use crate::address::{Mailbox, ReversePath};
use crate::command::MailParams;
use crate::reply::Reply;

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
    pub bare_lf: BareLf,
    pub timeouts: Timeouts,
    /// STARTTLS may be offered (a certificate is loaded and TLS is not yet active).
    pub starttls: bool,
    /// The connection is already TLS (implicit TLS, port 465).
    pub tls_active: bool,
    /// Submission roles: MAIL/RCPT/DATA get `530 5.7.0` until AUTH succeeds.
    pub require_auth: bool,
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
    pub mail_from: ReversePath,
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
    pub mailbox: Mailbox,
    pub mail_from: ReversePath,
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
pub struct Session {
    _cfg: SessionConfig,
}

impl Session {
    /// A new session; its first action sends the `220` greeting.
    pub fn new(cfg: SessionConfig, now: Instant) -> Session {
        let _ = now;
        Session { _cfg: cfg }
    }

    /// Hands over bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        let _ = (bytes, now);
        todo!()
    }

    /// The next thing to do. Returns `NeedInput` when the session waits for
    /// the client; never returns anything else while a decision is pending.
    pub fn next_action(&mut self, now: Instant) -> Action {
        let _ = now;
        todo!()
    }

    /// The instant by which the client must have sent more; past it, call `on_timeout`.
    pub fn deadline(&self) -> Instant {
        todo!()
    }

    /// The deadline passed: queues `421 4.4.2` and then `Close`.
    pub fn on_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    /// The client closed its side (EOF).
    pub fn peer_closed(&mut self) {
        todo!()
    }

    /// The driver's ruling on the pending [`Action::CheckRecipient`]:
    /// `Ok(())` accepts it (`250 2.1.5`), `Err(reply)` sends that reply.
    pub fn recipient_decision(&mut self, decision: Result<(), Reply>) {
        let _ = decision;
        todo!()
    }

    /// The outcome of the pending [`Action::StoreMessage`]: the queue id
    /// (`250 2.0.0 Ok: queued as ID`) or the error reply (`451 4.3.0` …).
    pub fn message_stored(&mut self, result: Result<String, Reply>) {
        let _ = result;
        todo!()
    }

    /// The TLS handshake after [`Action::StartTls`] succeeded: the session
    /// forgets EHLO and starts over, as RFC 3207 §4.2 requires.
    pub fn tls_established(&mut self) {
        todo!()
    }

    /// Server shutdown: an idle session gets `421 4.3.2` now; one in a
    /// transaction finishes it and then gets the 421.
    pub fn begin_shutdown(&mut self) {
        todo!()
    }
}

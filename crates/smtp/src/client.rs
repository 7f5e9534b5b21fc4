//! The client side of SMTP, sans-IO, for outbound delivery: reading the
//! server's replies, reading its EHLO capabilities, writing commands, the
//! dot-stuffing DATA encoder, AUTH PLAIN/LOGIN as a client, and one mail
//! transaction (MAIL, RCPT…, DATA) as a state machine that turns replies
//! into per-recipient results, with or without PIPELINING (RFC 2920), in
//! SMTP or in LMTP (RFC 2033: LHLO, one reply per recipient after the data).
//!
//! Nothing here touches a socket or a clock: the driver writes what it is
//! told to write and feeds back the replies it reads, in shape:
//!
//! ```text
//! let (mut tx, first) = Transaction::new(sender, rcpts, options, caps.pipelining)?;
//! write(first);
//! loop {
//!     match tx.on_reply(read_reply()) {
//!         Step::Send(bytes) => write(bytes),
//!         Step::SendMessage => write(dot_stuff(message)),
//!         Step::Read => {}
//!         Step::Done(outcome) => break outcome,
//!     }
//! }
//! ```

mod auth;
mod command;
mod dot;
mod ehlo;
mod reply;
mod transaction;

pub use auth::{AuthClient, AuthMechanism, AuthStep};
pub use command::{
    ehlo, helo, lhlo, mail_from, quit, rcpt_to, rset, starttls, CommandError, MailOptions,
};
pub use dot::{dot_stuff, DotStuffer};
pub use ehlo::Capabilities;
pub use reply::{ReplyError, ReplyParser, MAX_REPLY_LINES, MAX_REPLY_LINE_LEN};
pub use transaction::{Classified, Outcome, RcptResult, Stage, Step, Transaction};

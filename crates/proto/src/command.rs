//! SMTP command lines (RFC 5321 §4.1.1) and their parameters.
//!
//! SKELETON: types and signatures are the contract other modules build on.

use crate::address::{Mailbox, ReversePath};
use crate::reply::Reply;

/// `BODY=` parameter of MAIL (RFC 6152).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Body {
    #[default]
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// Parameters of MAIL FROM that Portcullis understands.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=` (RFC 1870), checked for overflow.
    pub size: Option<u64>,
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `AUTH=` (RFC 4954 §5), xtext-decoded; `<>` is `Some("")`.
    pub auth: Option<String>,
}

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail(ReversePath, MailParams),
    Rcpt(Mailbox),
    Data,
    /// BDAT size, LAST (RFC 3030); not advertised until CHUNKING lands.
    Bdat(u64, bool),
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help(String),
    StartTls,
    /// AUTH mechanism [initial-response] (RFC 4954).
    Auth(String, Option<String>),
}

/// Parses one command line, without its line ending. `utf8` is whether the
/// current transaction allows UTF-8 in addresses (SMTPUTF8 given on MAIL).
/// Errors are the exact reply to send (`500 5.5.2`, `501 5.5.4`, `555 5.5.4`…).
pub fn parse_command(line: &[u8], utf8: bool) -> Result<Command, Reply> {
    let _ = (line, utf8);
    todo!()
}

//! SMTP command lines (RFC 5321 §4.1.1) and their parameters.
//!
//! One line in, one [`Command`] or the exact error [`Reply`] out. The parser
//! decides nothing about state or policy (that is the session's job); it only
//! makes sure that every line has exactly one reading: a line with a CR, NUL
//! or other control character in it is refused as a whole, so `DA\rTA` can
//! never be taken for `DATA`.

use crate::address::{Mailbox, ReversePath};
use crate::reply::Reply;

mod path;
#[cfg(test)]
mod tests;

use path::{parse_mail, parse_rcpt};

/// `BODY=` parameter of MAIL (RFC 6152).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Body {
    /// `BODY=7BIT`, or no BODY parameter.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030; only with BDAT).
    BinaryMime,
}

/// Parameters of MAIL FROM that Portcullis understands.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=` (RFC 1870), checked for overflow.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `AUTH=` (RFC 4954 §5), xtext-decoded; `<>` is `Some("")`.
    pub auth: Option<String>,
}

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (the argument as the client sent it).
    Ehlo(String),
    /// `HELO domain` (the argument as the client sent it).
    Helo(String),
    /// `MAIL FROM:<reverse-path> [parameters]`.
    Mail(ReversePath, MailParams),
    /// `RCPT TO:<forward-path>`.
    Rcpt(Mailbox),
    /// `DATA`.
    Data,
    /// BDAT size, LAST (RFC 3030); not advertised until CHUNKING lands.
    Bdat(u64, bool),
    /// `RSET`.
    Rset,
    /// `NOOP` (any argument is ignored, RFC 5321 §4.1.1.9).
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    /// `HELP [string]`; empty when no argument was given.
    Help(String),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// AUTH mechanism [initial-response] (RFC 4954).
    Auth(String, Option<String>),
}

/// Parses one command line, without its line ending. `utf8` is whether the
/// current transaction allows UTF-8 in addresses (SMTPUTF8 given on MAIL).
/// Errors are the exact reply to send (`500 5.5.2`, `501 5.5.4`, `555 5.5.4`…).
///
/// MAIL ignores `utf8`: the transaction starts with that command, so only
/// its own `SMTPUTF8` parameter allows UTF-8 in the reverse path. RCPT uses
/// `utf8` for the forward path.
pub fn parse_command(line: &[u8], utf8: bool) -> Result<Command, Reply> {
    // Why: a CR or NUL inside a line is what SMTP smuggling and command
    // injection are built from; any such line is refused whole, never
    // trimmed or split into a different command (RFC 5321 §2.3.8: CR and LF
    // only as the line ending).
    if line.iter().any(|&b| is_control_byte(b)) {
        return Err(control_character());
    }
    let line = std::str::from_utf8(line)
        .map_err(|_| Reply::new(500, (5, 5, 2), "Syntax error: invalid UTF-8 in command"))?;
    // C1 controls (U+0080–U+009F) are as much control characters as C0 ones.
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(control_character());
    }
    // Trailing blanks carry nothing; clients that send `DATA ` mean DATA.
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, arg) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i + 1..].trim_start_matches([' ', '\t'])),
        None => (line, ""),
    };
    // RFC 5321 §2.4: verbs are case-insensitive. A verb with non-ASCII in it
    // equals none of these, so it is unrecognized.
    let is = |name: &str| verb.eq_ignore_ascii_case(name);
    if is("EHLO") {
        hello(arg, "EHLO").map(Command::Ehlo)
    } else if is("HELO") {
        hello(arg, "HELO").map(Command::Helo)
    } else if is("MAIL") {
        parse_mail(arg)
    } else if is("RCPT") {
        parse_rcpt(arg, utf8)
    } else if is("DATA") {
        no_argument(arg, "DATA", Command::Data)
    } else if is("BDAT") {
        parse_bdat(arg)
    } else if is("RSET") {
        no_argument(arg, "RSET", Command::Rset)
    } else if is("NOOP") {
        Ok(Command::Noop)
    } else if is("QUIT") {
        no_argument(arg, "QUIT", Command::Quit)
    } else if is("VRFY") {
        required_text(arg, "VRFY").map(Command::Vrfy)
    } else if is("EXPN") {
        required_text(arg, "EXPN").map(Command::Expn)
    } else if is("HELP") {
        Ok(Command::Help(arg.to_string()))
    } else if is("STARTTLS") {
        no_argument(arg, "STARTTLS", Command::StartTls)
    } else if is("AUTH") {
        parse_auth(arg)
    } else if line.is_empty() {
        Err(Reply::new(500, (5, 5, 2), "Syntax error: empty command"))
    } else {
        Err(Reply::new(500, (5, 5, 2), "Command unrecognized"))
    }
}

/// Whether `line` (without its line ending) is a BDAT command, well-formed
/// or not. A BDAT whose chunk size cannot be read leaves no way to tell
/// where its chunk ends: the session must close rather than read the chunk's
/// octets as commands.
pub fn is_bdat(line: &[u8]) -> bool {
    line.len() >= 4
        && line[..4].eq_ignore_ascii_case(b"BDAT")
        && matches!(line.get(4), None | Some(b' ' | b'\t'))
}

/// C0 controls except TAB, and DEL.
fn is_control_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn control_character() -> Reply {
    Reply::new(500, (5, 5, 2), "Syntax error: control character in command")
}

/// `501 5.5.4 Syntax: <usage>`.
fn usage(text: &str) -> Reply {
    Reply::new(501, (5, 5, 4), format!("Syntax: {text}"))
}

/// EHLO/HELO: any non-empty argument. Clients send all sorts of names (bare
/// host names, underscores, literals); like Postfix, the whole rest of the
/// line is the argument. It is only text for the greeting and the Received
/// header, never used for a decision.
fn hello(arg: &str, verb: &str) -> Result<String, Reply> {
    if arg.is_empty() {
        return Err(usage(&format!("{verb} hostname")));
    }
    Ok(arg.to_string())
}

fn no_argument(arg: &str, verb: &str, command: Command) -> Result<Command, Reply> {
    if arg.is_empty() {
        Ok(command)
    } else {
        Err(usage(verb))
    }
}

fn required_text(arg: &str, verb: &str) -> Result<String, Reply> {
    if arg.is_empty() {
        return Err(usage(&format!("{verb} string")));
    }
    Ok(arg.to_string())
}

/// Why a decimal number did not parse.
pub(crate) enum DecimalError {
    /// Empty, or something other than ASCII digits (`+5`, `1e3`, `-1`).
    NotDigits,
    /// More than `u64::MAX`.
    TooLarge,
}

/// A non-empty run of ASCII digits as a `u64`. The digits are checked first
/// because `str::parse` also takes a leading `+`.
pub(crate) fn parse_decimal(s: &str) -> Result<u64, DecimalError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::NotDigits);
    }
    s.parse().map_err(|_| DecimalError::TooLarge)
}

/// `BDAT chunk-size [LAST]` (RFC 3030 §2).
fn parse_bdat(arg: &str) -> Result<Command, Reply> {
    let syntax = || usage("BDAT chunk-size [LAST]");
    let mut words = arg.split([' ', '\t']).filter(|w| !w.is_empty());
    let word = words.next().ok_or_else(syntax)?;
    let size = match parse_decimal(word) {
        Ok(size) => size,
        Err(DecimalError::TooLarge) => {
            return Err(Reply::new(
                501,
                (5, 5, 4),
                format!("BDAT chunk size {word} is too large"),
            ))
        }
        Err(DecimalError::NotDigits) => return Err(syntax()),
    };
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(syntax()),
    };
    if words.next().is_some() {
        return Err(syntax());
    }
    Ok(Command::Bdat(size, last))
}

/// `AUTH mechanism [initial-response]` (RFC 4954 §4). The response is kept
/// as sent (base64 or `=`); the SASL step decodes it.
fn parse_auth(arg: &str) -> Result<Command, Reply> {
    let syntax = || usage("AUTH mechanism [initial-response]");
    let mut words = arg.split([' ', '\t']).filter(|w| !w.is_empty());
    let mechanism = words.next().ok_or_else(syntax)?;
    // RFC 4422 §3.1: a mechanism name is 1–20 of A-Z, 0-9, `-`, `_`.
    let well_formed = mechanism.len() <= 20
        && mechanism
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(syntax());
    }
    let initial = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(syntax());
    }
    Ok(Command::Auth(mechanism.to_ascii_uppercase(), initial))
}

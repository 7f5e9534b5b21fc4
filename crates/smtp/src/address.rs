//! RFC 5321 §4.1.2 paths and mailboxes, parsed strictly.
//!
//! The relay decision rests on this parser, so it accepts exactly one reading
//! of every address: the destination is the domain after the LAST `@` of the
//! mailbox, the local part is kept byte for byte as the client wrote it, and
//! the old tricks that once made servers relay (`user%remote@local`,
//! `remote!user@local`, `"user@remote"@local`, source routes) are either plain
//! local-part characters or ignored syntax, never a second destination.
//! Anything outside the grammar is an error whose message names the problem.

use std::fmt;
use std::net::IpAddr;

mod domain;
mod local;
#[cfg(test)]
mod tests;

use domain::{parse_domain, parse_route_domain};
use local::parse_local_part;

/// RFC 5321 §4.5.3.1.1: the longest local part, in octets.
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// RFC 5321 §4.5.3.1.2: the longest domain, in octets.
pub const MAX_DOMAIN_LEN: usize = 255;
/// RFC 1035 §2.3.4: the longest label of a domain name, in octets.
pub const MAX_LABEL_LEN: usize = 63;
/// RFC 5321 §4.5.3.1.3: the longest path, angle brackets and source route
/// included, in octets.
pub const MAX_PATH_LEN: usize = 256;

/// The domain part of a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name, lower-cased ASCII (or UTF-8 under SMTPUTF8), no trailing dot.
    ///
    /// An EMPTY name means "this server": it only occurs for the bare
    /// `<postmaster>` recipient (RFC 5321 §4.5.1), which must be accepted
    /// without a domain.
    Name(String),
    /// An address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]`. An
    /// IPv4-mapped IPv6 literal (`[IPv6:::ffff:192.0.2.1]`) is stored as the
    /// IPv4 address, so that one host has one spelling.
    Literal(IpAddr),
}

/// A mailbox `local@domain`. `local` is kept exactly as the client wrote it
/// (a quoted string keeps its quotes), and is never rewritten: `%`, `!` and a
/// quoted `@` are just characters of the local part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part as written: a Dot-string or a Quoted-string with its quotes.
    pub local: String,
    /// The destination domain (the one after the last `@`).
    pub domain: Domain,
}

/// The MAIL FROM path: the null sender `<>` or a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: bounces and other messages that must not be answered (RFC 5321 §4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

/// Why an address did not parse; the message names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub String);

impl Mailbox {
    /// The local part with quoting undone (`"a b"` → `a b`, `"a\"b"` → `a"b`),
    /// for user lookup. A Dot-string local part is returned unchanged.
    pub fn local_unquoted(&self) -> String {
        let Some(inner) = self
            .local
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        else {
            return self.local.clone();
        };
        // RFC 5321 §4.1.2 quoted-pairSMTP: a backslash makes the next
        // character literal.
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(n) => f.write_str(n),
            Domain::Literal(IpAddr::V4(a)) => write!(f, "[{a}]"),
            Domain::Literal(IpAddr::V6(a)) => write!(f, "[IPv6:{a}]"),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.domain {
            // The bare `<postmaster>` has no domain; writing `postmaster@`
            // would not parse again.
            Domain::Name(n) if n.is_empty() => f.write_str(&self.local),
            domain => write!(f, "{}@{}", self.local, domain),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => Ok(()),
            ReversePath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// Parses a forward path `<[@route,...:]local@domain>` (angle brackets
/// included). A source route is accepted and ignored (RFC 5321 §4.1.2 and
/// App. C). `utf8` allows UTF-8 in local part and domain (SMTPUTF8).
pub fn parse_forward_path(s: &str, utf8: bool) -> Result<Mailbox, AddressError> {
    if s == "<>" {
        return Err(AddressError(
            "the null path <> is not a valid recipient".into(),
        ));
    }
    // RFC 5321 §4.5.1: `<postmaster>` without a domain must be accepted and
    // means the postmaster of this server.
    if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        if inner.eq_ignore_ascii_case("postmaster") {
            return Ok(Mailbox {
                local: inner.to_string(),
                domain: Domain::Name(String::new()),
            });
        }
    }
    parse_path(s, utf8)
}

/// Parses a reverse path: `<>` or a forward path.
pub fn parse_reverse_path(s: &str, utf8: bool) -> Result<ReversePath, AddressError> {
    if s == "<>" {
        return Ok(ReversePath::Null);
    }
    parse_path(s, utf8).map(ReversePath::Mailbox)
}

/// A read position in the text of a path.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    utf8: bool,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn since(&self, start: usize) -> &'a str {
        &self.text[start..self.pos]
    }
}

/// `<[A-d-l ":"] Mailbox>` (RFC 5321 §4.1.2 Path), with every limit checked.
fn parse_path(s: &str, utf8: bool) -> Result<Mailbox, AddressError> {
    // RFC 5321 §4.5.3.1.3; checked first so that nothing longer is even looked at.
    if s.len() > MAX_PATH_LEN {
        return Err(path_too_long(s.len()));
    }
    let mut c = Cursor {
        text: s,
        pos: 0,
        utf8,
    };
    if c.bump() != Some('<') {
        return Err(AddressError(format!(
            "missing '<': a path is written <local@domain>, not {s:?}"
        )));
    }
    if c.peek() == Some('@') {
        skip_source_route(&mut c)?;
    }
    let local = parse_local_part(&mut c)?;
    match c.bump() {
        Some('@') => {}
        None | Some('>') => {
            return Err(AddressError(format!(
                "missing '@' and domain after local part {local:?}"
            )))
        }
        Some(ch) => return Err(bad_char(ch, "local part", utf8)),
    }
    let domain = parse_domain(&mut c)?;
    match c.bump() {
        Some('>') => {}
        // RFC 5321 §4.1.2: an `@` belongs in the local part only inside a
        // quoted string; reading `a@b@c` any other way is how relays get fooled.
        Some('@') => {
            return Err(AddressError(
                "more than one '@': an '@' in the local part must be inside a quoted string".into(),
            ))
        }
        None => return Err(AddressError("missing closing '>'".into())),
        Some(' ') if !c.rest().contains('>') => {
            return Err(AddressError("missing closing '>'".into()))
        }
        Some(ch) => return Err(bad_char(ch, "domain", utf8)),
    }
    if !c.rest().is_empty() {
        return Err(AddressError(format!(
            "unexpected text {:?} after '>'",
            c.rest()
        )));
    }
    let mailbox = Mailbox {
        local: local.to_string(),
        domain,
    };
    // Lower-casing a UTF-8 domain can make it longer; the path as it will be
    // written again must stay within the limit too.
    let canonical_len = mailbox.to_string().len() + 2;
    if canonical_len > MAX_PATH_LEN {
        return Err(path_too_long(canonical_len));
    }
    Ok(mailbox)
}

/// RFC 5321 §4.1.2 `A-d-l = At-domain *( "," At-domain )` followed by `:`.
/// App. C: the route is syntax only; the mailbox after `:` is the destination.
fn skip_source_route(c: &mut Cursor<'_>) -> Result<(), AddressError> {
    let mut hops = 0;
    loop {
        // The caller (or the `,` branch below) saw the '@'.
        c.bump();
        parse_route_domain(c)?;
        hops += 1;
        match c.bump() {
            Some(',') if c.peek() == Some('@') => {}
            Some(',') => return Err(AddressError("source route: expected '@' after ','".into())),
            Some(':') => return Ok(()),
            None | Some('>') if hops == 1 => {
                return Err(AddressError("empty local part before '@'".into()))
            }
            None | Some('>') => {
                return Err(AddressError(
                    "source route must end with ':' followed by the mailbox".into(),
                ))
            }
            Some(ch) => return Err(bad_char(ch, "source route", c.utf8)),
        }
    }
}

fn path_too_long(len: usize) -> AddressError {
    AddressError(format!(
        "path is {len} octets long; the limit is {MAX_PATH_LEN} (RFC 5321 §4.5.3.1.3)"
    ))
}

/// The error for a character that is not allowed where it stands, saying why.
fn bad_char(ch: char, place: &str, utf8: bool) -> AddressError {
    // `{:?}` escapes control characters, so the reply echoes no raw bytes.
    let why = if ch.is_control() {
        format!("control character {ch:?} in {place}")
    } else if ch == ' ' {
        format!("space in {place}; a space is allowed only inside a quoted local part")
    } else if !ch.is_ascii() && !utf8 {
        format!("non-ASCII character {ch:?} in {place} requires SMTPUTF8")
    } else if ch.is_whitespace() {
        format!("whitespace character {ch:?} in {place}")
    } else {
        format!("invalid character {ch:?} in {place}")
    };
    AddressError(why)
}

/// Whether a non-ASCII character may appear in an address under SMTPUTF8.
/// RFC 6531 §3.3 allows UTF8-non-ascii; control characters (C1) and
/// non-ASCII white space (NBSP, U+2028…) are still refused because other
/// software reads them as line breaks or separators.
fn is_utf8_addr_char(ch: char, utf8: bool) -> bool {
    utf8 && !ch.is_ascii() && !ch.is_control() && !ch.is_whitespace()
}

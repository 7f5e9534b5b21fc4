//! RFC 5321 §4.1.2 paths and mailboxes, parsed strictly.
//!
//! SKELETON: types and signatures are the contract other modules build on;
//! the bodies are filled in by the address/command work.

use std::fmt;
use std::net::IpAddr;

/// The domain part of a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name, lower-cased ASCII (or UTF-8 under SMTPUTF8), no trailing dot.
    Name(String),
    /// An address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
}

/// A mailbox `local@domain`. `local` is kept exactly as the client wrote it
/// (a quoted string keeps its quotes), and is never rewritten: `%`, `!` and a
/// quoted `@` are just characters of the local part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    pub local: String,
    pub domain: Domain,
}

/// The MAIL FROM path: the null sender `<>` or a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Mailbox),
}

/// Why an address did not parse; the message names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub String);

impl Mailbox {
    /// The local part with quoting undone (`"a b"` → `a b`), for user lookup.
    pub fn local_unquoted(&self) -> String {
        todo!()
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
        write!(f, "{}@{}", self.local, self.domain)
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
    let _ = (s, utf8);
    todo!()
}

/// Parses a reverse path: `<>` or a forward path.
pub fn parse_reverse_path(s: &str, utf8: bool) -> Result<ReversePath, AddressError> {
    let _ = (s, utf8);
    todo!()
}

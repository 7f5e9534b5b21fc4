//! One `relay.allow` value (docs/reference.md §4) parsed into an [`Entry`]: an optional
//! `!` (exception), then an address, an octet pattern, a CIDR block or a host
//! name. Parsing is strict: anything ambiguous is an error naming the value,
//! because a relay entry silently read differently from what the admin meant
//! is an open relay or a locked-out office.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::entry_error::{EntryError, EntryErrorKind};
use super::pattern::{compile_pattern, parse_pattern};
use super::range::{canonical, IpRange};

/// A parsed relay-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value as written, whitespace trimmed (`!` included).
    pub raw: String,
    /// `!` prefix: an exception that denies what it matches.
    pub negated: bool,
    /// What the entry matches.
    pub kind: EntryKind,
}

/// What an entry matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Address ranges, ascending, not overlapping: one host, an octet
    /// pattern's ranges, or a CIDR block.
    Ranges(Vec<IpRange>),
    /// A host or domain name: lower-case, no trailing dot. Its A/AAAA
    /// addresses are resolved by the caller; it also matches a client whose
    /// verified reverse-DNS name is the name or ends in `.` + name.
    Name(String),
}

/// Parses one `relay.allow` value (docs/reference.md §4). Whitespace around it is
/// trimmed; everything else must be exactly one notation.
pub fn parse_entry(raw: &str) -> Result<Entry, EntryError> {
    let (trimmed, negated, kind) = parse_borrowed(raw)?;
    Ok(Entry {
        raw: trimmed.to_string(),
        negated,
        kind,
    })
}

/// [`parse_entry`] without copying the value: the trimmed text, `!`, and
/// what the entry matches (a long list is not a string per entry twice).
pub(crate) fn parse_borrowed(raw: &str) -> Result<(&str, bool, EntryKind), EntryError> {
    let trimmed = raw.trim();
    match parse_trimmed(trimmed) {
        Ok((negated, kind)) => Ok((trimmed, negated, kind)),
        Err(kind) => Err(EntryError {
            raw: trimmed.to_string(),
            kind,
        }),
    }
}

/// The two notations a long list is mostly made of, an IPv4 address and
/// an IPv4 CIDR block (with or without `!`), read without allocating:
/// the trimmed text, `!`, and the range. `None` for anything else,
/// including every mistake: [`parse_borrowed`] then reads the entry (and
/// words the error), so both always agree on what they both accept.
pub(crate) fn parse_quick(raw: &str) -> Option<(&str, bool, IpRange)> {
    let trimmed = raw.trim();
    let (negated, body) = match trimmed.strip_prefix('!') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, trimmed.as_bytes()),
    };
    let mut i = 0;
    let mut addr: u32 = 0;
    for octet in 0..4 {
        if octet > 0 {
            if body.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let (value, len) = decimal(body.get(i..)?, 255)?;
        addr = addr << 8 | value;
        i += len;
    }
    let range = match body.get(i) {
        None => IpRange::V4 {
            first: addr,
            last: addr,
        },
        Some(b'/') => {
            let (prefix, len) = decimal(body.get(i + 1..)?, 32)?;
            if i + 1 + len != body.len() {
                return None;
            }
            let host = u32::MAX.checked_shr(prefix).unwrap_or(0);
            if addr & host != 0 {
                return None; // host bits set: the full parser says which block
            }
            IpRange::V4 {
                first: addr,
                last: addr | host,
            }
        }
        Some(_) => return None,
    };
    Some((trimmed, negated, range))
}

/// A decimal number of 1 to 3 digits at the start of `b`, without a
/// leading zero, at most `max`: its value and length.
fn decimal(b: &[u8], max: u32) -> Option<(u32, usize)> {
    let len = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > 3 || (len > 1 && b[0] == b'0') {
        return None;
    }
    let value = b[..len]
        .iter()
        .fold(0, |n, &c| n * 10 + u32::from(c - b'0'));
    (value <= max).then_some((value, len))
}

/// Whether `raw`, if it parses at all, is a name entry: [`parse_entry`]'s
/// own choice of notation, without parsing. Lets the caller find the
/// names to resolve without parsing every address entry of a long list.
pub(crate) fn is_name_notation(raw: &str) -> bool {
    let trimmed = raw.trim();
    let body = trimmed.strip_prefix('!').unwrap_or(trimmed);
    // What `notation(body) == Notation::Name` says, in one pass over the
    // bytes: asked of every entry of a long list.
    let mut other = false;
    for b in body.bytes() {
        match b {
            b'/' | b':' => return false,
            b'0'..=b'9' | b'.' | b'*' | b'-' => {}
            _ => other = true,
        }
    }
    other
}

/// The notation an entry's body (after `!`) is written in, by its
/// characters alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notation {
    /// `addr/prefix`.
    Cidr,
    /// An IPv6 address.
    V6,
    /// Digits, dots, `*` and `-`: an IPv4 address or octet pattern.
    Pattern,
    /// Anything else.
    Name,
}

fn notation(body: &str) -> Notation {
    if body.contains('/') {
        Notation::Cidr
    } else if body.contains(':') {
        Notation::V6
    } else if body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'*' | b'-'))
    {
        // Anything that looks numeric is an address pattern, never a name, so
        // a mistyped address can never turn into a DNS lookup.
        Notation::Pattern
    } else {
        Notation::Name
    }
}

fn parse_trimmed(s: &str) -> Result<(bool, EntryKind), EntryErrorKind> {
    if s.is_empty() {
        return Err(EntryErrorKind::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(EntryErrorKind::Whitespace);
    }
    let (negated, body) = match s.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.is_empty() {
        return Err(EntryErrorKind::LoneBang);
    }
    if body.starts_with('!') {
        return Err(EntryErrorKind::DoubleBang);
    }
    let kind = match notation(body) {
        Notation::Cidr => {
            let (addr, prefix) = body.split_once('/').unwrap_or((body, ""));
            EntryKind::Ranges(vec![parse_cidr(addr, prefix)?])
        }
        Notation::V6 => {
            let v6: Ipv6Addr = body.parse().map_err(|_| EntryErrorKind::BadAddress {
                addr: body.to_string(),
            })?;
            // An IPv6 address without a prefix is one host (/128), never a network (docs/reference.md §4).
            EntryKind::Ranges(vec![IpRange::host(IpAddr::V6(v6))])
        }
        Notation::Pattern => EntryKind::Ranges(compile_pattern(&parse_pattern(body)?)?),
        Notation::Name => EntryKind::Name(parse_name(body)?),
    };
    Ok((negated, kind))
}

/// `10.0.0.0/8`, `2001:db8::/32`. An IPv6 block inside the IPv4-mapped range
/// (`::ffff:10.0.0.0/104`) is stored as the IPv4 block it denotes, as mapped
/// clients are matched as IPv4.
fn parse_cidr(addr: &str, prefix: &str) -> Result<IpRange, EntryErrorKind> {
    if prefix.is_empty()
        || prefix.len() > 3
        || !prefix.bytes().all(|b| b.is_ascii_digit())
        || (prefix.len() > 1 && prefix.starts_with('0'))
    {
        return Err(EntryErrorKind::BadPrefix {
            prefix: prefix.to_string(),
        });
    }
    let len: u32 = prefix.parse().map_err(|_| EntryErrorKind::BadPrefix {
        prefix: prefix.to_string(),
    })?;
    let ip = if addr.contains(':') {
        IpAddr::V6(addr.parse().map_err(|_| EntryErrorKind::BadAddress {
            addr: addr.to_string(),
        })?)
    } else {
        if !addr
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'*' | b'-'))
        {
            return Err(EntryErrorKind::BadAddress {
                addr: addr.to_string(),
            });
        }
        // Reuse the octet parser for its precise messages (leading zero, over 255).
        let octets = parse_pattern(addr)?;
        if octets.iter().any(|o| o.lo != o.hi) {
            return Err(EntryErrorKind::PatternInCidr);
        }
        IpAddr::V4(Ipv4Addr::new(
            octets[0].lo,
            octets[1].lo,
            octets[2].lo,
            octets[3].lo,
        ))
    };
    let (value, bits) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    if len > bits {
        return Err(EntryErrorKind::PrefixTooLong {
            prefix: len,
            max: bits,
        });
    }
    // The low `bits - len` bits; 1 << 128 does not exist, hence checked_shl.
    let host_mask: u128 = match 1u128.checked_shl(bits - len) {
        Some(block) => block - 1,
        None => u128::MAX,
    };
    if value & host_mask != 0 {
        // Host bits under the prefix are a typo more often than not
        // (`10.0.0.1/8`): refuse and show the block it would have been.
        let network = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((value & !host_mask) as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value & !host_mask)),
        };
        return Err(EntryErrorKind::HostBits {
            prefix: len,
            network,
        });
    }
    let (first, last) = (value, value | host_mask);
    Ok(match ip {
        IpAddr::V4(_) => IpRange::V4 {
            first: first as u32,
            last: last as u32,
        },
        IpAddr::V6(_) => {
            let (lo, hi) = (Ipv6Addr::from(first), Ipv6Addr::from(last));
            match (canonical(IpAddr::V6(lo)), canonical(IpAddr::V6(hi))) {
                (IpAddr::V4(a), IpAddr::V4(b)) => IpRange::V4 {
                    first: u32::from(a),
                    last: u32::from(b),
                },
                _ => IpRange::V6 { first, last },
            }
        }
    })
}

/// RFC 1123 §2.1 host names (letters, digits, hyphens; labels of 1-63 not
/// starting or ending with a hyphen; RFC 1035 §2.3.4: at most 253 characters
/// written without the root dot). One trailing dot is allowed and dropped;
/// case is folded (RFC 4343).
fn parse_name(body: &str) -> Result<String, EntryErrorKind> {
    if let Some(domain) = body.strip_prefix("*.") {
        return Err(EntryErrorKind::WildcardName {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        });
    }
    let name = body.strip_suffix('.').unwrap_or(body);
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(if ch.is_ascii() {
            EntryErrorKind::NameChar { ch }
        } else {
            EntryErrorKind::NonAsciiName { ch }
        });
    }
    if name.len() > 253 {
        return Err(EntryErrorKind::NameTooLong { len: name.len() });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(EntryErrorKind::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(EntryErrorKind::LabelTooLong {
                label: label.to_string(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EntryErrorKind::LabelHyphen {
                label: label.to_string(),
            });
        }
    }
    // RFC 3696 §2: top-level domains are never all-numeric; requiring the last
    // label to start with a letter also catches `192.168.1.1x`-style typos.
    let last = name.rsplit('.').next().unwrap_or(name);
    if !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(EntryErrorKind::NumericName);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_test_agrees_with_the_notation() {
        let samples = [
            "",
            "!",
            "10.0.0.1",
            " !10.0.0.0/8 ",
            "a/b",
            "mail.example.com",
            "!example.com",
            "::1",
            "host:25",
            "192.168.40-43.*",
            "1.2.3.4x",
            "*.example.com",
            "1.2.3.4 5",
            "ünï",
            "-",
            "10.0.0.300",
            "x",
        ];
        for raw in samples {
            let trimmed = raw.trim();
            let body = trimmed.strip_prefix('!').unwrap_or(trimmed);
            assert_eq!(
                is_name_notation(raw),
                notation(body) == Notation::Name,
                "{raw:?}"
            );
        }
    }
}

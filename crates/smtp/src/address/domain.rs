//! The domain of a mailbox: RFC 5321 §4.1.2 Domain (dot-separated
//! sub-domains, U-labels under SMTPUTF8 per RFC 6531 §3.3) or an address
//! literal (§4.1.3: IPv4 or `IPv6:`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    bad_char, is_utf8_addr_char, AddressError, Cursor, Domain, MAX_DOMAIN_LEN, MAX_LABEL_LEN,
};

/// Reads the domain after the `@` of a mailbox and stops before the
/// character that follows it (normally the `>`).
pub(super) fn parse_domain(c: &mut Cursor<'_>) -> Result<Domain, AddressError> {
    if c.peek() == Some('[') {
        parse_address_literal(c).map(Domain::Literal)
    } else {
        parse_domain_name(c, "domain").map(Domain::Name)
    }
}

/// Reads one domain of a source route (RFC 5321 §4.1.2 At-domain: a name,
/// never a literal). It is validated like any domain, then ignored.
pub(super) fn parse_route_domain(c: &mut Cursor<'_>) -> Result<(), AddressError> {
    parse_domain_name(c, "source route").map(drop)
}

fn parse_domain_name(c: &mut Cursor<'_>, place: &str) -> Result<String, AddressError> {
    let start = c.pos;
    while c.peek().is_some_and(|ch| {
        ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' || is_utf8_addr_char(ch, c.utf8)
    }) {
        c.bump();
    }
    let name = c.since(start);
    if name.is_empty() {
        return Err(match c.peek() {
            None | Some('>') | Some(',') | Some(':') => {
                AddressError("missing domain after '@'".into())
            }
            Some(ch) => bad_char(ch, place, c.utf8),
        });
    }
    check_domain_name(name)
}

/// Checks the labels of a name and lower-cases it (RFC 5321 §2.4: domains
/// are case-insensitive; one spelling makes the local-domain match exact).
pub(super) fn check_domain_name(name: &str) -> Result<String, AddressError> {
    // RFC 5321 §4.1.2 has no trailing dot in Domain; `local.test.` would
    // otherwise be a second spelling of `local.test`.
    if name.ends_with('.') {
        return Err(AddressError(format!(
            "domain {name:?} ends with a dot; write it without the trailing dot"
        )));
    }
    let lower = name.to_lowercase();
    if lower.len() > MAX_DOMAIN_LEN {
        return Err(AddressError(format!(
            "domain is {} octets long; the limit is {MAX_DOMAIN_LEN} (RFC 5321 §4.5.3.1.2)",
            lower.len()
        )));
    }
    for label in lower.split('.') {
        // RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]: not empty, no
        // hyphen at either end.
        if label.is_empty() {
            return Err(AddressError(format!(
                "domain {name:?} has an empty label (a leading dot or two dots in a row)"
            )));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(AddressError(format!(
                "label {label:?} of the domain is {} octets long; the limit is {MAX_LABEL_LEN}",
                label.len()
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError(format!(
                "label {label:?} of the domain starts or ends with a hyphen"
            )));
        }
    }
    // A name like `127.0.0.1` is not a host name (RFC 1123 §2.1: top-level
    // labels are alphabetic); taking it as one would give an IP address a
    // second spelling next to its literal `[127.0.0.1]`.
    if lower
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(AddressError(format!(
            "domain {name:?} looks like an IP address; write an address literal in brackets, e.g. [192.0.2.1]"
        )));
    }
    Ok(lower)
}

/// `[` IPv4-address-literal / IPv6-address-literal `]` (RFC 5321 §4.1.3).
fn parse_address_literal(c: &mut Cursor<'_>) -> Result<IpAddr, AddressError> {
    c.bump();
    let start = c.pos;
    loop {
        match c.peek() {
            Some(']') => break,
            // RFC 5321 §4.1.3 dcontent: printable ASCII except `[`, `\`, `]`.
            Some(ch) if matches!(ch, '!'..='~') && ch != '[' && ch != '\\' => {
                c.bump();
            }
            Some(ch) => return Err(bad_char(ch, "address literal", c.utf8)),
            None => {
                return Err(AddressError(
                    "unterminated address literal: missing ']'".into(),
                ))
            }
        }
    }
    let content = c.since(start);
    c.bump();
    if content.is_empty() {
        return Err(AddressError("empty address literal []".into()));
    }
    match content.split_once(':') {
        None => parse_ipv4(content)
            .map(IpAddr::V4)
            .ok_or_else(|| AddressError(format!("invalid IPv4 address literal [{content}]"))),
        // RFC 5321 §4.1.3: the tag is "IPv6" (ABNF strings are case-insensitive).
        Some((tag, addr)) if tag.eq_ignore_ascii_case("IPv6") => {
            let v6: Ipv6Addr = addr
                .parse()
                .map_err(|_| AddressError(format!("invalid IPv6 address literal [{content}]")))?;
            // One host, one spelling: `[IPv6:::ffff:127.0.0.1]` is 127.0.0.1,
            // so the check for the server's own addresses cannot be dodged.
            Ok(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        Some((tag, _)) => Err(AddressError(format!(
            "unsupported address literal tag {tag:?}; only IPv4 and IPv6 literals are accepted"
        ))),
    }
}

/// RFC 5321 §4.1.3 `IPv4-address-literal = Snum 3("." Snum)`, Snum 0–255.
/// A leading zero (`010`) is refused: inet_aton would read it as octal, so
/// two programs could disagree about which host it names.
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        let well_formed = (1..=3).contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        if !well_formed {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(Ipv4Addr::from(octets)),
    }
}

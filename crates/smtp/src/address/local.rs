//! The local part of a mailbox: RFC 5321 §4.1.2 Dot-string or Quoted-string,
//! with the UTF-8 extension of RFC 6531 §3.3. The text is returned exactly as
//! written; nothing in it is interpreted (no `%` or `!` routing).

use super::{bad_char, is_utf8_addr_char, AddressError, Cursor, MAX_LOCAL_PART_LEN};

/// Reads a local part and stops before the character that follows it
/// (normally the `@`).
pub(super) fn parse_local_part<'a>(c: &mut Cursor<'a>) -> Result<&'a str, AddressError> {
    let start = c.pos;
    match c.peek() {
        Some('"') => parse_quoted_string(c)?,
        Some('@') => return Err(AddressError("empty local part before '@'".into())),
        None | Some('>') => return Err(AddressError("missing mailbox in path".into())),
        Some(_) => parse_dot_string(c)?,
    }
    let local = c.since(start);
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(AddressError(format!(
            "local part {local:?} is {} octets long; the limit is {MAX_LOCAL_PART_LEN} (RFC 5321 §4.5.3.1.1)",
            local.len()
        )));
    }
    Ok(local)
}

/// RFC 5322 §3.2.3 atext as used by RFC 5321 §4.1.2 Atom (plus UTF-8 under
/// SMTPUTF8). `%` and `!` are atext: they are ordinary characters here.
fn is_atext(ch: char, utf8: bool) -> bool {
    ch.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(ch) || is_utf8_addr_char(ch, utf8)
}

/// RFC 5321 §4.1.2 qtextSMTP: printable ASCII except `"` and `\` (plus
/// UTF-8 under SMTPUTF8). Space is allowed; no control character is.
fn is_qtext(ch: char, utf8: bool) -> bool {
    (matches!(ch, ' '..='~') && ch != '"' && ch != '\\') || is_utf8_addr_char(ch, utf8)
}

/// `Dot-string = Atom *("." Atom)`: no leading, trailing or double dot.
fn parse_dot_string(c: &mut Cursor<'_>) -> Result<(), AddressError> {
    let start = c.pos;
    loop {
        let atom_start = c.pos;
        while c.peek().is_some_and(|ch| is_atext(ch, c.utf8)) {
            c.bump();
        }
        if c.pos == atom_start {
            let why = match c.peek() {
                Some('.') if c.pos == start => "local part starts with a dot",
                Some('.') => "local part has two dots in a row",
                None | Some('@') | Some('>') if c.pos != start => "local part ends with a dot",
                Some(ch) => return Err(bad_char(ch, "local part", c.utf8)),
                None => "missing mailbox in path",
            };
            return Err(AddressError(why.into()));
        }
        if c.peek() != Some('.') {
            return Ok(());
        }
        c.bump();
    }
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`, where QcontentSMTP is
/// qtextSMTP or `\` followed by printable ASCII (quoted-pairSMTP).
fn parse_quoted_string(c: &mut Cursor<'_>) -> Result<(), AddressError> {
    let unterminated = || AddressError("unterminated quoted string in local part".into());
    c.bump();
    let content_start = c.pos;
    loop {
        match c.bump() {
            None => return Err(unterminated()),
            Some('"') => break,
            Some('\\') => match c.bump() {
                Some(' '..='~') => {}
                None => return Err(unterminated()),
                Some(ch) => return Err(bad_char(ch, "quoted local part after '\\'", c.utf8)),
            },
            Some(ch) if is_qtext(ch, c.utf8) => {}
            Some(ch) => return Err(bad_char(ch, "quoted local part", c.utf8)),
        }
    }
    // The grammar allows `""`, but an empty local part names no mailbox and
    // only serves to confuse what comes after it.
    if c.pos - content_start == 1 {
        return Err(AddressError("empty local part \"\"".into()));
    }
    Ok(())
}

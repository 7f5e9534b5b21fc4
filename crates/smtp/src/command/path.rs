//! `MAIL FROM:<path> [parameters]` and `RCPT TO:<path> [parameters]`: the
//! path token and the ESMTP parameters after it (RFC 5321 §4.1.1.2, §4.1.1.3,
//! §4.1.2).

use super::{parse_decimal, usage, Body, Command, DecimalError, MailParams};
use crate::address::{parse_forward_path, parse_reverse_path};
use crate::reply::Reply;

/// `FROM:<reverse-path> [SP Mail-parameters]`, the argument of MAIL.
pub(super) fn parse_mail(arg: &str) -> Result<Command, Reply> {
    let (path, params) =
        split_path(arg, "FROM:").ok_or_else(|| usage("MAIL FROM:<address> [parameters]"))?;
    // Parameters first: SMTPUTF8 on this line is what allows UTF-8 in the path.
    let params = mail_params(params)?;
    let path = parse_reverse_path(path, params.smtputf8)
        .map_err(|e| Reply::new(501, (5, 1, 7), format!("Bad sender address syntax: {e}")))?;
    Ok(Command::Mail(path, params))
}

/// `TO:<forward-path> [SP Rcpt-parameters]`, the argument of RCPT.
pub(super) fn parse_rcpt(arg: &str, utf8: bool) -> Result<Command, Reply> {
    let (path, params) = split_path(arg, "TO:").ok_or_else(|| usage("RCPT TO:<address>"))?;
    // No RCPT parameter is offered (no DSN), so any is unsupported.
    if let Some(param) = esmtp_params(params)?.first() {
        return Err(unsupported(param.keyword));
    }
    let mailbox = parse_forward_path(path, utf8)
        .map_err(|e| Reply::new(501, (5, 1, 3), format!("Bad recipient address syntax: {e}")))?;
    Ok(Command::Rcpt(mailbox))
}

/// Splits `FROM:<path> params` into the path token and the parameter text
/// (empty or starting with a space). `None` when the keyword is missing or
/// no path follows it.
fn split_path<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let prefix = arg.get(..keyword.len())?;
    if !prefix.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &arg[keyword.len()..];
    // RFC 5321 §4.1.1.2 has no space after the colon, but real clients send
    // one and Postfix accepts it. One, not more: anything else is garbage.
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        return None;
    }
    let end = path_end(rest);
    Some((&rest[..end], &rest[end..]))
}

/// Where the path token ends: after the `>` that closes it (a `>` inside a
/// quoted local part does not count), then at the next space, so that text
/// glued to the `>` goes to the address parser and is reported there. With
/// no closing `>` the whole rest is the token, for the same reason.
fn path_end(s: &str) -> usize {
    let mut after_close = 0;
    if s.starts_with('<') {
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, c) in s.char_indices().skip(1) {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' if in_quotes => escaped = true,
                '"' => in_quotes = !in_quotes,
                '>' if !in_quotes => {
                    after_close = i + 1;
                    break;
                }
                _ => {}
            }
        }
        if after_close == 0 {
            return s.len();
        }
    }
    s[after_close..]
        .find(' ')
        .map_or(s.len(), |i| after_close + i)
}

/// One `keyword[=value]` of RFC 5321 §4.1.2 esmtp-param.
struct Param<'a> {
    keyword: &'a str,
    value: Option<&'a str>,
}

/// Splits the parameter text into parameters and checks their syntax.
fn esmtp_params(s: &str) -> Result<Vec<Param<'_>>, Reply> {
    let mut params = Vec::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let (keyword, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        // RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
        let keyword_ok = keyword.starts_with(|c: char| c.is_ascii_alphanumeric())
            && keyword
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // esmtp-value = 1*(%d33-60 / %d62-126), and UTF-8 (RFC 6531 §3.3).
        let value_ok = match value {
            None => true,
            Some(v) => {
                !v.is_empty()
                    && v.chars()
                        .all(|c| matches!(c, '!'..='<' | '>'..='~') || !c.is_ascii())
            }
        };
        if !keyword_ok || !value_ok {
            return Err(Reply::new(
                501,
                (5, 5, 4),
                format!("Syntax error in parameter {word:?}"),
            ));
        }
        params.push(Param { keyword, value });
    }
    Ok(params)
}

fn unsupported(keyword: &str) -> Reply {
    Reply::new(555, (5, 5, 4), format!("Unsupported parameter {keyword}"))
}

fn bad_param(text: String) -> Reply {
    Reply::new(501, (5, 5, 4), text)
}

/// The MAIL parameters Portcullis knows; anything else is `555 5.5.4`.
fn mail_params(s: &str) -> Result<MailParams, Reply> {
    let mut out = MailParams::default();
    let mut seen: Vec<String> = Vec::new();
    for Param { keyword, value } in esmtp_params(s)? {
        let name = keyword.to_ascii_uppercase();
        // Each parameter at most once: with two SIZE values the size check
        // and the message could each trust a different one.
        if seen.contains(&name) {
            return Err(bad_param(format!("Duplicate parameter {name}")));
        }
        match name.as_str() {
            "SIZE" => out.size = Some(size_value(value)?),
            "BODY" => out.body = body_value(value)?,
            "SMTPUTF8" => {
                if value.is_some() {
                    return Err(bad_param("SMTPUTF8 takes no value".into()));
                }
                out.smtputf8 = true;
            }
            "AUTH" => out.auth = Some(auth_value(value)?),
            _ => return Err(unsupported(keyword)),
        }
        seen.push(name);
    }
    Ok(out)
}

/// RFC 1870 §3: `SIZE=` 1*20DIGIT; a value past `u64::MAX` is refused, not
/// wrapped or saturated.
fn size_value(value: Option<&str>) -> Result<u64, Reply> {
    let v = value.ok_or_else(|| bad_param("SIZE parameter needs a value".into()))?;
    parse_decimal(v).map_err(|e| match e {
        DecimalError::NotDigits => bad_param(format!("SIZE value {v:?} is not a number")),
        DecimalError::TooLarge => bad_param(format!("SIZE value {v} is too large")),
    })
}

/// RFC 6152 §2 and RFC 3030 §3: `BODY=7BIT|8BITMIME|BINARYMIME`.
fn body_value(value: Option<&str>) -> Result<Body, Reply> {
    let v = value.ok_or_else(|| bad_param("BODY parameter needs a value".into()))?;
    if v.eq_ignore_ascii_case("7BIT") {
        Ok(Body::SevenBit)
    } else if v.eq_ignore_ascii_case("8BITMIME") {
        Ok(Body::EightBitMime)
    } else if v.eq_ignore_ascii_case("BINARYMIME") {
        Ok(Body::BinaryMime)
    } else {
        Err(bad_param(format!(
            "BODY value {v:?} is not 7BIT, 8BITMIME or BINARYMIME"
        )))
    }
}

/// RFC 4954 §5: `AUTH=` xtext (RFC 3461 §4) of an addr-spec or `<>`.
fn auth_value(value: Option<&str>) -> Result<String, Reply> {
    let v = value.ok_or_else(|| bad_param("AUTH parameter needs a value".into()))?;
    let bad = |why: &str| bad_param(format!("AUTH value {v:?} {why}"));
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // hexchar = "+" 2HEXDIG (RFC 3461 says upper case; lower case is
            // read the same, it cannot mean anything else).
            b'+' => {
                let byte = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&hi), Some(&lo)) => hex_digit(hi).zip(hex_digit(lo)),
                    _ => None,
                };
                let (hi, lo) =
                    byte.ok_or_else(|| bad("has a '+' not followed by two hex digits"))?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            // xchar: printable ASCII; `=` and space cannot reach here.
            b @ b'!'..=b'~' => {
                out.push(b);
                i += 1;
            }
            _ => return Err(bad("is not xtext (printable ASCII)")),
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| bad("does not decode to UTF-8"))?;
    // Why: the decoded value is logged and may be passed on when the message
    // is relayed; a CR LF hidden as `+0D+0A` must never become a line break.
    if decoded.chars().any(char::is_control) {
        return Err(bad("decodes to a control character"));
    }
    Ok(if decoded == "<>" {
        String::new()
    } else {
        decoded
    })
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

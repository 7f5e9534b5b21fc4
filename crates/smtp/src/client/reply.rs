//! Reading server replies (RFC 5321 §4.2): `ddd-text` continuation lines and
//! a last `ddd text` line, with the enhanced status code (RFC 2034, RFC 3463)
//! split off when the server sends one.
//!
//! The parser is fed whatever bytes arrive and hands out whole replies. It is
//! bounded: a line longer than [`MAX_REPLY_LINE_LEN`] or a reply of more than
//! [`MAX_REPLY_LINES`] lines is an error, so a hostile server cannot make the
//! client buffer without limit.

use crate::reply::{Enhanced, Reply};

/// The longest reply line accepted, CRLF included. RFC 5321 §4.5.3.1.5 says
/// 512 octets; real servers send longer text, so allow some slack, bounded.
pub const MAX_REPLY_LINE_LEN: usize = 2048;
/// The most lines one reply may have (an EHLO reply has about a dozen).
pub const MAX_REPLY_LINES: usize = 128;

/// Why the server's bytes are not a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line without its end, longer than [`MAX_REPLY_LINE_LEN`].
    #[error("reply line longer than {MAX_REPLY_LINE_LEN} octets")]
    LineTooLong,
    /// A line that does not start with a three-digit code and ` ` or `-`.
    #[error("malformed reply line {0:?}")]
    Malformed(String),
    /// A continuation line whose code differs from the first line's.
    #[error("reply code changed within one reply: {first} then {then}")]
    CodeChanged {
        /// The first line's code.
        first: u16,
        /// The differing code.
        then: u16,
    },
    /// More than [`MAX_REPLY_LINES`] lines.
    #[error("reply longer than {MAX_REPLY_LINES} lines")]
    TooManyLines,
}

/// Accumulates bytes from the server and yields complete replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    /// The code and text of the lines of the reply being read.
    lines: Vec<(u16, String)>,
}

impl ReplyParser {
    /// An empty parser.
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Appends bytes read from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a returned reply. After the `220`
    /// to STARTTLS this must be zero: anything else was sent in plaintext
    /// before the handshake and could be a man-in-the-middle's injection
    /// (the client-side twin of CVE-2011-0411), so the driver refuses it.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.lines.len()
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() >= MAX_REPLY_LINE_LEN {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            if end + 1 > MAX_REPLY_LINE_LEN {
                return Err(ReplyError::LineTooLong);
            }
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            // A reply line ends in CRLF; a bare LF from a sloppy server is
            // read the same way (this is our reading side: nothing we send
            // depends on it).
            let line = raw
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(&raw);
            let (code, last, text) = parse_line(line)?;
            if let Some(&(first, _)) = self.lines.first() {
                if first != code {
                    self.lines.clear();
                    return Err(ReplyError::CodeChanged { first, then: code });
                }
            }
            if self.lines.len() >= MAX_REPLY_LINES {
                self.lines.clear();
                return Err(ReplyError::TooManyLines);
            }
            self.lines.push((code, text));
            if last {
                let lines = std::mem::take(&mut self.lines);
                return Ok(Some(build(code, lines)));
            }
        }
    }
}

/// Splits one line (without its end) into code, "is last line" and text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let malformed = || ReplyError::Malformed(String::from_utf8_lossy(line).into_owned());
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    // RFC 5321 §4.2: the first digit is 2 to 5 (1yz is unused in SMTP).
    if !(b'2'..=b'5').contains(&line[0]) {
        return Err(malformed());
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    let (last, rest) = match line.get(3) {
        // RFC 5321 §4.2: "ddd" alone is a complete last line.
        None => (true, &[][..]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(malformed()),
    };
    // Control characters in text are replaced: the text ends up in logs,
    // `queue show` and bounces, where it must not forge lines.
    let text: String = String::from_utf8_lossy(rest)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Ok((code, last, text))
}

/// Makes the reply, splitting off the enhanced status code when the first
/// line starts with one whose class matches the reply code (RFC 2034 §4).
fn build(code: u16, lines: Vec<(u16, String)>) -> Reply {
    let texts: Vec<String> = lines.into_iter().map(|(_, t)| t).collect();
    let enhanced = texts.first().and_then(|t| enhanced_prefix(t, code));
    let lines = match enhanced {
        Some((e, _)) => {
            let prefix = e.to_string();
            texts
                .into_iter()
                .map(|t| match t.strip_prefix(&prefix) {
                    Some("") => String::new(),
                    Some(rest) if rest.starts_with(' ') => rest[1..].to_string(),
                    _ => t,
                })
                .collect()
        }
        None => texts,
    };
    Reply {
        code,
        enhanced: enhanced.map(|(e, _)| e),
        lines,
    }
}

/// `class.subject.detail` at the start of `text` (RFC 3463 §2: class 2, 4 or
/// 5 matching the reply, subject and detail up to three digits), followed by
/// a space or the end.
fn enhanced_prefix(text: &str, code: u16) -> Option<(Enhanced, usize)> {
    let token = text.split(' ').next()?;
    let mut parts = token.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |s: &str, max_len: usize| -> Option<u16> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let class = number(class, 1)?;
    if !matches!(class, 2 | 4 | 5) || class != code / 100 {
        return None;
    }
    let e = Enhanced(
        u8::try_from(class).ok()?,
        number(subject, 3)?,
        number(detail, 3)?,
    );
    Some((e, token.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Reply> {
        let mut p = ReplyParser::new();
        p.feed(bytes);
        let mut out = Vec::new();
        while let Some(r) = p.next_reply().unwrap() {
            out.push(r);
        }
        assert_eq!(p.buffered(), 0);
        out
    }

    #[test]
    fn a_single_line_reply_with_an_enhanced_code() {
        let r = parse_all(b"550 5.1.1 <bob@x>: no such user\r\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code, 550);
        assert_eq!(r[0].enhanced, Some(Enhanced(5, 1, 1)));
        assert_eq!(r[0].lines, ["<bob@x>: no such user"]);
    }

    #[test]
    fn multi_line_replies_keep_every_line_and_strip_the_repeated_code() {
        let r = parse_all(b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
        assert_eq!(r[0].code, 250);
        assert_eq!(r[0].enhanced, None);
        assert_eq!(r[0].lines, ["mx.test", "PIPELINING", "SIZE 1000"]);
        let r = parse_all(b"452-4.5.3 too many\r\n452 4.5.3 recipients\r\n");
        assert_eq!(r[0].enhanced, Some(Enhanced(4, 5, 3)));
        assert_eq!(r[0].lines, ["too many", "recipients"]);
    }

    #[test]
    fn a_code_alone_is_a_complete_reply() {
        let r = parse_all(b"354\r\n250\r\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].code, 354);
        assert_eq!(r[0].lines, [""]);
    }

    #[test]
    fn replies_split_anywhere_come_out_the_same() {
        let wire = b"220 mx ESMTP\r\n250-a\r\n250 2.0.0 b\r\n421 4.4.2 bye\r\n";
        let whole = parse_all(wire);
        for cut in 0..wire.len() {
            let mut p = ReplyParser::new();
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                p.feed(part);
                while let Some(r) = p.next_reply().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_mismatched_enhanced_class_stays_text() {
        let r = parse_all(b"250 5.0.0 odd\r\n");
        assert_eq!(r[0].enhanced, None);
        assert_eq!(r[0].lines, ["5.0.0 odd"]);
        let r = parse_all(b"250 2.1.0.4 odd\r\n");
        assert_eq!(r[0].enhanced, None);
    }

    #[test]
    fn bare_lf_line_ends_are_read() {
        let r = parse_all(b"250-a\n250 b\n");
        assert_eq!(r[0].lines, ["a", "b"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            &b"hello\r\n"[..],
            b"25\r\n",
            b"250x\r\n",
            b"150 odd\r\n",
            b"650 odd\r\n",
        ] {
            let mut p = ReplyParser::new();
            p.feed(bad);
            assert!(
                matches!(p.next_reply(), Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_code_change_inside_a_reply_is_an_error() {
        let mut p = ReplyParser::new();
        p.feed(b"250-a\r\n251 b\r\n");
        assert_eq!(
            p.next_reply(),
            Err(ReplyError::CodeChanged {
                first: 250,
                then: 251
            })
        );
    }

    #[test]
    fn replies_are_bounded() {
        let mut p = ReplyParser::new();
        p.feed(&vec![b'2'; MAX_REPLY_LINE_LEN]);
        assert_eq!(p.next_reply(), Err(ReplyError::LineTooLong));
        let mut p = ReplyParser::new();
        p.feed(&b"250-x\r\n".repeat(MAX_REPLY_LINES + 1));
        assert_eq!(p.next_reply(), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn control_characters_in_text_are_neutralised() {
        let r = parse_all(b"550 bad\x1b[31m\x00text\r\n");
        assert_eq!(r[0].lines, ["bad?[31m?text"]);
    }

    #[test]
    fn bytes_after_a_reply_are_reported_as_buffered() {
        let mut p = ReplyParser::new();
        p.feed(b"220 go ahead\r\n250 injected\r\n");
        assert_eq!(p.next_reply().unwrap().map(|r| r.code), Some(220));
        assert!(p.buffered() > 0);
    }
}

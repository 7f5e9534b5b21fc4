//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463).

use std::fmt;

/// RFC 5321 §4.5.3.1.5: the longest reply line, CRLF included, in octets.
pub const MAX_REPLY_LINE: usize = 512;

/// The longest prefix of `text` of at most `max` bytes ending on a character boundary.
fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An enhanced status code such as `5.7.1` (RFC 3463).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Enhanced(pub u8, pub u16, pub u16);

impl fmt::Display for Enhanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One SMTP reply: a code, an optional enhanced code, and one or more text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (RFC 5321 §4.2).
    pub code: u16,
    /// The enhanced status code (RFC 3463), when the reply carries one.
    pub enhanced: Option<Enhanced>,
    /// The text, one entry per reply line.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced code, e.g. `Reply::new(554, (5, 7, 1), "Relay access denied")`.
    pub fn new(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(Enhanced(enhanced.0, enhanced.1, enhanced.2)),
            lines: vec![text.into()],
        }
    }

    /// A one-line reply without an enhanced code (greeting, EHLO, HELO: RFC 2034 §3).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply without enhanced codes (EHLO keywords, HELP).
    pub fn multiline(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// Whether the code is 2xx or 3xx (success or go on).
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// The reply as it goes on the wire: `250-a\r\n250 b\r\n`. Text is
    /// sanitised so that no CR or LF from anywhere can split a reply.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_to(&mut out);
        out
    }

    /// Appends the wire form to `out`. A line whose text would make it
    /// longer than [`MAX_REPLY_LINE`] octets is cut (at a character boundary).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 == n { ' ' } else { '-' };
            let start = out.len();
            out.extend_from_slice(format!("{}{}", self.code, sep).as_bytes());
            if let Some(e) = self.enhanced {
                out.extend_from_slice(format!("{e} ").as_bytes());
            }
            // RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF
            // included. Error texts quote what the client sent, so without
            // the cut a long parameter made an over-long reply line. A `334`
            // SASL challenge (RFC 4954 §4) is base64 that a cut would
            // corrupt; it is bounded by the client's own line (SCRAM echoes
            // the client nonce), so it is sent whole.
            let room = if self.code == 334 {
                usize::MAX
            } else {
                MAX_REPLY_LINE.saturating_sub(out.len() - start + 2)
            };
            out.extend(truncate_at_char(text, room).bytes().map(|b| {
                if b == b'\r' || b == b'\n' {
                    b' '
                } else {
                    b
                }
            }));
            out.extend_from_slice(b"\r\n");
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let s = String::from_utf8_lossy(&bytes);
        f.write_str(s.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_enhanced_code() {
        let r = Reply::new(554, (5, 7, 1), "Relay access denied");
        assert_eq!(r.to_bytes(), b"554 5.7.1 Relay access denied\r\n");
    }

    #[test]
    fn multiline_uses_dash_until_last() {
        let r = Reply::multiline(250, vec!["mx".into(), "PIPELINING".into()]);
        assert_eq!(r.to_bytes(), b"250-mx\r\n250 PIPELINING\r\n");
    }

    #[test]
    fn a_reply_line_never_exceeds_512_octets() {
        // Found by the `command` fuzz target: an error reply quoting a long
        // MAIL parameter was 574 octets long.
        let r = Reply::new(
            555,
            (5, 5, 4),
            format!("Unsupported parameter {}", "4".repeat(900)),
        );
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), MAX_REPLY_LINE);
        assert!(bytes.starts_with(b"555 5.5.4 Unsupported parameter 444"));
        assert!(bytes.ends_with(b"4\r\n"));
        // Cut on a character boundary: still UTF-8.
        let r = Reply::plain(250, "é".repeat(400));
        let bytes = r.to_bytes();
        assert!(bytes.len() <= MAX_REPLY_LINE);
        assert!(String::from_utf8(bytes).is_ok());
        // A SASL challenge is base64: never cut.
        let long = "QUJD".repeat(300);
        let r = Reply::plain(334, long.clone());
        assert_eq!(r.to_bytes(), format!("334 {long}\r\n").into_bytes());
        // Every line of a multi-line reply is cut on its own.
        let r = Reply::multiline(250, vec!["x".repeat(600), "y".repeat(600)]);
        for line in r.to_bytes().split_inclusive(|&b| b == b'\n') {
            assert_eq!(line.len(), MAX_REPLY_LINE);
        }
    }

    #[test]
    fn crlf_in_text_cannot_split_a_reply() {
        let r = Reply::plain(250, "a\r\n250 injected");
        assert_eq!(r.to_bytes(), b"250 a  250 injected\r\n");
    }
}

//! Line framing for the SMTP session: splits client input into lines ended by
//! LF, at most [`MAX_LINE`] octets each, and throws an over-long line away
//! whole, so that no tail of it can ever be read as a line of its own.
//!
//! The same framing serves command lines and DATA lines; what a CR, a bare
//! LF or a lone `.` means is decided by the caller.

/// RFC 5321 §4.5.3.1.6 (text line) and §4.5.3.1.4 as extended by SMTPUTF8
/// and long parameters: at most 1000 octets per line, CRLF included.
pub(super) const MAX_LINE: usize = 1000;

/// One event of the framing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame<'a> {
    /// A complete line of at most [`MAX_LINE`] octets, its final LF included.
    Line(&'a [u8]),
    /// A line passed [`MAX_LINE`] octets: everything up to its LF is being
    /// discarded. Reported once per over-long line, as soon as it is known.
    TooLong,
    /// The LF ending an over-long line arrived; `crlf` says whether a CR
    /// came right before it.
    TooLongEnd {
        /// The discarded line ended in CRLF (not a bare LF).
        crlf: bool,
    },
}

/// Input not yet framed: at most one partial line plus what the last read
/// brought (the session asks for input only when no complete line is left).
#[derive(Debug, Default)]
pub(super) struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    start: usize,
    /// Inside an over-long line: `Some(last byte was CR)`.
    discarding: Option<bool>,
}

impl LineBuffer {
    /// Appends bytes read from the client.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        // Compact first: only an unfinished line (< MAX_LINE octets) can be
        // left over when the session asks for more input.
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets everything buffered, including an over-long line in progress.
    pub(super) fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.discarding = None;
    }

    /// Bytes held, read or not (for tests of the memory bound).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.buf.len()
    }

    /// True when no unread byte is buffered.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Takes up to `max` unread octets as they are, without framing (the
    /// content of a BDAT chunk, RFC 3030). Called only between lines, never
    /// inside an over-long line being discarded.
    pub(super) fn take_raw(&mut self, max: u64) -> &[u8] {
        debug_assert!(self.discarding.is_none());
        let avail = self.buf.len() - self.start;
        let n = usize::try_from(max).map_or(avail, |max| max.min(avail));
        let begin = self.start;
        self.start += n;
        &self.buf[begin..begin + n]
    }

    /// What is left when the input ends: the unfinished last line (without
    /// LF), or `None` when there is none or it was over-long (already
    /// reported as [`Frame::TooLong`]).
    pub(super) fn take_unfinished(&mut self) -> Option<Vec<u8>> {
        let rest = self.buf.split_off(self.start);
        self.clear();
        (!rest.is_empty()).then_some(rest)
    }

    /// The next framing event, or `None` when more input is needed.
    pub(super) fn next_frame(&mut self) -> Option<Frame<'_>> {
        let avail = &self.buf[self.start..];
        if let Some(last_was_cr) = self.discarding {
            return match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    let crlf = if i > 0 {
                        avail[i - 1] == b'\r'
                    } else {
                        last_was_cr
                    };
                    self.start += i + 1;
                    self.discarding = None;
                    Some(Frame::TooLongEnd { crlf })
                }
                None => {
                    // Why: an over-long line is dropped as it arrives, so the
                    // buffer stays bounded however long the line is.
                    if let Some(&b) = avail.last() {
                        self.discarding = Some(b == b'\r');
                    }
                    self.start = self.buf.len();
                    None
                }
            };
        }
        let window = &avail[..avail.len().min(MAX_LINE)];
        // memchr: a message is mostly line ends to find (SIMD, not a byte loop).
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                let begin = self.start;
                self.start += i + 1;
                Some(Frame::Line(&self.buf[begin..begin + i + 1]))
            }
            None if avail.len() >= MAX_LINE => {
                // MAX_LINE octets without LF: with its LF the line would be
                // over the limit. Why discard to the LF rather than cut it:
                // a tail read as a new line would let the client smuggle a
                // command (or a `.` line) past the limit check.
                self.discarding = Some(false);
                Some(Frame::TooLong)
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(buf: &mut LineBuffer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(f) = buf.next_frame() {
            out.push(match f {
                Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Frame::TooLong => "<too long>".to_string(),
                Frame::TooLongEnd { crlf } => format!("<end crlf={crlf}>"),
            });
        }
        out
    }

    #[test]
    fn splits_on_lf_only() {
        let mut b = LineBuffer::default();
        b.push(b"a\r\nb\nc\rd\r\npartial");
        assert_eq!(frames(&mut b), ["a\r\n", "b\n", "c\rd\r\n"]);
        b.push(b" line\r\n");
        assert_eq!(frames(&mut b), ["partial line\r\n"]);
        assert!(b.is_empty());
    }

    #[test]
    fn accepts_a_line_of_exactly_the_limit() {
        let mut b = LineBuffer::default();
        let mut line = vec![b'x'; MAX_LINE - 2];
        line.extend_from_slice(b"\r\n");
        b.push(&line);
        assert_eq!(frames(&mut b).len(), 1);
    }

    #[test]
    fn discards_an_over_long_line_across_pushes() {
        let mut b = LineBuffer::default();
        b.push(&[b'x'; 999]);
        assert_eq!(frames(&mut b), Vec::<String>::new());
        b.push(b"yy");
        assert_eq!(frames(&mut b), ["<too long>"]);
        b.push(&[b'z'; 5000]);
        assert_eq!(frames(&mut b), Vec::<String>::new());
        assert!(b.buf.len() <= 5000, "the discarded part is not kept");
        b.push(b"QUIT\r");
        assert_eq!(frames(&mut b), Vec::<String>::new());
        b.push(b"\nNOOP\r\n");
        assert_eq!(frames(&mut b), ["<end crlf=true>", "NOOP\r\n"]);
    }

    #[test]
    fn reports_a_bare_lf_end_of_an_over_long_line() {
        let mut b = LineBuffer::default();
        let mut input = vec![b'x'; 1500];
        input.extend_from_slice(b"\n.\r\n");
        b.push(&input);
        assert_eq!(frames(&mut b), ["<too long>", "<end crlf=false>", ".\r\n"]);
    }

    #[test]
    fn clear_drops_everything() {
        let mut b = LineBuffer::default();
        b.push(&[b'x'; 1200]);
        assert_eq!(frames(&mut b), ["<too long>"]);
        b.clear();
        b.push(b"NOOP\r\n");
        assert_eq!(frames(&mut b), ["NOOP\r\n"]);
    }
}

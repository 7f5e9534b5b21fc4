//! The DATA reader: turns framed lines after `354` into the message body.
//!
//! It ends the data only on `<CRLF>.<CRLF>` (or `.<CRLF>` right after the
//! 354), undoes dot-stuffing, and keeps reading to that real end whatever is
//! wrong with the message, so that nothing inside it can ever run as a
//! command. What is wrong is remembered and turned into the final reply.
//!
//! The body is not kept: the content of each line goes to an output buffer
//! that the session hands to the driver after every read
//! ([`DataReader::take_output`]), which writes it to the spool. So a
//! session's memory does not grow with the message, whatever its size.

use super::framing::Frame;
use super::BareLf;
use crate::reply::Reply;

/// Reads one message body, bounded by the size limit.
#[derive(Debug)]
pub(super) struct DataReader {
    /// Content not yet handed to the driver (at most what one read brought,
    /// a bare LF grown to CRLF).
    out: Vec<u8>,
    /// How much the last [`DataReader::take_output`] took: the next output
    /// starts with that room, instead of growing to it by doubling (a copy
    /// each time, and up to twice the room held while it is written).
    last_out: usize,
    /// Octets of content so far, as stored.
    size: u64,
    max_size: u64,
    bare_lf: BareLf,
    /// The previous line ended in CRLF; true at the start, so that `.<CRLF>`
    /// right after the 354 ends an empty message (as chasquid and mox do).
    after_crlf: bool,
    /// BDAT content (RFC 3030): no end line and no dot-stuffing; the
    /// chunk sizes delimit the message.
    chunked: bool,
    faults: Faults,
}

/// What makes the message rejected once its real end has been read.
#[derive(Debug, Default)]
struct Faults {
    bare_cr: bool,
    nul: bool,
    bare_lf: bool,
    line_too_long: bool,
    too_big: bool,
}

impl Faults {
    fn any(&self) -> bool {
        self.bare_cr || self.nul || self.bare_lf || self.line_too_long || self.too_big
    }
}

impl DataReader {
    /// A reader for a message of at most `max_size` octets (as stored).
    pub(super) fn new(max_size: u64, bare_lf: BareLf) -> DataReader {
        DataReader {
            out: Vec::new(),
            last_out: 0,
            size: 0,
            max_size,
            bare_lf,
            after_crlf: true,
            chunked: false,
            faults: Faults::default(),
        }
    }

    /// A reader for BDAT content: lines are taken as they are, a `.` line
    /// included, and never end the message.
    pub(super) fn chunked(max_size: u64, bare_lf: BareLf) -> DataReader {
        DataReader {
            chunked: true,
            ..DataReader::new(max_size, bare_lf)
        }
    }

    /// True once the message is known to be refused at its end.
    pub(super) fn has_fault(&self) -> bool {
        self.faults.any()
    }

    /// Takes one framing event; returns true when it was the end of data.
    pub(super) fn frame(&mut self, frame: Frame<'_>) -> bool {
        match frame {
            Frame::Line(raw) => self.line(raw),
            Frame::TooLong => {
                // RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets.
                // The line is discarded whole by the framing; the message is
                // refused at its real end.
                self.faults.line_too_long = true;
                self.drop_body();
                false
            }
            Frame::TooLongEnd { crlf } => {
                self.after_crlf = crlf;
                false
            }
        }
    }

    fn line(&mut self, raw: &[u8]) -> bool {
        // RFC 5321 §4.1.1.4: the data ends with <CRLF>.<CRLF>, and nothing
        // else. Why so strict: a server that also accepts <LF>.<LF> or
        // <CR>.<CR> lets a client smuggle a second message past a relay that
        // does not (SMTP smuggling, CVE-2023-51764/51765/51766).
        if !self.chunked && self.after_crlf && raw == b".\r\n" {
            return true;
        }
        let crlf = raw.ends_with(b"\r\n");
        self.after_crlf = crlf;
        let content = &raw[..raw.len() - if crlf { 2 } else { 1 }];
        // One pass for both (memchr2): neither is in a well-formed line.
        if memchr::memchr2(b'\r', 0, content).is_some() {
            // RFC 5321 §2.3.8: CR and LF only ever appear together as CRLF. A
            // bare CR is refused outright: another hop may read it as a line end.
            if content.contains(&b'\r') {
                self.faults.bare_cr = true;
            }
            // RFC 5321 §4.1.1.4 and RFC 5322 §2.3: no NUL in a message. Why
            // refuse rather than pass it on: a next hop that strips NUL would
            // read `<CRLF>\0.<CRLF>` as the end of data (smuggling one hop on).
            if content.contains(&0) {
                self.faults.nul = true;
            }
        }
        if !crlf && self.bare_lf == BareLf::Reject {
            self.faults.bare_lf = true;
        }
        // RFC 5321 §4.5.2: a line starting with "." loses that first ".".
        // BDAT content is never dot-stuffed (RFC 3030 §2). A lone "." that
        // did not end the data (a bare LF before or after it) was never
        // stuffed: it stays a "." line, stuffed again on relay, rather than
        // becoming an empty line.
        let content = match content.strip_prefix(b".") {
            Some(unstuffed) if !self.chunked && !unstuffed.is_empty() => unstuffed,
            _ => content,
        };
        if self.faults.any() {
            // The message will be refused: no need to keep its bytes.
            self.drop_body();
            return false;
        }
        // A bare LF (BareLf::Normalize) is stored as CRLF, like every line end.
        let grown = self.size + content.len() as u64 + 2;
        if grown > self.max_size {
            // Why stop storing but keep reading: the spool stays bounded by
            // the limit, and the rest of the message must not become commands.
            self.faults.too_big = true;
            self.drop_body();
            return false;
        }
        self.size = grown;
        if self.out.capacity() == 0 {
            self.out.reserve(self.last_out);
        }
        self.out.extend_from_slice(content);
        self.out.extend_from_slice(b"\r\n");
        false
    }

    /// The message will be refused: what was not handed over yet is dropped
    /// (and the driver discards the rest at the end).
    fn drop_body(&mut self) {
        self.out = Vec::new();
    }

    /// The content read since the last call, to append to the message.
    pub(super) fn take_output(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.out);
        self.last_out = out.len();
        out
    }

    /// Body bytes held (for tests of the memory bound).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.out.capacity()
    }

    /// The size of a valid message (its content was all handed over by
    /// [`DataReader::take_output`]), or the reply refusing it.
    pub(super) fn finish(self) -> Result<u64, Reply> {
        let f = &self.faults;
        if f.bare_cr {
            Err(Reply::new(550, (5, 6, 11), "Bare CR not allowed"))
        } else if f.nul {
            Err(Reply::new(
                550,
                (5, 6, 0),
                "NUL not allowed in message data",
            ))
        } else if f.bare_lf {
            Err(Reply::new(550, (5, 6, 11), "Bare LF not allowed"))
        } else if f.line_too_long {
            Err(Reply::new(500, (5, 5, 2), "Line too long"))
        } else if f.too_big {
            Err(Reply::new(
                552,
                (5, 3, 4),
                "Message size exceeds fixed limit",
            ))
        } else {
            Ok(self.size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::framing::LineBuffer;
    use super::*;

    /// Feeds `input` in one go; returns the outcome if the end was found and
    /// what is left after it.
    fn read(input: &[u8], max: u64, bare_lf: BareLf) -> (Option<Result<Vec<u8>, Reply>>, usize) {
        let mut buf = LineBuffer::default();
        buf.push(input);
        let mut r = DataReader::new(max, bare_lf);
        let mut rest = 0;
        let mut ended = false;
        let mut body = Vec::new();
        while let Some(f) = buf.next_frame() {
            if ended {
                rest += 1;
            } else if r.frame(f) {
                ended = true;
            }
            body.extend_from_slice(&r.take_output());
        }
        let outcome = ended.then(|| {
            r.finish().map(|size| {
                assert_eq!(size, body.len() as u64);
                body
            })
        });
        (outcome, rest)
    }

    fn body(input: &[u8]) -> Vec<u8> {
        match read(input, 1 << 20, BareLf::Normalize) {
            (Some(Ok(b)), _) => b,
            other => panic!("no body from {input:?}: {other:?}"),
        }
    }

    #[test]
    fn a_dot_right_after_354_ends_an_empty_message() {
        assert_eq!(body(b".\r\n"), b"");
    }

    #[test]
    fn dot_stuffing_is_undone_including_the_first_line() {
        assert_eq!(
            body(b"..a\r\nb\r\n..\r\n.c\r\n.\r\n"),
            b".a\r\nb\r\n.\r\nc\r\n"
        );
    }

    #[test]
    fn only_crlf_dot_crlf_ends_the_data() {
        for smuggle in [
            &b"\n.\n"[..],
            b"\r\n.\n",
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n.\r\r\n",
        ] {
            let mut input = b"body".to_vec();
            input.extend_from_slice(smuggle);
            input.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
            let (outcome, _) = read(&input, 1 << 20, BareLf::Normalize);
            assert!(outcome.is_none(), "{smuggle:?} ended the data");
            input.extend_from_slice(b".\r\n");
            let (outcome, _) = read(&input, 1 << 20, BareLf::Normalize);
            assert!(outcome.is_some(), "{smuggle:?}: the real end was missed");
        }
    }

    #[test]
    fn bare_lf_is_stored_as_crlf_or_refused() {
        assert_eq!(body(b"a\nb\r\n.\r\n"), b"a\r\nb\r\n");
        let (outcome, _) = read(b"a\nb\r\n.\r\n", 1 << 20, BareLf::Reject);
        assert_eq!(
            outcome.unwrap().unwrap_err().to_string(),
            "550 5.6.11 Bare LF not allowed"
        );
    }

    #[test]
    fn bare_cr_refuses_the_message() {
        let (outcome, _) = read(b"a\rb\r\n.\r\n", 1 << 20, BareLf::Normalize);
        assert_eq!(
            outcome.unwrap().unwrap_err().to_string(),
            "550 5.6.11 Bare CR not allowed"
        );
    }

    #[test]
    fn nul_refuses_the_message_at_its_real_end() {
        for payload in [
            &b"a\r\n\x00.\r\nMAIL FROM:<x@y>\r\n"[..],
            b"a\n\x00.\r\n",
            b"\x00.\r\n",
            b"a\r\n.\x00\r\n",
            b"a\x00b\r\n",
        ] {
            let mut input = payload.to_vec();
            let (outcome, _) = read(&input, 1 << 20, BareLf::Normalize);
            assert!(outcome.is_none(), "{payload:?} ended the data");
            input.extend_from_slice(b"\r\n.\r\n");
            let (outcome, rest) = read(&input, 1 << 20, BareLf::Normalize);
            assert_eq!(
                outcome.unwrap().unwrap_err().to_string(),
                "550 5.6.0 NUL not allowed in message data",
                "{payload:?}"
            );
            assert_eq!(rest, 0);
        }
    }

    #[test]
    fn a_lone_dot_next_to_a_bare_lf_stays_a_dot() {
        assert_eq!(body(b"a\r\n.\nb\r\n.\r\n"), b"a\r\n.\r\nb\r\n");
        assert_eq!(body(b"a\n.\r\nb\r\n.\r\n"), b"a\r\n.\r\nb\r\n");
        assert_eq!(body(b".\n\r\n.\r\n"), b".\r\n\r\n");
        // A stuffed dot line is still unstuffed.
        assert_eq!(body(b"..\n\r\n.\r\n"), b".\r\n\r\n");
    }

    #[test]
    fn the_size_limit_counts_stored_octets() {
        assert_eq!(
            read(b"1234\r\n.\r\n", 6, BareLf::Normalize).0,
            Some(Ok(b"1234\r\n".to_vec()))
        );
        let (outcome, rest) = read(b"12345\r\n.\r\nNOOP\r\n", 6, BareLf::Normalize);
        assert_eq!(outcome.unwrap().unwrap_err().code, 552);
        assert_eq!(rest, 1, "reading stops at the real end");
    }

    #[test]
    fn an_over_long_line_refuses_the_message_but_not_the_end() {
        let mut input = vec![b'x'; 1500];
        input.extend_from_slice(b"\r\n.\r\n");
        let (outcome, _) = read(&input, 1 << 20, BareLf::Normalize);
        assert_eq!(
            outcome.unwrap().unwrap_err().to_string(),
            "500 5.5.2 Line too long"
        );
        // The tail of a long line ending in a bare LF is no CRLF before ".".
        let mut input = vec![b'x'; 1500];
        input.extend_from_slice(b"\n.\r\n");
        assert!(read(&input, 1 << 20, BareLf::Normalize).0.is_none());
    }
}

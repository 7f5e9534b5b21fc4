//! The DATA encoder (RFC 5321 §4.5.2): every line starting with `.` gets one
//! more `.`, and the data ends with `<CRLF>.<CRLF>`.
//!
//! docs/reference.md §6: dot-stuffing is undone on receipt and redone on relay, so no
//! later hop can read the message differently. The encoder therefore also
//! writes every line end as CRLF: a bare CR or a bare LF in the input becomes
//! CRLF (and the line after it is stuffed like any other), so what leaves
//! has exactly one reading (no `<LF>.<LF>` or `<CR>.<CR>` for a lenient next
//! hop to take as the end of data: SMTP smuggling).

/// A streaming encoder: feed the message in chunks of any size, then
/// [`DotStuffer::finish`].
#[derive(Clone, Debug)]
pub struct DotStuffer {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The last byte was a CR whose line end is not written yet.
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::new()
    }
}

impl DotStuffer {
    /// An encoder at the start of the message.
    pub fn new() -> DotStuffer {
        DotStuffer {
            at_line_start: true,
            pending_cr: false,
        }
    }

    /// Appends the encoding of `chunk` to `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 64 + 2);
        for &b in chunk {
            match b {
                b'\r' => {
                    if self.pending_cr {
                        // CR CR: the first one was bare.
                        out.extend_from_slice(b"\r\n");
                        self.at_line_start = true;
                    }
                    self.pending_cr = true;
                }
                b'\n' => {
                    // CRLF, or a bare LF: either way one line end.
                    out.extend_from_slice(b"\r\n");
                    self.pending_cr = false;
                    self.at_line_start = true;
                }
                _ => {
                    if self.pending_cr {
                        out.extend_from_slice(b"\r\n");
                        self.pending_cr = false;
                        self.at_line_start = true;
                    }
                    // RFC 5321 §4.5.2: a line starting with "." gets one more.
                    if self.at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    self.at_line_start = false;
                }
            }
        }
    }

    /// Ends the data: completes an unfinished last line, then `.<CRLF>`.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.pending_cr || !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The whole DATA payload for `message`, terminating `.` included.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut enc = DotStuffer::new();
    enc.encode(message, &mut out);
    enc.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a strict receiver (RFC 5321 §4.5.2) reads back: lines up to the
    /// `.` line, with one leading dot removed.
    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = wire;
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("every line ends in CRLF");
            let line = &rest[..end];
            rest = &rest[end + 2..];
            if line == b"." {
                assert!(rest.is_empty(), "data after the end marker");
                return out;
            }
            let line = line.strip_prefix(b".").unwrap_or(line);
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }

    #[test]
    fn dot_lines_are_stuffed_and_the_end_is_marked() {
        assert_eq!(
            dot_stuff(b"a\r\n.b\r\n..c\r\n.\r\nd.e\r\n"),
            b"a\r\n..b\r\n...c\r\n..\r\nd.e\r\n.\r\n"
        );
    }

    #[test]
    fn a_leading_dot_on_the_first_line_is_stuffed() {
        assert_eq!(dot_stuff(b".hidden\r\n"), b"..hidden\r\n.\r\n");
    }

    #[test]
    fn an_empty_message_and_a_missing_last_line_end() {
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(dot_stuff(b"x\r"), b"x\r\n.\r\n");
    }

    #[test]
    fn bare_line_ends_become_crlf_so_no_smuggled_end_survives() {
        // `<LF>.<LF>` and `<CR>.<CR>` would end the data at a lenient hop.
        assert_eq!(
            dot_stuff(b"a\n.\nMAIL FROM:<x>\r\n"),
            b"a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"a\r.\rb\r\n"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\r\r\nb"), b"a\r\n\r\nb\r\n.\r\n");
    }

    #[test]
    fn chunking_does_not_change_the_encoding() {
        let msg = b"Subject: x\r\n\r\n.one\r\n..two\r\n.\r\nbare\n.lf\rcr.\r\n.";
        let whole = dot_stuff(msg);
        for cut in 0..msg.len() {
            let mut enc = DotStuffer::new();
            let mut out = Vec::new();
            enc.encode(&msg[..cut], &mut out);
            enc.encode(&msg[cut..], &mut out);
            enc.finish(&mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_messages_round_trip_through_a_strict_receiver() {
        let msg = b"From: a\r\n\r\n.\r\n..\r\n.x\r\nplain\r\n\r\n";
        assert_eq!(unstuff(&dot_stuff(msg)), msg);
    }

    proptest::proptest! {
        #[test]
        fn any_crlf_message_round_trips(lines in proptest::collection::vec("[.a-z ]{0,8}", 0..12)) {
            let mut msg = Vec::new();
            for l in &lines {
                msg.extend_from_slice(l.as_bytes());
                msg.extend_from_slice(b"\r\n");
            }
            proptest::prop_assert_eq!(unstuff(&dot_stuff(&msg)), msg);
        }

        #[test]
        fn the_only_end_marker_is_the_last_line(bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'.', b'\r', b'\n', b'a']), 0..40)) {
            let wire = dot_stuff(&bytes);
            // Every CR is followed by LF and every LF preceded by CR.
            for (i, &b) in wire.iter().enumerate() {
                if b == b'\r' { proptest::prop_assert_eq!(wire.get(i + 1), Some(&b'\n')); }
                if b == b'\n' { proptest::prop_assert!(i > 0 && wire[i - 1] == b'\r'); }
            }
            let body = &wire[..wire.len() - 3];
            proptest::prop_assert!(body.is_empty() || body.ends_with(b"\r\n"));
            for line in body.split(|&b| b == b'\n') {
                proptest::prop_assert!(line != b".\r", "a lone dot line inside the data");
            }
        }
    }
}

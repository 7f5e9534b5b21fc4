//! The BDAT reader (RFC 3030 CHUNKING): the message arrives as chunks of
//! declared sizes, with no end line and no dot-stuffing.
//!
//! The chunks are framed into lines across chunk boundaries and checked
//! with the same rules as DATA (bare CR refused, bare LF per
//! `smtp.bare_lf`, lines of at most 1000 octets, the size limit), so a
//! message means the same whichever way it came: what could smuggle a
//! second message past another hop through DATA cannot come in by BDAT.

use super::data::DataReader;
use super::framing::{Frame, LineBuffer};
use super::BareLf;
use crate::reply::Reply;

/// The content of one message received by BDAT, so far.
#[derive(Debug)]
pub(super) struct ChunkReader {
    /// Framing of the content: holds at most one unfinished line plus the
    /// bytes of the last read.
    lines: LineBuffer,
    reader: DataReader,
}

impl ChunkReader {
    /// A reader for a message of at most `max_size` octets (as stored).
    pub(super) fn new(max_size: u64, bare_lf: BareLf) -> ChunkReader {
        ChunkReader {
            lines: LineBuffer::default(),
            reader: DataReader::chunked(max_size, bare_lf),
        }
    }

    /// Takes chunk content as it arrives.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
        while let Some(frame) = self.lines.next_frame() {
            // A chunked reader never sees an end line.
            let _ = self.reader.frame(frame);
        }
    }

    /// True once the message is known to be refused.
    pub(super) fn has_fault(&self) -> bool {
        self.reader.has_fault()
    }

    /// The content framed since the last call, to append to the message
    /// (every line ending in CRLF).
    pub(super) fn take_output(&mut self) -> Vec<u8> {
        self.reader.take_output()
    }

    /// The end of the last chunk: the rest of the content (the unfinished
    /// last line), and the size of the valid message or the reply refusing it.
    pub(super) fn finish(mut self) -> (Vec<u8>, Result<u64, Reply>) {
        // RFC 5322 §2.1: a message is lines ending in CRLF. Like Postfix,
        // content that stops mid-line gets its CRLF.
        if let Some(mut last) = self.lines.take_unfinished() {
            last.extend_from_slice(b"\r\n");
            let _ = self.reader.frame(Frame::Line(&last));
        }
        let rest = self.reader.take_output();
        (rest, self.reader.finish())
    }

    /// Octets held (for tests of the memory bound).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.lines.held() + self.reader.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]], max: u64) -> Result<Vec<u8>, Reply> {
        let mut r = ChunkReader::new(max, BareLf::Normalize);
        let mut body = Vec::new();
        for c in chunks {
            r.push(c);
            body.extend_from_slice(&r.take_output());
        }
        let (rest, outcome) = r.finish();
        body.extend_from_slice(&rest);
        outcome.map(|size| {
            assert_eq!(size, body.len() as u64);
            body
        })
    }

    #[test]
    fn lines_span_chunks_and_dots_are_content() {
        assert_eq!(
            read(&[b"Subject: a\r", b"\n\r\n.\r\n..x\r\n", b"end"], 1 << 20).unwrap(),
            b"Subject: a\r\n\r\n.\r\n..x\r\nend\r\n"
        );
    }

    #[test]
    fn an_empty_message_stays_empty() {
        assert_eq!(read(&[], 1 << 20).unwrap(), b"");
        assert_eq!(read(&[b"", b""], 1 << 20).unwrap(), b"");
    }

    #[test]
    fn bare_cr_and_over_long_lines_refuse_the_message() {
        let e = read(&[b"a\r", b"b\r\n"], 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "550 5.6.11 Bare CR not allowed");
        // A bare CR as the very last octet is one too.
        let e = read(&[b"a\r\nb\r"], 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "550 5.6.11 Bare CR not allowed");
        // A NUL, across chunks or in the unfinished last line.
        let e = read(&[b"a\r\n\x00", b".\r\nb\r\n"], 1 << 20).unwrap_err();
        assert_eq!(e.code, 550);
        let e = read(&[b"a\r\nb\x00"], 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "550 5.6.0 NUL not allowed in message data");
        let long = vec![b'x'; 1500];
        let e = read(&[&long, b"\r\n"], 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "500 5.5.2 Line too long");
        let e = read(&[&long], 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "500 5.5.2 Line too long");
    }

    #[test]
    fn the_size_limit_counts_stored_octets() {
        assert_eq!(read(&[b"1234\r\n"], 6).unwrap(), b"1234\r\n");
        // The CRLF added to an unfinished last line counts too.
        assert_eq!(read(&[b"12345"], 6).unwrap_err().code, 552);
        let mut r = ChunkReader::new(6, BareLf::Normalize);
        r.push(b"12345\r\n");
        assert!(r.has_fault());
    }

    #[test]
    fn memory_stays_bounded_whatever_the_chunks() {
        let mut r = ChunkReader::new(1000, BareLf::Normalize);
        for _ in 0..1000 {
            r.push(&[b'y'; 4096]);
            assert!(r.held() < 16 * 1024, "held {}", r.held());
        }
        assert_eq!(r.finish().1.unwrap_err().code, 500);
        // Valid content is handed over as it comes, not kept.
        let mut r = ChunkReader::new(1 << 30, BareLf::Normalize);
        let lf = [b'\n'; 4096];
        for _ in 0..1000 {
            r.push(&lf);
            assert_eq!(r.take_output().len(), 2 * 4096);
            assert!(r.held() < 16 * 1024, "held {}", r.held());
        }
    }
}

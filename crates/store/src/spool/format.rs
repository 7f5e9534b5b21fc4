//! The queue file `queue/<id>.mail`: one file per queued message, the
//! envelope first, then the message (docs/reference.md §7).
//!
//! ```text
//! portcullis-queue 1 <N>\n      header line: magic, format version, N
//! <N octets: the envelope JSON>
//! <the message octets, to the end of the file>
//! ```
//!
//! `N` is the decimal length of the JSON. The message starts right after
//! it, so it can be streamed from the file without reading the envelope
//! twice or the message whole. A later version bumps [`FILE_VERSION`];
//! this build refuses, by name, a file of any other version.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::content::Content;

/// The first word of every queue file.
const MAGIC: &str = "portcullis-queue";

/// The queue file format version this build writes and reads.
pub const FILE_VERSION: u32 = 1;

/// The longest header line accepted: magic, version and a length fit in
/// far less; anything longer is not a queue file.
const MAX_HEADER: usize = 64;

/// The largest envelope accepted (an envelope of thousands of recipients
/// is a few hundred KiB).
const MAX_ENVELOPE: u64 = 64 * 1024 * 1024;

/// Octets read at first: the header and a typical envelope.
const FIRST_READ: usize = 8 * 1024;

/// The header line for an envelope of `json_len` octets.
pub(super) fn header(json_len: usize) -> String {
    format!("{MAGIC} {FILE_VERSION} {json_len}\n")
}

/// What a queue file's header says.
#[derive(Debug)]
pub(super) struct Header {
    /// The envelope JSON.
    pub json: Vec<u8>,
    /// Where the message starts in the file.
    pub message_start: u64,
}

/// Reads the header line and the envelope of a queue file from its start
/// (the file's position is left anywhere). `what` names the file in errors.
pub(super) fn read_header(file: &File, what: &str) -> io::Result<Header> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    // One read holds the header and the envelope of nearly every message.
    let mut buf = Vec::with_capacity(FIRST_READ);
    (&mut reader)
        .take(FIRST_READ as u64)
        .read_to_end(&mut buf)?;
    let (start, len) = parse_line(&buf, what)?;
    let end = start + len;
    if (buf.len() as u64) < end {
        (&mut reader)
            .take(end - buf.len() as u64)
            .read_to_end(&mut buf)?;
    }
    check_envelope_len(&buf, start, len, what)?;
    buf.truncate(end as usize);
    buf.drain(..start as usize);
    Ok(Header {
        json: buf,
        message_start: end,
    })
}

/// A whole queue file's envelope JSON and message.
pub(super) fn split<'a>(bytes: &'a [u8], what: &str) -> io::Result<(&'a [u8], &'a [u8])> {
    let (start, len) = parse_line(bytes, what)?;
    check_envelope_len(bytes, start, len, what)?;
    let (start, end) = (start as usize, (start + len) as usize);
    Ok((&bytes[start..end], &bytes[end..]))
}

/// The header line at the start of `buf`: where the envelope starts and
/// its length.
fn parse_line(buf: &[u8], what: &str) -> io::Result<(u64, u64)> {
    let Some(eol) = buf.iter().take(MAX_HEADER).position(|&b| b == b'\n') else {
        let why = if buf.len() < MAX_HEADER && !buf.starts_with(MAGIC.as_bytes()) {
            format!("queue file {what} does not start with {MAGIC:?}")
        } else if buf.len() < MAX_HEADER {
            format!("queue file {what} ends inside its header")
        } else {
            format!("queue file {what} has no header line")
        };
        return Err(invalid(why));
    };
    let line = String::from_utf8_lossy(&buf[..eol]);
    let mut words = line.split(' ');
    if words.next() != Some(MAGIC) {
        return Err(invalid(format!(
            "queue file {what} does not start with {MAGIC:?}"
        )));
    }
    let version = words.next().unwrap_or("");
    if version != FILE_VERSION.to_string() {
        return Err(invalid(format!(
            "queue file {what} has format version {version:?}; this build reads version {FILE_VERSION}"
        )));
    }
    let len = words
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n <= MAX_ENVELOPE && words.next().is_none())
        .ok_or_else(|| invalid(format!("queue file {what} has a malformed header {line:?}")))?;
    Ok((eol as u64 + 1, len))
}

fn check_envelope_len(buf: &[u8], start: u64, len: u64, what: &str) -> io::Result<()> {
    if (buf.len() as u64) < start + len {
        return Err(invalid(format!(
            "queue file {what} ends inside its envelope ({} of {len} octets)",
            buf.len() as u64 - start
        )));
    }
    Ok(())
}

fn invalid(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}

/// The whole queue file as content to write: header, envelope, message.
pub(super) struct QueueFile<'a> {
    /// Header line and envelope JSON.
    pub head: Vec<u8>,
    /// The message.
    pub message: &'a dyn Content,
}

impl<'a> QueueFile<'a> {
    /// The queue file of envelope `json` and `message`.
    pub(super) fn new(json: &[u8], message: &'a dyn Content) -> QueueFile<'a> {
        let mut head = header(json.len()).into_bytes();
        head.extend_from_slice(json);
        QueueFile { head, message }
    }
}

impl Content for QueueFile<'_> {
    fn size(&self) -> u64 {
        self.head.len() as u64 + self.message.size()
    }

    fn write_to(&self, file: &mut File) -> io::Result<()> {
        io::Write::write_all(file, &self.head)?;
        self.message.write_to(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Bytes;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn a_written_file_reads_back_with_the_message_offset() {
        let json = br#"{"version":1}"#;
        let content = QueueFile::new(json, &Bytes(b"Subject: x\r\n\r\nbody\r\n"));
        let mut f = tempfile::tempfile().unwrap();
        content.write_to(&mut f).unwrap();
        f.rewind().unwrap();
        let head = read_header(&f, "t").unwrap();
        assert_eq!(head.json, json);
        let mut all = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut all).unwrap();
        assert_eq!(all.len() as u64, content.size());
        assert!(all.starts_with(b"portcullis-queue 1 13\n{"));
        assert_eq!(
            &all[head.message_start as usize..],
            b"Subject: x\r\n\r\nbody\r\n"
        );
        let (json_part, message) = split(&all, "t").unwrap();
        assert_eq!(json_part, json);
        assert_eq!(message, b"Subject: x\r\n\r\nbody\r\n");
    }

    #[test]
    fn malformed_headers_are_refused_by_name() {
        for (bytes, says) in [
            (&b""[..], "does not start with"),
            (b"portcullis-q", "does not start with"),
            (b"portcullis-queue 1 5", "ends inside its header"),
            (b"Subject: hi\r\n\r\nold format", "does not start with"),
            (b"portcullis-queue 2 5\n{...}", "format version \"2\""),
            (b"portcullis-queue 1 x\n", "malformed header"),
            (b"portcullis-queue 1 5 6\n", "malformed header"),
            (b"portcullis-queue 1 50\n{}", "ends inside its envelope"),
            (&[b'a'; 200][..], "no header line"),
        ] {
            let err = read_header(&file_with(bytes), "Q1").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains(says), "{err}");
            assert!(err.to_string().contains("Q1"), "{err}");
            let err = split(bytes, "Q1").unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}

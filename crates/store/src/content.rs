//! Message content as the spool and Maildir delivery write it: bytes in
//! memory, or a message too large for memory streamed from a file (docs/reference.md §6:
//! memory stays bounded whatever clients send), or copied from a queued file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Content to write into a message file.
pub trait Content {
    /// Its size in octets.
    fn size(&self) -> u64;
    /// Writes all of it to `file` (from its current position).
    fn write_to(&self, file: &mut File) -> io::Result<()>;
    /// A file that already holds exactly this content, complete and
    /// fsynced, which a Maildir delivery may link in instead of writing a
    /// copy (a large message, written once). `None` (the default): write it.
    fn durable_file(&self) -> Option<&Path> {
        None
    }
}

/// Content held in memory.
#[derive(Clone, Copy, Debug)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Content for Bytes<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn write_to(&self, file: &mut File) -> io::Result<()> {
        file.write_all(self.0)
    }
}

/// Content in a file (a queued message), behind a prefix held in memory
/// (trace headers): copied in the kernel (`copy_file_range`), never read
/// whole into memory.
#[derive(Debug)]
pub struct FileCopy<'a> {
    /// Written first (e.g. `Return-Path:`); may be empty.
    pub prefix: &'a [u8],
    /// The file, read from `start` each time the content is written.
    pub file: &'a File,
    /// Where the content starts in the file (a queue file's message follows
    /// its envelope).
    pub start: u64,
    /// The content's length.
    pub len: u64,
}

impl<'a> FileCopy<'a> {
    /// `prefix`, then all of `file` (its length is taken now).
    pub fn new(prefix: &'a [u8], file: &'a File) -> io::Result<FileCopy<'a>> {
        let len = file.metadata()?.len();
        Ok(FileCopy {
            prefix,
            file,
            start: 0,
            len,
        })
    }
}

impl Content for FileCopy<'_> {
    fn size(&self) -> u64 {
        self.prefix.len() as u64 + self.len
    }

    fn write_to(&self, file: &mut File) -> io::Result<()> {
        file.write_all(self.prefix)?;
        let mut src = self.file;
        src.seek(SeekFrom::Start(self.start))?;
        let copied = io::copy(&mut src.take(self.len), file)?;
        if copied != self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the message file ended after {copied} of {} octets",
                    self.len
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_copy_writes_prefix_and_file_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, b"body\r\n").unwrap();
        let src = File::open(&src_path).unwrap();
        let content = FileCopy::new(b"Return-Path: <a@b>\r\n", &src).unwrap();
        assert_eq!(content.size(), 26);
        for n in 0..2 {
            let out_path = dir.path().join(format!("out{n}"));
            let mut out = File::create(&out_path).unwrap();
            content.write_to(&mut out).unwrap();
            assert_eq!(
                std::fs::read(&out_path).unwrap(),
                b"Return-Path: <a@b>\r\nbody\r\n"
            );
        }
        let part = FileCopy {
            start: 2,
            len: 2,
            ..content
        };
        let mut out = tempfile::tempfile().unwrap();
        part.write_to(&mut out).unwrap();
        out.seek(SeekFrom::Start(0)).unwrap();
        let mut written = Vec::new();
        out.read_to_end(&mut written).unwrap();
        assert_eq!(written, b"Return-Path: <a@b>\r\ndy");
    }
}

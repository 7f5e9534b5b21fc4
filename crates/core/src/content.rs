//! Message content as the spool and Maildir delivery write it: bytes in
//! memory, or a message too large for memory streamed from a file (docs/reference.md §6:
//! memory stays bounded whatever clients send).

use std::fs::File;
use std::io::{self, Write};

/// Content to write into a message file.
pub trait Content {
    /// Its size in octets.
    fn size(&self) -> u64;
    /// Writes all of it to `file` (from its current position).
    fn write_to(&self, file: &mut File) -> io::Result<()>;
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

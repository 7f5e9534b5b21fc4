//! The session's read buffer, held only while the client is sending: an
//! idle session (thousands of them, past EHLO) holds none, and a bulk
//! sender's buffer grows for fewer system calls.

use std::io;

use tokio::io::AsyncReadExt;

use super::stream::Stream;

/// The buffer's first size, and the most it grows to.
const MIN: usize = 2 * 1024;
const MAX: usize = 32 * 1024;

/// Bytes read from the client, and the size the next buffer gets.
pub(super) struct ReadBuffer {
    buf: Vec<u8>,
    size: usize,
}

impl ReadBuffer {
    pub(super) fn new() -> ReadBuffer {
        ReadBuffer {
            buf: Vec::new(),
            size: MIN,
        }
    }

    /// Reads what the client sends next; `Ok(0)` when it closed. On a plain
    /// connection the buffer is given back before waiting, and taken again
    /// once the socket is readable. Cancel-safe: nothing is consumed until
    /// the read returns.
    pub(super) async fn read(&mut self, stream: &mut Stream) -> io::Result<usize> {
        match stream {
            Stream::Plain(tcp) => loop {
                if self.buf.is_empty() {
                    tcp.readable().await?;
                    self.buf = vec![0; self.size];
                }
                match tcp.try_read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.buf = Vec::new(),
                    read => return read,
                }
            },
            // rustls may hold decrypted bytes the socket no longer shows as
            // readable, so a TLS read waits with its buffer.
            Stream::Tls(tls) => {
                if self.buf.is_empty() {
                    self.buf = vec![0; self.size];
                }
                tls.read(&mut self.buf).await
            }
        }
    }

    /// The `n` bytes the last read gave; a read that filled the buffer
    /// means a bulk sender (DATA), so the buffer grows.
    pub(super) fn take(&mut self, n: usize) -> &[u8] {
        if n == self.buf.len() && self.size < MAX {
            self.size *= 4;
            self.buf.resize(self.size, 0);
        }
        &self.buf[..n]
    }
}

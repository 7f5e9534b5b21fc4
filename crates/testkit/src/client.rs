//! The SMTP test client: a plain TCP connection bound to a chosen source
//! address (any 127.x.y.z routes to loopback), multiline-aware reply
//! reading, and every read bounded by a timeout so no test can hang.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::IO_TIMEOUT;

/// Why a reply could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The server closed the connection (EOF or reset).
    Closed(Vec<u8>),
    /// Nothing complete arrived within the timeout.
    Timeout(Vec<u8>),
    /// A line that is not `ddd[ -]text`.
    Malformed(String),
}

/// A plain-TCP SMTP client bound to a chosen source address.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Every reply read so far, for failure messages.
    pub transcript: Vec<String>,
}

impl Client {
    /// Connects from `src` to 127.0.0.1:`port`.
    pub fn connect_from(src: Ipv4Addr, port: u16) -> Client {
        Client::connect_addr(
            IpAddr::V4(src),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        )
    }

    /// Binds the socket to `src` (port chosen by the kernel), then connects to `dst`.
    pub fn connect_addr(src: IpAddr, dst: SocketAddr) -> Client {
        use socket2::{Domain, SockAddr, Socket, Type};
        let domain = if dst.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::STREAM, None).expect("create client socket");
        sock.bind(&SockAddr::from(SocketAddr::new(src, 0)))
            .unwrap_or_else(|e| panic!("bind client socket to {src}: {e}"));
        sock.connect_timeout(&SockAddr::from(dst), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect from {src} to {dst}: {e}"));
        let stream: TcpStream = sock.into();
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set write timeout");
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            buf: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// The local (source) address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Writes raw bytes in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.transcript.push(format!(
            "C: {}",
            String::from_utf8_lossy(bytes).escape_debug()
        ));
        if let Err(e) = self.stream.write_all(bytes) {
            panic!(
                "write to server failed ({e}); transcript:\n{}",
                self.transcript.join("\n")
            );
        }
    }

    /// Writes raw bytes, ignoring errors (the server may have closed).
    pub fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Sends `line` + CRLF and reads one reply.
    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Sends `line` and asserts the reply code; returns the reply text.
    pub fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line);
        assert_eq!(
            got,
            code,
            "{line:?} -> {text:?}\ntranscript:\n{}",
            self.transcript.join("\n")
        );
        text
    }

    /// Sends `line` and asserts the reply's code and enhanced status code (`"5.7.1"`).
    pub fn expect_enhanced(&mut self, line: &str, code: u16, enhanced: &str) -> String {
        let text = self.expect(line, code);
        assert!(
            has_enhanced(&text, enhanced),
            "{line:?} -> {text:?}: expected enhanced code {enhanced}\ntranscript:\n{}",
            self.transcript.join("\n")
        );
        text
    }

    /// `EHLO name`, asserted 250; returns the extension keywords (upper-case).
    pub fn ehlo(&mut self, name: &str) -> Vec<String> {
        let text = self.expect(&format!("EHLO {name}"), 250);
        text.lines()
            .skip(1)
            .filter_map(|l| l.get(4..))
            .map(|l| {
                l.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase()
            })
            .collect()
    }

    /// Reads one (possibly multi-line) reply; panics on timeout or close.
    pub fn read_reply(&mut self) -> (u16, String) {
        match self.try_read_reply(IO_TIMEOUT) {
            Ok(r) => r,
            Err(e) => panic!(
                "no reply from server: {e:?}\ntranscript:\n{}",
                self.transcript.join("\n")
            ),
        }
    }

    /// Reads one reply within `timeout`. The text is every line, code
    /// included, joined with `\n` (`"250-mx.test\n250 PIPELINING"`).
    pub fn try_read_reply(&mut self, timeout: Duration) -> Result<(u16, String), ReadError> {
        let deadline = Instant::now() + timeout;
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line = self.read_line(deadline)?;
            let bytes = line.as_bytes();
            let code_ok = bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit);
            if !code_ok || (bytes.len() > 3 && bytes[3] != b' ' && bytes[3] != b'-') {
                return Err(ReadError::Malformed(line));
            }
            let last = bytes.len() == 3 || bytes[3] == b' ';
            lines.push(line);
            if last {
                let code: u16 = lines[lines.len() - 1][..3].parse().unwrap_or(0);
                let text = lines.join("\n");
                self.transcript.push(format!("S: {text}"));
                return Ok((code, text));
            }
        }
    }

    /// One line without its CRLF (or bare LF).
    fn read_line(&mut self, deadline: Instant) -> Result<String, ReadError> {
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadError::Timeout(self.buf.clone()));
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed(self.buf.clone())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReadError::Timeout(self.buf.clone()))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(ReadError::Closed(self.buf.clone())),
            }
        }
    }

    /// Asserts the server closes the connection within `timeout` without
    /// sending anything more.
    pub fn expect_closed(&mut self, timeout: Duration) {
        match self.try_read_reply(timeout) {
            Err(ReadError::Closed(rest)) if rest.is_empty() => {}
            other => panic!(
                "expected the server to close the connection, got {other:?}\ntranscript:\n{}",
                self.transcript.join("\n")
            ),
        }
    }

    /// `MAIL FROM:<from>`, each `RCPT TO:<rcpt>` and DATA, all asserted
    /// (250/250…/354); then `body` (already CRLF, dot-stuffed, ending in
    /// CRLF) and `.` CRLF. Returns the reply to the end of data.
    pub fn send_mail(&mut self, from: &str, rcpts: &[&str], body: &[u8]) -> (u16, String) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250);
        for r in rcpts {
            self.expect(&format!("RCPT TO:<{r}>"), 250);
        }
        self.expect("DATA", 354);
        let mut data = body.to_vec();
        data.extend_from_slice(b".\r\n");
        self.send(&data);
        self.read_reply()
    }

    /// Sends QUIT and reads every reply until 221 or close; returns the
    /// codes of the replies that came before the 221 (none, normally).
    pub fn quit_collect(&mut self) -> Vec<(u16, String)> {
        self.send_lossy(b"QUIT\r\n");
        let mut before = Vec::new();
        loop {
            match self.try_read_reply(IO_TIMEOUT) {
                Ok((221, _)) => return before,
                Ok(r) => before.push(r),
                Err(_) => return before,
            }
        }
    }

    /// Sends QUIT and asserts that the very next reply is 221: no reply
    /// was pending (a smuggled or split command would have produced one)
    /// and the session was still alive.
    pub fn quit_clean(&mut self) {
        self.send(b"QUIT\r\n");
        match self.try_read_reply(IO_TIMEOUT) {
            Ok((221, _)) => {}
            other => panic!(
                "expected 221 right after QUIT, got {other:?}\ntranscript:\n{}",
                self.transcript.join("\n")
            ),
        }
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Whether any line of a reply carries enhanced status code `enhanced` right after its code.
pub fn has_enhanced(text: &str, enhanced: &str) -> bool {
    text.lines()
        .any(|l| l.get(4..).is_some_and(|rest| rest.starts_with(enhanced)))
}

/// Takes the first complete line off the front of `buf`, without its CRLF
/// (or bare LF); `None` while no whole line has arrived.
pub fn take_line(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let pos = buf.iter().position(|&b| b == b'\n')?;
    let mut line: Vec<u8> = buf.drain(..=pos).collect();
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(line)
}

/// The queue id from `250 2.0.0 Ok: queued as <ID>`.
pub fn queue_id(reply: &str) -> Option<String> {
    let idx = reply.find("queued as ")?;
    let id: String = reply[idx + "queued as ".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    (!id.is_empty()).then_some(id)
}

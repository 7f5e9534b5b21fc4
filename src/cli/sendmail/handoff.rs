//! Handing the message to the running server: one SMTP transaction over a
//! loopback connection to the `smtp` listener, driven by the sans-IO client
//! of `portcullis_smtp::client` (the same code the outbound queue uses).
//!
//! Why loopback SMTP and not the control socket: the control socket is mode
//! 0600, so only the server's own user could submit; cron jobs, PHP and git
//! hooks run as many users. A loopback connection works for all of them,
//! goes through exactly the checks and the durable store path of any SMTP
//! client, and is trusted to relay because `relay.allow` holds 127.0.0.1
//! and ::1 by default.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use portcullis_smtp::client::{
    dot_stuff, ehlo, helo, quit, Capabilities, Classified, MailOptions, Outcome, ReplyParser, Step,
    Transaction,
};
use portcullis_smtp::command::Body;
use portcullis_smtp::Reply;

/// Connecting must not take longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Each reply must come within this (RFC 5321 §4.5.3.2 allows the server up
/// to 10 minutes after the final dot; a loopback server answers at once).
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// What to send.
pub(super) struct Envelope<'a> {
    /// The name for EHLO.
    pub helo: &'a str,
    /// MAIL FROM (`""`: the null sender).
    pub sender: &'a str,
    pub recipients: Vec<String>,
    /// The message, CRLF line ends, not dot-stuffed.
    pub message: &'a [u8],
    pub eight_bit: bool,
}

/// Why nothing (or not everything) was accepted.
#[derive(Debug)]
pub(super) enum Failed {
    /// The server could not be reached or the dialog broke before the end
    /// of the message: nothing was accepted.
    Unreachable(String),
    /// The dialog broke after the whole message was sent, before the reply:
    /// the server may have accepted it.
    Unsure(String),
    /// The server answered: the outcome per recipient.
    Refused(Outcome),
}

/// Sends one message to `server`; `trace` receives the dialog (`-v`).
pub(super) fn send(
    server: SocketAddr,
    env: &Envelope<'_>,
    trace: &mut dyn FnMut(&str),
) -> Result<Outcome, Failed> {
    let mut conn = Conn::open(server, trace)?;
    let greeting = conn.reply()?;
    if greeting.code != 220 {
        return Err(Failed::Unreachable(format!(
            "the server at {server} does not accept mail now: {}",
            describe(&greeting)
        )));
    }
    conn.write(&ehlo(env.helo).map_err(|e| Failed::Unreachable(e.to_string()))?)?;
    let mut hello = conn.reply()?;
    if hello.code != 250 {
        // RFC 5321 §3.2: fall back to HELO.
        conn.write(&helo(env.helo).map_err(|e| Failed::Unreachable(e.to_string()))?)?;
        hello = conn.reply()?;
        if hello.code != 250 {
            return Err(Failed::Unreachable(format!(
                "the server refused the greeting: {}",
                describe(&hello)
            )));
        }
    }
    let caps = Capabilities::from_ehlo(&hello);
    let options = MailOptions {
        size: caps
            .size
            .then(|| u64::try_from(env.message.len()).unwrap_or(u64::MAX)),
        body: if env.eight_bit && caps.eightbitmime {
            Body::EightBitMime
        } else {
            Body::SevenBit
        },
        smtputf8: false,
    };
    let mut tx = Transaction::new(env.sender, env.recipients.clone(), options, caps.pipelining);
    let mut step = tx.start();
    let outcome = loop {
        match step {
            Step::Send(bytes) => {
                conn.write(&bytes)?;
                step = tx.on_reply(conn.reply()?);
            }
            Step::SendMessage => {
                conn.write_quiet(&dot_stuff(env.message))?;
                let reply = conn.reply().map_err(|e| match e {
                    Failed::Unreachable(why) => Failed::Unsure(why),
                    other => other,
                })?;
                step = tx.on_reply(reply);
            }
            Step::Read => step = tx.on_reply(conn.reply()?),
            Step::Done(outcome) => break outcome,
        }
    };
    // The transaction is decided; a failing QUIT changes nothing.
    if !outcome.connection_unusable {
        let _ = conn.write(&quit());
        let _ = conn.reply();
    }
    if outcome
        .results
        .iter()
        .all(|r| r.class() == Classified::Delivered)
    {
        Ok(outcome)
    } else {
        Err(Failed::Refused(outcome))
    }
}

/// A reply for messages: `550 5.1.1 text`.
pub(super) fn describe(r: &Reply) -> String {
    let mut s = r.code.to_string();
    if let Some(e) = r.enhanced {
        s.push_str(&format!(" {e}"));
    }
    s.push(' ');
    s.push_str(&r.lines.join(" / "));
    s
}

struct Conn<'t> {
    stream: TcpStream,
    parser: ReplyParser,
    server: SocketAddr,
    trace: &'t mut dyn FnMut(&str),
}

impl<'t> Conn<'t> {
    fn open(server: SocketAddr, trace: &'t mut dyn FnMut(&str)) -> Result<Conn<'t>, Failed> {
        let stream = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT).map_err(|e| {
            Failed::Unreachable(format!("cannot reach the mail server at {server} ({e})"))
        })?;
        let _ = stream.set_read_timeout(Some(REPLY_TIMEOUT));
        let _ = stream.set_write_timeout(Some(REPLY_TIMEOUT));
        Ok(Conn {
            stream,
            parser: ReplyParser::new(),
            server,
            trace,
        })
    }

    fn broken(&self, what: &str, e: impl std::fmt::Display) -> Failed {
        Failed::Unreachable(format!(
            "the connection to the mail server at {} broke while {what} ({e})",
            self.server
        ))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        for line in String::from_utf8_lossy(bytes).lines() {
            (self.trace)(&format!(">>> {line}"));
        }
        self.write_quiet(bytes)
    }

    fn write_quiet(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| self.broken("sending", e))
    }

    fn reply(&mut self) -> Result<Reply, Failed> {
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => {
                    for l in &r.lines {
                        (self.trace)(&format!("<<< {} {l}", r.code));
                    }
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => return Err(self.broken("reading a reply", e)),
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(self.broken("waiting for a reply", "closed")),
                Ok(n) => self.parser.feed(&buf[..n]),
                Err(e) => return Err(self.broken("waiting for a reply", e)),
            }
        }
    }
}
